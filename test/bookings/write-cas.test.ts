// Every booking write is a compare-and-set on the status and version its workflow believes the row has.
// A write that finds the row elsewhere (a stray or revived run) is refused for good, changes nothing,
// fails its run and is reported by the watchdog; the same write retried after its commit is accepted.
// The bookings worker is this file's own, so an activity can "die" right after its commit.
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBookingActivities } from '../../activities/bookings';
import { applyBookingChange } from '../../db/booking-store';
import { FailureType } from '../../domain/failures';
import { WATCHDOG_DEDUPE_KEY } from '../../domain/watchdog';
import { loadRunbooks } from '../../runbooks/load';
import { TemporalGateway } from '../../services/temporal';
import { detectStuckWork, runWatchdog } from '../../services/watchdog';
import type { BookingInput } from '../../workflows/booking-messages';
import { bookingBody, eventually, startStack, TEST_COMPONENTS, workflowBundle, type Stack } from '../helpers/stack';
import { forgetClosedRun } from '../helpers/retention';
import { testTemporalAddress } from '../helpers/temporal';

let stack: Stack;
let worker: Worker;
let running: Promise<void>;
let connection: NativeConnection;
/** Bookings whose next write commits and then fails its attempt, as if the worker died before answering. */
const dieAfterCommit = new Set<string>();
/** Attempts of the write activity per booking and action, however it ran (local or regular). */
const attempts = new Map<string, number>();

beforeAll(async () => {
  stack = await startStack({ name: 'write-cas', workers: ['notifications', 'incidents', 'ops'], updateTimeoutMs: 20_000 });
  connection = await NativeConnection.connect({ address: testTemporalAddress() });
  const real = createBookingActivities({ db: stack.workerDb });
  worker = await Worker.create({
    connection, namespace: 'default', taskQueue: `${stack.prefix}-bookings`, workflowBundle: await workflowBundle(),
    activities: {
      async recordBookingChange(change: Parameters<typeof real.recordBookingChange>[0]) {
        const k = `${change.bookingId}:${change.action}`;
        attempts.set(k, (attempts.get(k) ?? 0) + 1);
        const result = await real.recordBookingChange(change);
        if (dieAfterCommit.delete(change.bookingId)) throw new Error('test: the worker died after the commit');
        return result;
      },
    },
  });
  running = worker.run();
});
afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running?.catch(() => undefined);
  await connection?.close();
  await stack?.stop();
});

const workflowId = (bookingId: string) => `booking-${bookingId}`;

/** The booking's workflow input as the API builds it. */
function inputOf(body: ReturnType<typeof bookingBody>): BookingInput {
  return {
    ...body,
    settings: { noShowGraceMs: 30 * 60_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [], notificationsTaskQueue: `${stack.prefix}-notifications` },
  };
}

