// The booking lifecycle: one workflow per booking, id `booking-<bookingId>`, task queue `bookings`.
//
// The workflow is the source of truth for the booking's state. A transition takes effect here at once
// and is then written to PostgreSQL by one idempotent write: a local activity inside the same workflow
// task (one task per transition), handed to a regular activity that retries until the database answers
// when it cannot be written within seconds; the Web UI then shows it as a pending activity with its
// attempt count and last error. Writes are applied strictly in order. A request is judged by the clock:
// at or after a due time the workflow first takes the due transition (a connect at startsAt succeeds
// even while the start's timer waits in a queue).
// Reminders go to the separate `notifications` task queue and are never awaited by a transition.
import * as wf from '@temporalio/workflow';
import type { BookingActivities, RecordedChange } from '../activities/bookings';
import type { NotificationActivities } from '../activities/notifications';
import type { BookingChange } from '../db/booking-store';
import {
  canTransition,
  connectAllowed,
  dueTransitions,
  isTerminal,
  nextTimedTransition,
  pendingReminders,
  refusal,
  statusByClock,
  type BookingAction,
  type BookingStatus,
  type Reminder,
} from '../domain/booking';
import { FailureType } from '../domain/failures';
import { BookingStatusKey, CarIdKey, CustomerIdKey, NextTransitionAtKey } from '../domain/search-attributes';
import {
  cancelUpdate,
  connectUpdate,
  DEFAULT_CONTINUE_AS_NEW_EVENTS,
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
// The same write first as a local activity: it runs inside the workflow task that decided the
// transition, so a transition costs one workflow task and no activity task (measured in
// bench/README.md). Only while the database answers within seconds: after these attempts the write
// moves to the regular activity above, which retries forever and shows in the Web UI as pending, with
// its attempt count and last error, as an outage must.
const LOCAL_RECORD_OPTIONS: wf.LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  scheduleToCloseTimeout: '8 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '2 seconds', maximumAttempts: 3 },
};
const localStore = wf.proxyLocalActivities<BookingActivities>(LOCAL_RECORD_OPTIONS);

