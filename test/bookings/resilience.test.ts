// Transitions survive a stopped worker and an unreachable database: they happen late, once, with
// the real time recorded, and while they cannot happen they are visible as pending/retrying.
import { bookingBody, eventually, sleep, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'resilience' });
});
afterAll(() => stack?.stop());

describe('resilience', () => {
  test('worker stopped across startsAt and started again: the booking still starts', async () => {
    const body = bookingBody({}, 1500, 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    // Let the worker take the first workflow task, then take it away over the start time.
    await eventually(async () => (await stack.client.workflow.getHandle(`booking-${body.bookingId}`).fetchHistory()).events!.length > 3);
    await stack.stopWorkers();
    await sleep(Math.max(0, Date.parse(body.startsAt) - Date.now()) + 1000);
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status).toBe('CONFIRMED');
    await stack.startWorkers();
    const ev = await eventually(() => stack.db.bookingEvent.findFirst({ where: { bookingId: body.bookingId, action: 'start' } }), 20_000);
    expect(ev.occurredAt.getTime()).toBeGreaterThan(Date.parse(body.startsAt) + 900);
    expect(ev.scheduledAt!.toISOString()).toBe(new Date(body.startsAt).toISOString());
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status).toBe('ONGOING');
  });

  test('database unreachable over startsAt: the write shows as a retrying activity, then lands late and once', async () => {
    const body = bookingBody({}, 1000, 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const handle = stack.client.workflow.getHandle(`booking-${body.bookingId}`);
    await stack.dbProxy.block();
    try {
      // While the database is away the transition is visible as a pending activity that keeps failing.
      const pending = await eventually(async () => {
        const d = await handle.describe();
        const a = d.raw.pendingActivities?.[0];
        return a && (a.attempt ?? 0) >= 2 && a.lastFailure?.message ? a : undefined;
      }, 20_000);
      expect(pending.activityType?.name).toBe('recordBookingChange');
      expect(pending.lastFailure?.message).toBeTruthy();
      // The workflow already took the transition (the connect gate is open on time)...
      const view = await handle.query<{ status: string; pendingWrites: number }>('state');
      expect(view).toMatchObject({ status: 'ONGOING', pendingWrites: 1 });
      // ...and the operator's Web UI query finds it by status.
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
      from: 'CONFIRMED' as const, to: 'CANCELLED' as const, actor: 'service:test',
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
