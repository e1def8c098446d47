// Transitions survive a stopped worker and an unreachable database: they happen late, once, with
// the real time recorded, and while they cannot happen they are visible as pending/retrying.
import { bookingBody, eventually, sleep, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'resilience' });
});
afterAll(() => stack?.stop());

/**
 * Workflow ids a Web UI list query returns once visibility shows them (it is eventually consistent,
 * so poll, with a bound); the query is exactly what an operator would type (README, "Find bookings").
 */
async function webUiFinds(query: string, workflowId: string): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ids: string[] = [];
    for await (const w of stack.client.workflow.list({ query })) ids.push(w.workflowId);
    if (ids.includes(workflowId)) return ids;
    if (Date.now() > deadline) throw new Error(`the Web UI query ${query} did not list ${workflowId} within 15 s (it lists ${JSON.stringify(ids)})`);
    await sleep(200);
  }
}

describe('resilience', () => {
  test('worker stopped across startsAt and started again: the booking still starts', async () => {
    // A worker takes the first workflow task (arming the start timer in Temporal), then the workers go away
    // over the start time. Both must happen before startsAt; on a busy machine creating the booking and
    // its first task can take many seconds, so a lead that proved too short is retried with a longer one.
    let body: ReturnType<typeof bookingBody> | undefined;
    for (let lead = 10_000; !body; lead *= 2) {
      if (lead > 80_000) throw new Error('setup too slow: could not stop the workers before a booking\'s startsAt');
      const candidate = bookingBody({}, lead, 60_000);
      await stack.api().post('/v1/bookings', candidate).expect(201);
      await eventually(async () => (await stack.client.workflow.getHandle(`booking-${candidate.bookingId}`).fetchHistory()).events!
        .some((e) => e.timerStartedEventAttributes), 30_000);
      await stack.stopWorkers();
      if (Date.now() < Date.parse(candidate.startsAt)) body = candidate;
      else {
        // Too late for this one (it starts as usual); try again further ahead.
        process.stderr.write(`[resilience.test] workers stopped only after startsAt with a ${lead} ms lead; retrying with ${2 * lead} ms\n`);
        await stack.startWorkers();
      }
    }
    try {
      await sleep(Math.max(0, Date.parse(body.startsAt) - Date.now()) + 1000);
      expect((await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status).toBe('CONFIRMED');
      // Meanwhile the operator's Web UI query for stuck bookings (due, not started) finds it.
      const now = new Date().toISOString();
      expect(await webUiFinds(`BookingStatus = "CONFIRMED" AND NextTransitionAt < "${now}" AND CarId = "${body.carId}"`, `booking-${body.bookingId}`))
        .toEqual([`booking-${body.bookingId}`]);
    } finally {
      await stack.startWorkers(); // also when an assertion failed, so the next tests have workers
    }
    const ev = await eventually(() => stack.db.bookingEvent.findFirst({ where: { bookingId: body.bookingId, action: 'start' } }), 30_000);
    expect(ev.occurredAt.getTime()).toBeGreaterThan(Date.parse(body.startsAt) + 900);
    expect(ev.scheduledAt!.toISOString()).toBe(new Date(body.startsAt).toISOString());
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status).toBe('ONGOING');
  }, 180_000);

  test('database unreachable over startsAt: the write shows as a retrying activity, then lands late and once', async () => {
    // The workers' database goes away before the booking is even made (the API writes the row over its own
    // connection), so it is away at startsAt however long the request takes.
    await stack.dbProxy.block();
    const body = bookingBody({}, 1000, 60_000);
    const handle = stack.client.workflow.getHandle(`booking-${body.bookingId}`);
    try {
      await stack.api().post('/v1/bookings', body).expect(201);
      // While the database is away the transition is visible as a pending activity that keeps failing.
      const pending = await eventually(async () => {
        const d = await handle.describe();
        const a = d.raw.pendingActivities?.[0];
        return a && (a.attempt ?? 0) >= 2 && a.lastFailure?.message ? a : undefined;
      }, 30_000);
      expect(pending.activityType?.name).toBe('recordBookingChange');
      expect(pending.lastFailure?.message).toBeTruthy();
      // The workflow already took the transition (the connect gate is open on time)...
      const view = await handle.query<{ status: string; pendingWrites: number }>('state');
      expect(view).toMatchObject({ status: 'ONGOING', pendingWrites: 1 });
      // ...and the operator's Web UI query finds it by that status, while the database still says CONFIRMED.
      expect(await webUiFinds(`BookingStatus = "ONGOING" AND CarId = "${body.carId}"`, `booking-${body.bookingId}`))
        .toEqual([`booking-${body.bookingId}`]);
      expect(await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).toMatchObject({ status: 'CONFIRMED', version: 1 });
      expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId, action: 'start' } })).toBe(0);
      await sleep(1500);
    } finally {
      await stack.dbProxy.unblock();
    }
    const ev = await eventually(() => stack.db.bookingEvent.findFirst({ where: { bookingId: body.bookingId, action: 'start' } }), 20_000);
    expect(ev.occurredAt.getTime() - Date.parse(body.startsAt)).toBeGreaterThan(2000);
    expect(ev.scheduledAt!.toISOString()).toBe(new Date(body.startsAt).toISOString());
    await sleep(500);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId, action: 'start' } })).toBe(1);
    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(row).toMatchObject({ status: 'ONGOING', version: 2 });
    const view = await handle.query<{ pendingWrites: number; history: Array<{ recordedAt?: string }> }>('state');
    expect(view.pendingWrites).toBe(0);
    expect(view.history.at(-1)?.recordedAt).toBe(ev.occurredAt.toISOString());
  });

  test('a retried write with the same transition key changes nothing', async () => {
    const body = bookingBody();
    await stack.api().post('/v1/bookings', body).expect(201);
    const { applyBookingChange } = await import('../../db/booking-store');
    const change = {
      bookingId: body.bookingId, transitionKey: `${body.bookingId}:2:cancel`, action: 'cancel' as const,
      from: 'CONFIRMED' as const, expectedVersion: 1, to: 'CANCELLED' as const, actor: 'service:test',
    };
    const [a, b] = await Promise.all([applyBookingChange(stack.db, change), applyBookingChange(stack.db, change)]);
    expect([a.outcome, b.outcome].sort()).toEqual(['already_applied', 'applied']);
    const c = await applyBookingChange(stack.db, change);
    expect(c.outcome).toBe('already_applied');
    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(row.version).toBe(2);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(2);
    expect(await stack.db.auditLog.count({ where: { resourceId: body.bookingId, action: 'booking.cancel' } })).toBe(1);
  });
});
