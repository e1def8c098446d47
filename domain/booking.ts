// Booking lifecycle rules: pure and deterministic, shared by the API (to explain refusals), the
// workflow (to decide transitions) and the activities (to name events). No I/O here.

export const BOOKING_STATUSES = ['CONFIRMED', 'ONGOING', 'OVERDUE', 'COMPLETED', 'CANCELLED', 'NO_SHOW'] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<BookingStatus> = new Set(['COMPLETED', 'CANCELLED', 'NO_SHOW']);

/** What moved a booking, recorded on every event row. */
export type BookingAction =
  | 'create'
  | 'start'
  | 'cancel'
  | 'connect'
  | 'extend'
  | 'return'
  | 'no_show'
  | 'overdue'
  | 'force';

/**
 * The transition graph. Timed transitions (start, no_show, overdue) are fired by the workflow's
 * durable timers; the others by requests. An operator's forced transition may take any edge here,
 * regardless of time or guard, and nothing else.
 */
export const TRANSITIONS: ReadonlyArray<{ from: BookingStatus; to: BookingStatus; action: BookingAction }> = [
  { from: 'CONFIRMED', to: 'ONGOING', action: 'start' },
  { from: 'CONFIRMED', to: 'CANCELLED', action: 'cancel' },
  { from: 'ONGOING', to: 'COMPLETED', action: 'return' },
  { from: 'ONGOING', to: 'NO_SHOW', action: 'no_show' },
  { from: 'ONGOING', to: 'OVERDUE', action: 'overdue' },
  { from: 'OVERDUE', to: 'COMPLETED', action: 'return' },
];

export function canTransition(from: BookingStatus, to: BookingStatus): boolean {
  return TRANSITIONS.some((t) => t.from === from && t.to === to);
}

export function isTerminal(status: BookingStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/** The "connect to car" gate: a customer may unlock the car only while the booking runs. */
export function connectAllowed(status: BookingStatus): boolean {
  return status === 'ONGOING' || status === 'OVERDUE';
}

export function workflowIdForBooking(bookingId: string): string {
  return `booking-${bookingId}`;
}

export const BUSINESS_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Why a request cannot be applied in the current state, or null when it can. */
export function refusal(
  action: 'cancel' | 'connect' | 'return' | 'extend',
  status: BookingStatus,
): string | null {
  switch (action) {
    case 'cancel':
      return status === 'CONFIRMED' ? null : `a booking can be cancelled only before it starts (it is ${status})`;
    case 'connect':
      return connectAllowed(status)
        ? null
        : status === 'CONFIRMED'
          ? 'the booking has not started yet: the car can be connected from its start time'
          : `the booking is ${status}: the car can no longer be connected`;
    case 'return':
      return connectAllowed(status) ? null : `only a running booking can be returned (it is ${status})`;
    case 'extend':
      return status === 'CONFIRMED' || status === 'ONGOING'
        ? null
        : `a booking can be extended only while CONFIRMED or ONGOING (it is ${status})`;
  }
}

export interface TimedTransition {
  to: BookingStatus;
  action: BookingAction;
  at: number;
}

/**
 * The next transition the clock will fire, if nothing else happens first. A time already past fires
 * at once (the caller sleeps max(0, at - now)).
 *  - CONFIRMED: start at startsAt.
 *  - ONGOING, never connected: no-show at startsAt + grace, or at endsAt if that comes first (a
 *    customer who never came is a no-show, not overdue).
 *  - ONGOING, connected: overdue at endsAt.
 */
export function nextTimedTransition(b: {
  status: BookingStatus;
  startsAt: number;
  endsAt: number;
  connectedAt?: number;
  noShowGraceMs: number;
}): TimedTransition | undefined {
  switch (b.status) {
    case 'CONFIRMED':
      return { to: 'ONGOING', action: 'start', at: b.startsAt };
    case 'ONGOING':
      if (b.connectedAt === undefined) {
        return { to: 'NO_SHOW', action: 'no_show', at: Math.min(b.startsAt + b.noShowGraceMs, b.endsAt) };
      }
      return { to: 'OVERDUE', action: 'overdue', at: b.endsAt };
    default:
      return undefined;
  }
}

/** What the clock needs to know to say which timed transitions are due. */
export interface ClockFacts {
  status: BookingStatus;
  startsAt: number;
  endsAt: number;
  connectedAt?: number;
  noShowGraceMs: number;
}

/**
 * The timed transitions due by `now`, in order: what the clock would have fired by now had every timer
 * been processed exactly on time (at most two: start, then no-show). A request is judged against the
 * state after them, so a connect at startsAt succeeds even when the start timer is still in a queue.
 */
export function dueTransitions(b: ClockFacts, now: number): TimedTransition[] {
  const out: TimedTransition[] = [];
  let status = b.status;
  for (let t = nextTimedTransition({ ...b, status }); t && t.at <= now; t = nextTimedTransition({ ...b, status })) {
    out.push(t);
    status = t.to;
  }
  return out;
}

/** The status by the clock: the recorded one, moved on by whatever timed transitions are already due. */
export function statusByClock(b: ClockFacts, now: number): BookingStatus {
  return dueTransitions(b, now).at(-1)?.to ?? b.status;
}

export interface Reminder {
  /** Stable across replays and retries: the notification's idempotency key is built from it. */
  key: string;
  kind: 'before_start' | 'before_end';
  at: number;
  offsetMs: number;
}

/**
 * Reminders still to send. A reminder is due `offset` before its anchor; one whose time had already
 * passed when the anchor was set (a booking made 10 minutes before start gets no "in 60 minutes"
 * reminder) is dropped rather than sent late.
 */
export function pendingReminders(b: {
  status: BookingStatus;
  startsAt: number;
  endsAt: number;
  createdAt: number;
  endsAtSetAt: number;
  beforeStartMs: readonly number[];
  beforeEndMs: readonly number[];
  sent: ReadonlySet<string>;
}): Reminder[] {
  const out: Reminder[] = [];
  if (b.status === 'CONFIRMED') {
    for (const offset of b.beforeStartMs) {
      const at = b.startsAt - offset;
      if (at >= b.createdAt) out.push({ key: `start-${b.startsAt}-${offset}`, kind: 'before_start', at, offsetMs: offset });
    }
  }
  if (b.status === 'CONFIRMED' || b.status === 'ONGOING') {
    for (const offset of b.beforeEndMs) {
      const at = b.endsAt - offset;
      if (at >= b.endsAtSetAt && at >= b.startsAt) {
        out.push({ key: `end-${b.endsAt}-${offset}`, kind: 'before_end', at, offsetMs: offset });
      }
    }
  }
  return out.filter((r) => !b.sent.has(r.key)).sort((x, y) => x.at - y.at);
}

/**
 * What a booking is, declared once: the API's body, the workflow's input and view, and the store's new
 * row all extend it. `T` is how times travel: ISO strings in JSON (API, workflow), Date in the store.
 */
export interface BookingFacts<T extends string | Date = string> {
  bookingId: string;
  customerId: string;
  carId: string;
  startsAt: T;
  endsAt: T;
  amountCents: number;
  currency: string;
}
