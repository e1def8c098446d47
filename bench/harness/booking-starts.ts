// Bookings created through the API and their starts, as both benchmarks measure them: the request body,
// waiting for the 'start' events, and where each start's lateness comes from, step by step, from the
// booking workflow's history.
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/client';
import { workflowIdForBooking } from '../../domain/booking';
import type { BookingInput } from '../../workflows/booking';
import { dist, fmtDist, runPool, sleep, type Dist } from '../common';
import { note, say } from './run';
import type { HttpApi } from './services';

/** POST /v1/bookings's body: what bookingInput() makes the workflow's input of. */
export type BookingBody = Omit<BookingInput, 'settings' | 'requestId'>;

export function bookingBody(id: string, customerId: string, startsAtMs: number, durationMs = 2 * 3_600_000): BookingBody {
  return {
    bookingId: id,
    customerId,
    carId: `car-${id}`, // one car per booking: no two creations contend for one car's lock
    startsAt: new Date(startsAtMs).toISOString(),
    endsAt: new Date(startsAtMs + durationMs).toISOString(),
    amountCents: 4200,
    currency: 'EUR',
  };
}

/** POST /v1/bookings; the booking's workflow id once it is created (201). */
export async function postBooking(api: HttpApi, body: BookingBody): Promise<string> {
  const res = await api.request('POST', '/v1/bookings', body);
  if (res.status !== 201) throw new Error(`POST /v1/bookings HTTP ${res.status}: ${res.text.slice(0, 200)}`);
  return workflowIdForBooking(body.bookingId);
}

/** The 'start' events of the bookings whose ids begin with `prefix`. */
export const startsWhere = (prefix: string) => ({ action: 'start', bookingId: { startsWith: prefix } });

/** Polls until `expected` of them have started or the deadline passed; how many started. */
export async function waitForStarts(db: Db, prefix: string, expected: number, o: { deadline: number; everyMs: number; progress?: (started: number) => void }): Promise<number> {
  for (;;) {
    const started = await db.bookingEvent.count({ where: startsWhere(prefix) });
    if (started >= expected || Date.now() > o.deadline) return started;
    o.progress?.(started);
    await sleep(o.everyMs);
  }
}

export const startEvents = (db: Db, prefix: string) =>
  db.bookingEvent.findMany({ where: startsWhere(prefix), select: { bookingId: true, scheduledAt: true, occurredAt: true } });

// ---------------------------------------------------------------------------------------------
// Workflow histories.

export type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
export type HistoryEvent = NonNullable<History['events']>[number];

/** Long (protobufjs) or number -> number. */
export const num = (v: unknown): number =>
  v && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v ?? 0);