describe('booking writes are compare-and-set', () => {
  test('a stray write with a stale expected status or version is refused and changes nothing', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`).expect(200);
    const before = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(before).toMatchObject({ status: 'CANCELLED', version: 2 });
    const stray = {
      actor: 'system', bookingId: body.bookingId, transitionKey: `${body.bookingId}:stray:v1:start`, action: 'start' as const,
      from: 'CONFIRMED' as const, expectedVersion: 1, to: 'ONGOING' as const,
    };
    // The right status at the wrong version is refused as well as the wrong status.
    const staleStatus = await applyBookingChange(stack.db, stray);
    const staleVersion = await applyBookingChange(stack.db, {
      ...stray, transitionKey: `${body.bookingId}:stray:v1:force`, action: 'force', from: 'CANCELLED', to: 'CONFIRMED',
    });
    for (const r of [staleStatus, staleVersion]) {
      expect(r).toMatchObject({ outcome: 'conflict', actual: { status: 'CANCELLED', version: 2 } });
    }
    // Through the activity: a non-retryable failure naming what was expected and what was found.
    const env = new MockActivityEnvironment();
    const activities = createBookingActivities({ db: stack.db });
    const err = await env.run((c: typeof stray) => activities.recordBookingChange(c), stray).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: FailureType.BookingWriteConflict, nonRetryable: true });
    expect((err as Error).message).toMatch(/expected CONFIRMED at version 1 but the row is CANCELLED at version 2/);

    expect(await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).toEqual(before);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(2);
  });

  test('a revived run of a cancelled booking is refused at its first write, fails, and the watchdog reports it and opens the incident', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer changed plans' }).expect(200);
    await stack.client.workflow.getHandle(workflowId(body.bookingId)).result();
    await forgetClosedRun(stack.client, workflowId(body.bookingId));
    const before = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });

    // Someone starts the booking's workflow by hand, past the API (which would refuse to).
    const stray = await stack.client.workflow.start('bookingWorkflow', {
      workflowId: workflowId(body.bookingId), taskQueue: `${stack.prefix}-bookings`, args: [inputOf(body)],
    });
    const refused = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`).expect(409);
    expect(refused.body.error.message).toMatch(/expected CONFIRMED at version 1 but the row is CANCELLED at version 2/);

    const failure = await stray.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: FailureType.BookingWriteConflict, nonRetryable: true });
    expect((await stray.describe()).status.name).toBe('FAILED');
    // One attempt: the write (a local activity) was not retried, nor handed to the regular activity.
    expect(attempts.get(`${body.bookingId}:cancel`)).toBe(2); // the API's cancel, then the stray's one
    const events = (await stray.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
    const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName?.includes('local_activity'));
    expect(markers).toHaveLength(1);
    expect(markers[0].markerRecordedEventAttributes?.failure?.cause?.applicationFailureInfo ?? markers[0].markerRecordedEventAttributes?.failure?.applicationFailureInfo)
      .toMatchObject({ type: FailureType.BookingWriteConflict, nonRetryable: true });

    expect(await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).toEqual(before);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(2);
    expect(await stack.db.bookingWriteConflict.findMany({ where: { bookingId: body.bookingId } })).toEqual([
      expect.objectContaining({ action: 'cancel', expectedStatus: 'CONFIRMED', expectedVersion: 1, actualStatus: 'CANCELLED', actualVersion: 2, runId: stray.firstExecutionRunId }),
    ]);

    const report = await detectStuckWork({ db: stack.db, client: stack.client, taskQueuePrefix: stack.prefix });
    expect(report.errors).toEqual([]);
    expect(report.counts.booking_write_conflict).toBeGreaterThanOrEqual(1);
    expect(report.stuck.find((f) => f.kind === 'booking_write_conflict' && f.id === body.bookingId)).toMatchObject({
      workflowId: workflowId(body.bookingId),
      evidence: { action: 'cancel', expectedStatus: 'CONFIRMED', expectedVersion: 1, actualStatus: 'CANCELLED', actualVersion: 2 },
    });

    // The scheduled run opens the watchdog's incident for it, as for any other finding.
    const temporal = new TemporalGateway({ client: stack.client, taskQueuePrefix: stack.prefix });
    const summary = await runWatchdog(
      { db: stack.db, temporal, settings: { incidents: { runbooks: loadRunbooks(), components: TEST_COMPONENTS }, watchdog: {} } },
      `write-cas-${body.bookingId}`,
    );
    expect(summary.counts.booking_write_conflict).toBeGreaterThanOrEqual(1);
    expect(summary.incidentId).toBeTruthy();
    expect((await stack.db.incident.findMany({ where: { dedupeKey: WATCHDOG_DEDUPE_KEY } })).map((i) => i.id)).toEqual([summary.incidentId]);
  }, 240_000);

  test('a write retried after its commit is the same transition: accepted, written once, and the next write expects the right version', async () => {
    const body = bookingBody({}, 3000, 60 * 60_000);
    dieAfterCommit.add(body.bookingId); // its first write (the start) commits, then the attempt fails
    await stack.api().post('/v1/bookings', body).expect(201);
    await eventually(async () => (await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status === 'ONGOING', 60_000);
    const handle = stack.client.workflow.getHandle(workflowId(body.bookingId));
    await eventually(async () => (await handle.query<{ pendingWrites: number }>('state')).pendingWrites === 0, 30_000);
    expect(dieAfterCommit.has(body.bookingId)).toBe(false);

    dieAfterCommit.add(body.bookingId); // and the connect, asked for by a request, too
    const connected = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);
    expect(connected.body).toMatchObject({ status: 'ONGOING', connectAllowed: true });
    const returned = await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(200);
    expect(returned.body.status).toBe('COMPLETED');
    await handle.result();

    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId }, include: { events: { orderBy: { id: 'asc' } } } });
    expect(row).toMatchObject({ status: 'COMPLETED', version: 4 });
    expect(row.events.map((e) => e.action)).toEqual(['create', 'start', 'connect', 'return']);
    expect(await stack.db.auditLog.count({ where: { resourceId: body.bookingId, action: 'booking.connect' } })).toBe(1);
    expect(await stack.db.bookingWriteConflict.count({ where: { bookingId: body.bookingId } })).toBe(0);
    // Each write that died after its commit ran a second attempt (its local retry), which found it applied.
    expect(['start', 'connect', 'return'].map((a) => attempts.get(`${body.bookingId}:${a}`))).toEqual([2, 2, 1]);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName?.includes('local_activity'))).toHaveLength(3);
    expect(events.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
  });
});
