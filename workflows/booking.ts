// The booking lifecycle: one workflow per booking, id `booking-<bookingId>`, task queue `bookings`.
//
// The workflow is the source of truth for the booking's state. A transition takes effect here at once
// (so the "connect to car" gate opens exactly at startsAt) and is then written to PostgreSQL by one
// idempotent activity that retries until the database answers: while it cannot, the Web UI shows it as
// a pending activity with its attempt count and last error. Writes are applied strictly in order.
// Reminders go to the separate `notifications` task queue and are never awaited by a transition.
import * as wf from '@temporalio/workflow';
import type { BookingActivities } from '../activities/bookings';
import type { NotificationActivities } from '../activities/notifications';
import type { BookingChange, ChangeResult } from '../db/booking-store';
import {
  canTransition,
  connectAllowed,
  isTerminal,
  nextTimedTransition,
  pendingReminders,
  refusal,
  type BookingAction,
  type BookingStatus,
  type Reminder,
} from '../domain/booking';
import { FailureType } from '../domain/failures';
import { BookingStatusKey, CarIdKey, CustomerIdKey, NextTransitionAtKey } from '../domain/search-attributes';
import {
  cancelUpdate,
  connectUpdate,
  extendUpdate,
  forceTransitionUpdate,
  MAX_EXTENSIONS,
  returnUpdate,
  stateQuery,
  type BookingHistoryEntry,
  type BookingInput,
  type BookingView,
  type RequestMeta,
} from './booking-messages';

export * from './booking-messages';


// No attempt limit: a transition must eventually be written. Backoff stays short so the write lands
// within seconds of the database coming back; each failed attempt shows in the Web UI.
const RECORD_OPTIONS: wf.ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
};
const store = wf.proxyActivities<BookingActivities>(RECORD_OPTIONS);

/** How long before a due time the clock wakes to arm the final, short timer, unless settings say otherwise. */
const EARLY_WAKE_MS = 1500;
const EARLY_WAKE_PATCH = 'clock-early-wake';

function rejected(message: string, type: FailureType = FailureType.InvalidTransition): wf.ApplicationFailure {
  return wf.ApplicationFailure.create({ message, type, nonRetryable: true });
}