export const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? num(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

/** One booking start, each step in ms after its startsAt (NaN where the history has no such event). */
export interface StartSteps {
  /** False when the first workflow task ran after startsAt: the start was due at once, no timer. */
  timer: boolean;
  /** The start timer's due time as the server set it (TimerStarted + startToFireTimeout). */
  timerDue: number;
  /** The workflow task that set the timer, before the start (not relative to startsAt): waiting for a worker, running. */
  setterQueued: number;
  setterRan: number;
  timerFired: number;
  workflowTaskStarted: number;
  activityScheduled: number;
  activityStarted: number;
  activityCompleted: number;
  /** The first workflow task after TimerFired completed (with a local activity write: the transition is done). */
  workflowTaskCompleted: number;
  /** What the start transition cost, from its TimerFired through the next timer armed (or the history's end). */
  cost: TransitionEvents;
}

/** History events of one transition, by kind. */
export interface TransitionEvents {
  events: number;
  workflowTasks: number;
  activityTasks: number;
  localActivities: number;
  upserts: number;
}

function transitionEvents(events: HistoryEvent[]): TransitionEvents {
  const c: TransitionEvents = { events: 0, workflowTasks: 0, activityTasks: 0, localActivities: 0, upserts: 0 };
  for (const e of events) {
    c.events++;
    if (e.workflowTaskCompletedEventAttributes) c.workflowTasks++;
    if (e.activityTaskScheduledEventAttributes) c.activityTasks++;
    if (e.markerRecordedEventAttributes?.markerName?.includes('local_activity')) c.localActivities++;
    if (e.upsertWorkflowSearchAttributesEventAttributes) c.upserts++;
    if (c.events > 1 && e.timerStartedEventAttributes) break; // the next timer armed: this transition is done
  }
  return c;
}

function startSteps(events: HistoryEvent[], due: number): StartSteps {
  const s: StartSteps = {
    timer: false, timerDue: NaN, setterQueued: NaN, setterRan: NaN, timerFired: NaN,
    workflowTaskStarted: NaN, activityScheduled: NaN, activityStarted: NaN, activityCompleted: NaN, workflowTaskCompleted: NaN,
    cost: { events: 0, workflowTasks: 0, activityTasks: 0, localActivities: 0, upserts: 0 },
  };
  const fired = events.findIndex((e) => e.timerFiredEventAttributes);
  let after = events;
  if (fired >= 0) {
    s.timer = true;
    const timerId = events[fired].timerFiredEventAttributes!.timerId;
    const startedEv = events.find((e) => e.timerStartedEventAttributes?.timerId === timerId);
    if (startedEv) {
      s.timerDue = tsMs(startedEv.eventTime) + tsMs(startedEv.timerStartedEventAttributes!.startToFireTimeout) - due;
      // The workflow task that set the timer: its duration is measured from the workflow's clock (the
      // task's start), the server starts the timer when the task completes.
      const before = events.slice(0, events.indexOf(startedEv)).reverse();
      const done = before.find((e) => e.workflowTaskCompletedEventAttributes);
      const began = before.find((e) => e.workflowTaskStartedEventAttributes);
      const sched = before.find((e) => e.workflowTaskScheduledEventAttributes);
      if (done && began) s.setterRan = tsMs(done.eventTime) - tsMs(began.eventTime);
      if (began && sched) s.setterQueued = tsMs(began.eventTime) - tsMs(sched.eventTime);
    }
    s.timerFired = tsMs(events[fired].eventTime) - due;
    after = events.slice(fired);
  }
  const at = (pred: (e: HistoryEvent) => unknown) => {
    const e = after.find(pred);
    return e ? tsMs(e.eventTime) - due : NaN;
  };
  s.workflowTaskStarted = at((e) => e.workflowTaskStartedEventAttributes);
  s.activityScheduled = at((e) => e.activityTaskScheduledEventAttributes);
  s.activityStarted = at((e) => e.activityTaskStartedEventAttributes);
  s.activityCompleted = at((e) => e.activityTaskCompletedEventAttributes);
  s.workflowTaskCompleted = at((e) => e.workflowTaskCompletedEventAttributes);
  if (fired >= 0) s.cost = transitionEvents(after);
  return s;
}

/**
 * The steps of each booking's start, from its workflow history (16 fetched at a time). requireTimer: a
 * start without a timer counts as an unreadable history. debugFirst: BENCH_DEBUG=1 prints the first
 * booking's history.
 */
export async function fetchStartSteps(
  client: Client,
  bookings: Array<{ id: string; startsAt: number }>,
  o: { requireTimer?: boolean; debugFirst?: boolean } = {},
) {
  const steps = new Map<string, StartSteps>();
  const r = await runPool(bookings.length, 16, async (i) => {
    const { id, startsAt: due } = bookings[i];
    const history: History = await client.workflow.getHandle(workflowIdForBooking(id)).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    if (i === 0 && o.debugFirst && process.env.BENCH_DEBUG) {
      for (const e of events) {
        const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]);
        note(`${id} ${String(e.eventId)} ${new Date(tsMs(e.eventTime)).toISOString()} ${kind} ${kind === 'timerStartedEventAttributes' ? tsMs(e.timerStartedEventAttributes!.startToFireTimeout) : ''}`);
      }
      note(`${id} startsAt ${new Date(due).toISOString()}`);
    }
    const s = startSteps(events, due);
    if (o.requireTimer && !s.timer) throw new Error(`${id}: no TimerFired event`);
    steps.set(id, s);
  });
  return { steps, ok: r.ok, errors: r.errors };
}

/** The distribution of each picked step over all bookings (bookings without it left out), named as the caller reports it. */
type Step = Exclude<keyof StartSteps, 'timer' | 'cost'>;
export function stepDists<K extends string>(steps: Iterable<StartSteps>, pick: Record<K, Step>): Record<K, Dist> {
  const all = [...steps];
  return Object.fromEntries(
    Object.entries<Step>(pick).map(([name, step]) => [name, dist(all.map((s) => s[step]).filter(Number.isFinite))]),
  ) as Record<K, Dist>;
}

type Row = [label: string, d: Dist];

/**
 * The table of steps both benchmarks print, lateness vs startsAt: the timer, the workflow task that
 * woke up (`wake`, labelled by the caller), the activity, and the row written (`written`). Labels are
 * padded as the tables always were.
 */
export function printSteps(d: Record<'timerDue' | 'timerFired' | 'activityScheduled' | 'activityStarted', Dist>, wake: Row, written: Row): void {
  const rows: Row[] = [
    ['timer due as set (TimerStarted + startToFireTimeout) ', d.timerDue],
    ['TimerFired                                            ', d.timerFired],
    wake,
    ['ActivityTaskScheduled (transition decided)            ', d.activityScheduled],
    ['ActivityTaskStarted (worker picked the write)         ', d.activityStarted],
    written,
  ];
  for (const [label, x] of rows) say(`    ${label}${fmtDist(x)}`);
}