/** How long before a due time the clock wakes to arm the final, short timer, unless settings say otherwise. */
const EARLY_WAKE_MS = 1500;
const EARLY_WAKE_PATCH = 'clock-early-wake';
/** A connect while already connected is answered from state: no timer restart, no history but the update's. */
const CONNECT_FROM_STATE_PATCH = 'connect-from-state';
/** A run whose history passed its bound continues as new (runs recorded before this never did). */
const CONTINUE_AS_NEW_PATCH = 'bounded-history-continue-as-new';

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

  const resumed = input.resume;
  const createdAt = resumed?.createdAt ?? Date.now();
  const s = {
    status: resumed?.status ?? 'CONFIRMED',
    startsAt: Date.parse(input.startsAt),
    endsAt: Date.parse(resumed?.endsAt ?? input.endsAt),
    endsAtSetAt: resumed?.endsAtSetAt ?? createdAt,
    connectedAt: resumed?.connectedAt,
    returnedAt: resumed?.returnedAt,
    extensions: resumed?.extensions ?? 0,
    // The row's version as this workflow last wrote it (1: the creation, by the API): every write
    // is a compare-and-set on it and on the status, so a run that is not the booking's cannot move it.
    version: resumed?.version ?? 1,
  };
  const history: BookingHistoryEntry[] = resumed?.history.slice() ?? [];
  const remindersSent = new Set<string>(resumed?.remindersSent ?? []);
  const notifications: Promise<unknown>[] = [];
  let pendingNotifications = 0;
  let seq = resumed?.seq ?? 1; // seq 1 is the creation, written by the API together with the row
  // Set when the database refused a write as not matching this run's belief: the run fails with it.
  let conflict: wf.ApplicationFailure | undefined;
  let mayContinueAsNew: boolean | undefined;
  let changes = 0; // bumped on every state change; wakes the main loop
  let inFlight = 0; // request handlers still running; the clock waits for them
  let pendingWrites = 0;
  let writes: Promise<unknown> = Promise.resolve();
  let lastNextAt: number | null | undefined;

  const next = () => nextTimedTransition({ ...s, noShowGraceMs: settings.noShowGraceMs });
  /** The status by the clock (the workflow task's time): what a request is judged against. */
  const byClock = () => statusByClock({ ...s, noShowGraceMs: settings.noShowGraceMs }, Date.now());

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
      connectAllowed: connectAllowed(byClock()),
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

  /**
   * Queue a database write behind the previous ones (order matters for the version column). Its
   * compare-and-set expects the version the previous write produced; its key names this workflow's run
   * chain and that version, so an activity retried after its commit is recognised as the same
   * transition while a revived run (another chain) never is.
   */
  function record(change: Omit<BookingChange, 'bookingId' | 'transitionKey' | 'expectedVersion'>, entry?: BookingHistoryEntry): Promise<RecordedChange> {
    ++seq;
    pendingWrites++;
    const p = writes.then(() => {
      if (conflict) throw conflict; // the run is failing: nothing more is written
      const expectedVersion = s.version;
      const transitionKey = `${input.bookingId}:${wf.workflowInfo().firstExecutionRunId}:v${expectedVersion}:${change.action}`;
      const args: Parameters<BookingActivities['recordBookingChange']> = [{ ...change, bookingId: input.bookingId, transitionKey, expectedVersion }];
      const summary = `${change.action}: ${change.from} -> ${change.to}`;
      // The same transition key either way: a local attempt that committed but timed out is found
      // "already applied" by the regular activity.
      return localStore.recordBookingChange.executeWithOptions({ ...LOCAL_RECORD_OPTIONS, summary }, args).catch((err: unknown) => {
        if (isFinal(err)) throw err;
        return store.recordBookingChange.executeWithOptions({ ...RECORD_OPTIONS, summary: `${summary} (database slow: retrying until written)` }, args);
      });
    });
    writes = p.then(
      (r) => {
        pendingWrites--;
        if (r.outcome === 'applied' || r.outcome === 'already_applied') {
          s.version = r.version;
          if (entry) entry.recordedAt = r.occurredAt;
        }
      },
      (err: unknown) => {
        pendingWrites--;
        noteConflict(err);
      },
    );
    return p;
  }

  /** A failure no retry can change (a refused compare-and-set, a missing row): not handed to the regular activity. */
  function isFinal(err: unknown): boolean {
    const cause = err instanceof wf.ActivityFailure ? err.cause : err;
    return cause instanceof wf.ApplicationFailure && cause.nonRetryable === true;
  }

  /**
   * Takes the timed transitions the clock says are due but whose timer this run has not processed yet
   * (a busy worker, a timer still in a queue), each recorded with its scheduled time, so a request at
   * or after a due time finds the booking where the clock says it is. Returns the last write, if any.
   */
  function takeDueTransitions(): Promise<RecordedChange> | undefined {
    let last: Promise<RecordedChange> | undefined;
    for (const due of dueTransitions({ ...s, noShowGraceMs: settings.noShowGraceMs }, Date.now())) {
      last = transition(due.to, due.action, { actor: 'system' }, { scheduledAt: due.at });
      if (due.action === 'overdue') notifyOverdue();
    }
    // A failed write of these fails the request through its own (queued behind) write; keep the
    // rejection handled here so it is not reported as unhandled.
    last?.catch(() => undefined);
    return last;
  }

  /** A refused compare-and-set becomes this run's failure (the activity does not retry it). */
  function noteConflict(err: unknown): void {
    const cause = err instanceof wf.ActivityFailure ? err.cause : err;
    if (conflict || !(cause instanceof wf.ApplicationFailure) || cause.type !== FailureType.BookingWriteConflict) return;
    conflict = wf.ApplicationFailure.create({
      type: FailureType.BookingWriteConflict, nonRetryable: true, message: cause.message, details: cause.details as unknown[] | undefined,
    });
  }

  /** Rethrows a write's failure, as the run's conflict when it is one (so the API says why). */
  function writeFailed(err: unknown): never {
    throw conflict ?? err;
  }

  /** The history passed its bound and nothing is in flight: the state can move to a fresh run. */
  function readyToContinue(): boolean {
    const info = wf.workflowInfo();
    const limit = settings.continueAsNewAtEvents ?? DEFAULT_CONTINUE_AS_NEW_EVENTS;
    return (info.continueAsNewSuggested || info.historyLength >= limit)
      && inFlight === 0 && pendingWrites === 0 && pendingNotifications === 0 && !conflict && wf.allHandlersFinished();
  }

  /** Wakes the clock when a run may continue as new (never when this run's code path says it may not). */
  const continueDue = () => mayContinueAsNew !== false && readyToContinue();

  /** Take a transition now; the database write follows (and is awaited by the caller if it wants). */
  function transition(
    to: BookingStatus,
    action: BookingAction,
    meta: RequestMeta,
    extra: { reason?: string; scheduledAt?: number; connectedAt?: number; returnedAt?: number } = {},
  ): Promise<RecordedChange> {
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

  /** Keeps a notification's promise and counts it while pending (a run continues as new only without any). */
  function notifying(p: Promise<unknown>): void {
    pendingNotifications++;
    notifications.push(p.finally(() => pendingNotifications--));
  }

  function sendReminder(r: Reminder): void {
    remindersSent.add(r.key);
    notifying(
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
      notifying(
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

  async function settle(p: Promise<RecordedChange>): Promise<BookingView> {
    try {
      await p;
    } catch (err) {
      writeFailed(err);
    }
    return view();
  }

  wf.setHandler(stateQuery, view);

  wf.setHandler(
    connectUpdate,
    (meta) => {
      // Re-unlocking during the trip passes the gate from state: no write, and (outside `handling`) no
      // wake of the clock, so no timer is cancelled and re-armed. Thousands of connects then cost only
      // their update events, which continue-as-new bounds.
      if (s.connectedAt !== undefined && wf.patched(CONNECT_FROM_STATE_PATCH)) return view();
      return handling(async () => {
        // At or after startsAt the start comes first, even if its timer has not been processed yet:
        // the customer at the car is never refused by a queue.
        void takeDueTransitions();
        // The first connect is recorded; later ones (re-unlocking during the trip) just pass the gate.
        if (s.connectedAt !== undefined) return view();
        s.connectedAt = Date.now();
        changes++;
        publish();
        const entry: BookingHistoryEntry = {
          seq: seq + 1, action: 'connect', from: s.status, to: s.status, at: new Date(s.connectedAt).toISOString(), actor: meta.actor,
        };
        history.push(entry);
        try {
          await record(
            { action: 'connect', from: s.status, to: s.status, actor: meta.actor, requestId: meta.requestId,
              connectedAt: new Date(s.connectedAt).toISOString() },
            entry,
          );
        } catch (err) {
          writeFailed(err);
        }
        return view();
      });
    },
    { validator: (_meta: RequestMeta) => assertAllowed('connect') },
  );

  wf.setHandler(
    returnUpdate,
    (meta) =>
      handling(() => {
        void takeDueTransitions();
        return settle(transition('COMPLETED', 'return', meta, { returnedAt: Date.now() }));
      }),
    { validator: (_meta: RequestMeta) => assertAllowed('return') },
  );

  wf.setHandler(
    cancelUpdate,
    (meta) =>
      handling(() => {
        void takeDueTransitions();
        return settle(transition('CANCELLED', 'cancel', meta, { reason: meta.reason }));
      }),
    { validator: (_meta: RequestMeta) => assertAllowed('cancel') },
  );

  wf.setHandler(
    extendUpdate,
    (meta) =>
      handling(async () => {
        void takeDueTransitions();
        const from = s.status;
        let result: RecordedChange;
        try {
          result = await record({
            action: 'extend', from, to: from, actor: meta.actor, requestId: meta.requestId, reason: meta.reason, endsAt: meta.endsAt,
          });
        } catch (err) {
          writeFailed(err);
        }
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

  /** Judged by the clock: a request at or after a due time sees the state that time brings. */
  function assertAllowed(action: 'cancel' | 'connect' | 'return' | 'extend'): void {
    const why = refusal(action, byClock());
    if (why) throw rejected(why);
  }

  if (resumed) {
    // A continued run mirrors its state again (its attributes are not assumed to carry over).
    wf.upsertSearchAttributes([
      { key: CarIdKey, value: input.carId },
      { key: CustomerIdKey, value: input.customerId },
    ]);
    publish();
  } else {
    // The first run's attributes were set by its start (startBookingWorkflow): CONFIRMED, car, customer
    // and the start time. Upserting them again would cost the creation task two commands and two
    // visibility writes for nothing.
    lastNextAt = s.startsAt;
  }

  // The clock: fire whatever is due, then sleep until the next due time or until something changes.
  while (!isTerminal(s.status)) {
    await wf.condition(() => inFlight === 0);
    if (conflict) throw conflict;
    if (isTerminal(s.status)) break;
    if (readyToContinue() && (mayContinueAsNew ??= wf.patched(CONTINUE_AS_NEW_PATCH))) {
      // Nothing in flight, so the state below is all there is; timers are re-armed by the next run.
      await wf.continueAsNew<typeof bookingWorkflow>({
        ...input,
        resume: {
          status: s.status, endsAt: new Date(s.endsAt).toISOString(), endsAtSetAt: s.endsAtSetAt, connectedAt: s.connectedAt,
          returnedAt: s.returnedAt, extensions: s.extensions, version: s.version, seq, createdAt, history, remindersSent: [...remindersSent],
        },
      });
    }
    const now = Date.now();
    const reminders = pendingReminders({
      ...s, createdAt, beforeStartMs: settings.remindersBeforeStartMs, beforeEndMs: settings.remindersBeforeEndMs, sent: remindersSent,
    });
    for (const r of reminders) if (r.at <= now) sendReminder(r);
    const due = next();
    if (due && due.at <= now) {
      const done = transition(due.to, due.action, { actor: 'system' }, { scheduledAt: due.at });
      if (due.action === 'overdue') notifyOverdue();
      try {
        await done;
      } catch (err) {
        writeFailed(err);
      }
      continue;
    }
    const upcoming = reminders.find((r) => r.at > now);
    const wakeAt = Math.min(due?.at ?? Infinity, upcoming?.at ?? Infinity);
    const seen = changes;
    if (wakeAt === Infinity) {
      await wf.condition(() => changes !== seen || inFlight > 0 || conflict !== undefined || continueDue());
    } else {
      const summary = due && due.at === wakeAt ? `${due.action} -> ${due.to}` : `reminder ${upcoming?.kind}`;
      // A timer's duration is computed from the task's start time but armed when the task completes, so
      // a busy worker would make every due time late by its task latency. Waking a little early and then
      // arming a short final timer moves that latency off the due time. (Patched: histories recorded
      // before this change replay with the single timer they had.)
      const remaining = wakeAt - now;
      const lead = settings.earlyWakeMs ?? EARLY_WAKE_MS;
      const early = lead > 0 && wf.patched(EARLY_WAKE_PATCH) && remaining > 2 * lead;
      await wf.condition(() => changes !== seen || inFlight > 0 || conflict !== undefined || continueDue(), Math.max(1, early ? remaining - lead : remaining), {
        summary: early ? `${summary} (early wake)` : summary,
      });
    }
  }

  await wf.condition(() => inFlight === 0);
  await writes;
  if (conflict) throw conflict;
  await Promise.all(notifications);
  return view();
}