export async function bookingWorkflow(input: BookingInput): Promise<BookingView> {
  const { settings } = input;
  const notify = wf.proxyActivities<NotificationActivities>({
    taskQueue: settings.notificationsTaskQueue,
    scheduleToCloseTimeout: '1 hour',
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
  });

  const createdAt = Date.now();
  const s = {
    status: 'CONFIRMED' as BookingStatus,
    startsAt: Date.parse(input.startsAt),
    endsAt: Date.parse(input.endsAt),
    endsAtSetAt: createdAt,
    connectedAt: undefined as number | undefined,
    returnedAt: undefined as number | undefined,
    extensions: 0,
  };
  const history: BookingHistoryEntry[] = [];
  const remindersSent = new Set<string>();
  const notifications: Promise<unknown>[] = [];
  let seq = 1; // seq 1 is the creation, written by the API together with the row
  let changes = 0; // bumped on every state change; wakes the main loop
  let inFlight = 0; // request handlers still running; the clock waits for them
  let pendingWrites = 0;
  let writes: Promise<unknown> = Promise.resolve();
  let lastNextAt: number | null | undefined;

  const next = () => nextTimedTransition({ ...s, noShowGraceMs: settings.noShowGraceMs });

  function view(): BookingView {
    const t = isTerminal(s.status) ? undefined : next();
    return {
      bookingId: input.bookingId,
      workflowId: wf.workflowInfo().workflowId,
      customerId: input.customerId,
      carId: input.carId,
      startsAt: new Date(s.startsAt).toISOString(),
      endsAt: new Date(s.endsAt).toISOString(),
      amountCents: input.amountCents,
      currency: input.currency,
      status: s.status,
      connectAllowed: connectAllowed(s.status),
      connectedAt: s.connectedAt === undefined ? undefined : new Date(s.connectedAt).toISOString(),
      returnedAt: s.returnedAt === undefined ? undefined : new Date(s.returnedAt).toISOString(),
      nextTransition: t && { to: t.to, action: t.action, at: new Date(t.at).toISOString() },
      pendingWrites,
      history: history.slice(),
    };
  }

  /** Mirror state into search attributes so operators can find stuck bookings in the Web UI. */
  function publish(): void {
    const t = isTerminal(s.status) ? undefined : next();
    const nextAt = t ? t.at : null;
    wf.upsertSearchAttributes([
      { key: BookingStatusKey, value: s.status },
      ...(nextAt !== lastNextAt ? [{ key: NextTransitionAtKey, value: nextAt === null ? null : new Date(nextAt) }] : []),
    ]);
    lastNextAt = nextAt;
  }

  /** Queue a database write behind the previous ones (order matters for the version column). */
  function record(change: Omit<BookingChange, 'bookingId' | 'transitionKey'>, entry?: BookingHistoryEntry): Promise<ChangeResult> {
    const key = `${input.bookingId}:${++seq}:${change.action}`;
    pendingWrites++;
    const p = writes.then(() =>
      store.recordBookingChange.executeWithOptions(
        { ...RECORD_OPTIONS, summary: `${change.action}: ${change.from} -> ${change.to}` },
        [{ ...change, bookingId: input.bookingId, transitionKey: key }],
      ),
    );
    writes = p.then(
      (r) => {
        pendingWrites--;
        if (entry && (r.outcome === 'applied' || r.outcome === 'already_applied')) entry.recordedAt = r.occurredAt;
      },
      () => {
        pendingWrites--;
      },
    );
    return p;
  }

  /** Take a transition now; the database write follows (and is awaited by the caller if it wants). */
  function transition(
    to: BookingStatus,
    action: BookingAction,
    meta: RequestMeta,
    extra: { reason?: string; scheduledAt?: number; connectedAt?: number; returnedAt?: number } = {},
  ): Promise<ChangeResult> {
    const from = s.status;
    s.status = to;
    if (extra.returnedAt !== undefined) s.returnedAt = extra.returnedAt;
    changes++;
    const entry: BookingHistoryEntry = {
      seq: seq + 1, action, from, to, at: new Date(Date.now()).toISOString(), actor: meta.actor, reason: extra.reason,
    };
    history.push(entry);
    publish();
    return record(
      {
        action, from, to, actor: meta.actor, requestId: meta.requestId, reason: extra.reason,
        scheduledAt: extra.scheduledAt === undefined ? undefined : new Date(extra.scheduledAt).toISOString(),
        returnedAt: extra.returnedAt === undefined ? undefined : new Date(extra.returnedAt).toISOString(),
      },
      entry,
    );
  }

  function sendReminder(r: Reminder): void {
    remindersSent.add(r.key);
    notifications.push(
      notify.sendNotification
        .executeWithOptions(
          {
            taskQueue: settings.notificationsTaskQueue,
            scheduleToCloseTimeout: '1 hour',
            startToCloseTimeout: '30 seconds',
            summary: `reminder ${r.kind} (${Math.round(r.offsetMs / 60000)} min)`,
          },
          [
            {
              idempotencyKey: `${wf.workflowInfo().workflowId}:${r.key}`,
              kind: `booking.${r.kind}`,
              channel: 'outbox',
              recipient: input.customerId,
              bookingId: input.bookingId,
              payload: { startsAt: new Date(s.startsAt).toISOString(), endsAt: new Date(s.endsAt).toISOString(), minutesBefore: Math.round(r.offsetMs / 60000) },
            },
          ],
        )
        .catch(() => undefined), // a lost reminder is visible in history; it must not fail the booking
    );
  }

  function notifyOverdue(): void {
    for (const recipient of [input.customerId, 'operations']) {
      notifications.push(
        notify.sendNotification({
          idempotencyKey: `${wf.workflowInfo().workflowId}:overdue:${s.endsAt}:${recipient}`,
          kind: 'booking.overdue',
          channel: 'outbox',
          recipient,
          bookingId: input.bookingId,
          payload: { carId: input.carId, customerId: input.customerId, endsAt: new Date(s.endsAt).toISOString() },
        }).catch(() => undefined),
      );
    }
  }

  /** Runs a request handler with the clock held, so a timer never interleaves with a request's write. */
  async function handling<T>(fn: () => Promise<T>): Promise<T> {
    inFlight++;
    try {
      return await fn();
    } finally {
      inFlight--;
    }
  }

  async function settle(p: Promise<ChangeResult>): Promise<BookingView> {
    await p;
    return view();
  }

  wf.setHandler(stateQuery, view);

  wf.setHandler(
    connectUpdate,
    (meta) =>
      handling(async () => {
        // The first connect is recorded; later ones (re-unlocking during the trip) just pass the gate.
        if (s.connectedAt !== undefined) return view();
        s.connectedAt = Date.now();
        changes++;
        publish();
        const entry: BookingHistoryEntry = {
          seq: seq + 1, action: 'connect', from: s.status, to: s.status, at: new Date(s.connectedAt).toISOString(), actor: meta.actor,
        };
        history.push(entry);
        await record(
          { action: 'connect', from: s.status, to: s.status, actor: meta.actor, requestId: meta.requestId,
            connectedAt: new Date(s.connectedAt).toISOString() },
          entry,
        );
        return view();
      }),
    { validator: (_meta: RequestMeta) => assertAllowed('connect') },
  );

  wf.setHandler(
    returnUpdate,
    (meta) => handling(() => settle(transition('COMPLETED', 'return', meta, { returnedAt: Date.now() }))),
    { validator: (_meta: RequestMeta) => assertAllowed('return') },
  );

  wf.setHandler(
    cancelUpdate,
    (meta) => handling(() => settle(transition('CANCELLED', 'cancel', meta, { reason: meta.reason }))),
    { validator: (_meta: RequestMeta) => assertAllowed('cancel') },
  );

  wf.setHandler(
    extendUpdate,
    (meta) =>
      handling(async () => {
        const from = s.status;
        const result = await record({
          action: 'extend', from, to: from, actor: meta.actor, requestId: meta.requestId, reason: meta.reason, endsAt: meta.endsAt,
        });
        if (result.outcome === 'overlap') {
          throw rejected(`the new end overlaps the car's next booking ${result.conflictingBookingId}`, FailureType.BookingOverlap);
        }
        if (result.outcome === 'missing') throw rejected('the booking has no database row', FailureType.BookingRowMissing);
        s.endsAt = Date.parse(meta.endsAt);
        s.endsAtSetAt = Date.now();
        s.extensions++;
        changes++;
        history.push({ seq, action: 'extend', from, to: from, at: new Date(Date.now()).toISOString(), actor: meta.actor,
          reason: meta.reason, recordedAt: result.occurredAt });
        publish();
        return view();
      }),
    {
      validator: (meta: RequestMeta & { endsAt: string; reason?: string }) => {
        assertAllowed('extend');
        const newEnd = Date.parse(meta.endsAt);
        if (Number.isNaN(newEnd)) throw rejected('endsAt is not a valid time', FailureType.ValidationFailed);
        if (newEnd <= s.endsAt) throw rejected(`the new end must be later than the current end ${new Date(s.endsAt).toISOString()}`);
        if (s.extensions >= MAX_EXTENSIONS) throw rejected(`a booking can be extended at most ${MAX_EXTENSIONS} times`);
      },
    },
  );

  wf.setHandler(
    forceTransitionUpdate,
    (meta) =>
      handling(() =>
        settle(
          transition(meta.to, 'force', meta, {
            reason: meta.reason,
            returnedAt: meta.to === 'COMPLETED' ? Date.now() : undefined,
          }),
        ),
      ),
    {
      validator: (meta: RequestMeta & { to: BookingStatus; reason: string }) => {
        if (!meta.reason || !meta.reason.trim()) throw rejected('a reason is required', FailureType.ValidationFailed);
        if (!canTransition(s.status, meta.to)) {
          throw rejected(`no transition from ${s.status} to ${meta.to}`);
        }
      },
    },
  );

  function assertAllowed(action: 'cancel' | 'connect' | 'return' | 'extend'): void {
    const why = refusal(action, s.status);
    if (why) throw rejected(why);
  }

  wf.upsertSearchAttributes([
    { key: CarIdKey, value: input.carId },
    { key: CustomerIdKey, value: input.customerId },
  ]);
  publish();

  // The clock: fire whatever is due, then sleep until the next due time or until something changes.
  while (!isTerminal(s.status)) {
    await wf.condition(() => inFlight === 0);
    if (isTerminal(s.status)) break;
    const now = Date.now();
    const reminders = pendingReminders({
      ...s, createdAt, beforeStartMs: settings.remindersBeforeStartMs, beforeEndMs: settings.remindersBeforeEndMs, sent: remindersSent,
    });
    for (const r of reminders) if (r.at <= now) sendReminder(r);
    const due = next();
    if (due && due.at <= now) {
      const done = transition(due.to, due.action, { actor: 'system' }, { scheduledAt: due.at });
      if (due.action === 'overdue') notifyOverdue();
      await done;
      continue;
    }
    const upcoming = reminders.find((r) => r.at > now);
    const wakeAt = Math.min(due?.at ?? Infinity, upcoming?.at ?? Infinity);
    const seen = changes;
    if (wakeAt === Infinity) {
      await wf.condition(() => changes !== seen || inFlight > 0);
    } else {
      const summary = due && due.at === wakeAt ? `${due.action} -> ${due.to}` : `reminder ${upcoming?.kind}`;
      // A timer's duration is computed from the task's start time but armed when the task completes, so
      // a busy worker would make every due time late by its task latency. Waking a little early and then
      // arming a short final timer moves that latency off the due time. (Patched: histories recorded
      // before this change replay with the single timer they had.)
      const remaining = wakeAt - now;
      const lead = settings.earlyWakeMs ?? EARLY_WAKE_MS;
      const early = lead > 0 && wf.patched(EARLY_WAKE_PATCH) && remaining > 2 * lead;
      await wf.condition(() => changes !== seen || inFlight > 0, Math.max(1, early ? remaining - lead : remaining), {
        summary: early ? `${summary} (early wake)` : summary,
      });
    }
  }

  await wf.condition(() => inFlight === 0);
  await writes;
  await Promise.all(notifications);
  return view();
}
