// The booking lifecycle end to end, through the API, against the real Temporal server and PostgreSQL.
import { bookingBody, eventually, sleep, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    name: 'lifecycle',
    settings: { noShowGraceMs: 1500, remindersBeforeStartMs: [1000], remindersBeforeEndMs: [1000] },
  });
});
afterAll(() => stack?.stop());

async function statusOf(id: string): Promise<string> {
  const res = await stack.api('viewer').get(`/v1/bookings/${id}`).expect(200);
  return res.body.status;
}

async function waitFor(id: string, status: string, timeoutMs = 15_000) {
  await eventually(async () => (await statusOf(id)) === status, timeoutMs, 50);
}

describe('booking lifecycle', () => {
  test('CONFIRMED -> ONGOING within 1 s of startsAt; connect gate; reminder; return -> COMPLETED', async () => {
    const body = bookingBody({}, 2500, 60_000);
    // The customer is a known user: reminders go through the same delivery path as campaigns.
    await stack.db.user.create({ data: { id: body.customerId, email: `${body.customerId}@example.test`, firstName: 'Ada' } });
    const created = await stack.api().post('/v1/bookings', body).expect(201);
    expect(created.body).toEqual({ bookingId: body.bookingId, workflowId: `booking-${body.bookingId}`, status: 'CONFIRMED' });

    const before = await stack.api().get(`/v1/bookings/${body.bookingId}`).expect(200);
    expect(before.body).toMatchObject({ status: 'CONFIRMED', connectAllowed: false, carId: body.carId });

    const early = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(409);
    expect(early.body.error.code).toBe('INVALID_TRANSITION');
    expect(early.body.error.message).toMatch(/not started/);

    await waitFor(body.bookingId, 'ONGOING');
    const started = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: body.bookingId, action: 'start' } });
    const lateness = started.occurredAt.getTime() - Date.parse(body.startsAt);
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(1000);
    expect(started.scheduledAt?.toISOString()).toBe(new Date(body.startsAt).toISOString());
    expect(started.actor).toBe('system');

    const connected = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);
    expect(connected.body).toMatchObject({ status: 'ONGOING', connectAllowed: true });
    expect(connected.body.connectedAt).toBeTruthy();
    // Connecting again (re-unlocking mid-trip) passes the gate without writing a second event.
    await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);

    // The reminder 1 s before start went through the notifications queue into the outbox, once.
    const reminders = await eventually(async () => {
      const rows = await stack.db.notificationOutbox.findMany({ where: { bookingId: body.bookingId } });
      return rows.length && rows.every((r) => r.sentAt) ? rows : undefined;
    });
    expect(reminders.map((r) => r.kind)).toEqual(['booking.before_start']);
    const delivered = await stack.db.outboxMessage.findUniqueOrThrow({ where: { idempotencyKey: reminders[0].idempotencyKey } });
    expect(delivered).toMatchObject({ channel: 'email', recipient: `${body.customerId}@example.test`, subject: 'Your car booking starts soon' });
    expect(reminders[0].sentAt).toBeTruthy();

    const returned = await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(200);
    expect(returned.body.status).toBe('COMPLETED');
    const final = await stack.api().get(`/v1/bookings/${body.bookingId}`).expect(200);
    expect(final.body.events.map((e: { action: string }) => e.action)).toEqual(['create', 'start', 'connect', 'return']);
    expect(final.body.returnedAt).toBeTruthy();
    expect(final.body.version).toBe(4);

    const again = await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(409);
    expect(again.body.error.code).toBe('INVALID_TRANSITION');

    // Audit rows for what callers did; none for the timer's transition.
    const audit = await stack.db.auditLog.findMany({ where: { resourceId: body.bookingId }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => a.action)).toEqual(['booking.create', 'booking.connect', 'booking.return']);
  });

  test('search attributes mirror the state for the Web UI', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const handle = stack.client.workflow.getHandle(`booking-${body.bookingId}`);
    const sa = await eventually(async () => {
      const d = await handle.describe();
      return d.typedSearchAttributes.getAll().length >= 4 ? d : undefined;
    });
    const attrs = Object.fromEntries(sa.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(attrs.BookingStatus).toBe('CONFIRMED');
    expect(attrs.CarId).toBe(body.carId);
    expect(attrs.CustomerId).toBe(body.customerId);
    expect((attrs.NextTransitionAt as Date).toISOString()).toBe(new Date(body.startsAt).toISOString());
    // An operator's Web UI query for this car finds exactly this booking.
    const found = await eventually(async () => {
      const ids: string[] = [];
      for await (const w of stack.client.workflow.list({ query: `CarId = "${body.carId}" AND BookingStatus = "CONFIRMED"` })) ids.push(w.workflowId);
      return ids.length ? ids : undefined;
    });
    expect(found).toEqual([`booking-${body.bookingId}`]);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'test cleanup' }).expect(200);
    await eventually(async () => {
      const d = await handle.describe();
      return d.typedSearchAttributes.getAll().find((p) => p.key.name === 'BookingStatus')?.value === 'CANCELLED';
    });
  });

  test('cancel before start; no cancel after start', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const res = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer changed plans' }).expect(200);
    expect(res.body.status).toBe('CANCELLED');
    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(row.status).toBe('CANCELLED');
    const ev = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: body.bookingId, action: 'cancel' } });
    expect(ev.reason).toBe('customer changed plans');
    const wf = await stack.client.workflow.getHandle(`booking-${body.bookingId}`).result();
    expect(wf.status).toBe('CANCELLED');
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`).expect(409);

    const started = bookingBody({}, 300, 60_000);
    await stack.api().post('/v1/bookings', started).expect(201);
    await waitFor(started.bookingId, 'ONGOING');
    const late = await stack.api().post(`/v1/bookings/${started.bookingId}/cancel`).expect(409);
    expect(late.body.error.message).toMatch(/only before it starts/);
  });

  test('extend: later end accepted, earlier end refused, overlap with the next booking refused', async () => {
    const first = bookingBody({}, 60 * 60_000, 60 * 60_000);
    await stack.api().post('/v1/bookings', first).expect(201);
    const nextStart = new Date(Date.parse(first.endsAt) + 2 * 60 * 60_000);
    const second = bookingBody({ carId: first.carId, startsAt: nextStart.toISOString(), endsAt: new Date(nextStart.getTime() + 3600_000).toISOString() });
    await stack.api().post('/v1/bookings', second).expect(201);

    const newEnd = new Date(Date.parse(first.endsAt) + 30 * 60_000).toISOString();
    const ok = await stack.api().post(`/v1/bookings/${first.bookingId}/extend`, { endsAt: newEnd }).expect(200);
    expect(ok.body.endsAt).toBe(newEnd);
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: first.bookingId } })).endsAt.toISOString()).toBe(newEnd);

    const earlier = await stack.api().post(`/v1/bookings/${first.bookingId}/extend`, { endsAt: first.endsAt }).expect(409);
    expect(earlier.body.error.message).toMatch(/later than the current end/);

    const overlapping = new Date(nextStart.getTime() + 60_000).toISOString();
    const clash = await stack.api().post(`/v1/bookings/${first.bookingId}/extend`, { endsAt: overlapping }).expect(409);
    expect(clash.body.error.code).toBe('BOOKING_OVERLAP');
    expect(clash.body.error.message).toContain(second.bookingId);
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: first.bookingId } })).endsAt.toISOString()).toBe(newEnd);

    const bad = await stack.api().post(`/v1/bookings/${first.bookingId}/extend`, { endsAt: 'tomorrow' }).expect(400);
    expect(bad.body.error.details.fields[0].field).toBe('endsAt');
    await stack.api().post(`/v1/bookings/nope-${Date.now()}/extend`, { endsAt: newEnd }).expect(404);
  });

  test('no-show: never connected within the grace period', async () => {
    const body = bookingBody({}, 300, 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await waitFor(body.bookingId, 'ONGOING');
    await waitFor(body.bookingId, 'NO_SHOW', 10_000);
    const ev = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: body.bookingId, action: 'no_show' } });
    expect(ev.scheduledAt!.getTime()).toBe(Date.parse(body.startsAt) + 1500);
    await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(409);
  });

  test('overdue: not returned at endsAt, customer and operations notified, then returned', async () => {
    const body = bookingBody({}, 300, 2500);
    await stack.api().post('/v1/bookings', body).expect(201);
    await waitFor(body.bookingId, 'ONGOING');
    await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);
    await waitFor(body.bookingId, 'OVERDUE', 10_000);
    const notes = await eventually(async () => {
      const rows = await stack.db.notificationOutbox.findMany({ where: { bookingId: body.bookingId, kind: 'booking.overdue' } });
      return rows.length === 2 ? rows : undefined;
    });
    expect(notes.map((n) => n.recipient).sort()).toEqual([body.customerId, 'operations'].sort());
    // The end reminder (1 s before the end) was sent too.
    expect(await stack.db.notificationOutbox.count({ where: { bookingId: body.bookingId, kind: 'booking.before_end' } })).toBe(1);
    const connect = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);
    expect(connect.body.status).toBe('OVERDUE');
    const res = await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(200);
    expect(res.body.status).toBe('COMPLETED');
    const actions = (await stack.db.bookingEvent.findMany({ where: { bookingId: body.bookingId }, orderBy: { id: 'asc' } })).map((e) => e.action);
    expect(actions).toEqual(['create', 'start', 'connect', 'overdue', 'return']);
  });

  test('operator forces a transition with a reason; audited; refused without reason, for other roles, off the graph', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const path = `/v1/bookings/${body.bookingId}/transition`;
    const noReason = await stack.api('operator').post(path, { to: 'ONGOING' }).expect(400);
    expect(noReason.body.error.details.fields.map((f: { field: string }) => f.field)).toContain('reason');
    await stack.api('service').post(path, { to: 'ONGOING', reason: 'x' }).expect(403);
    const offGraph = await stack.api('operator').post(path, { to: 'COMPLETED', reason: 'skip ahead' }).expect(409);
    expect(offGraph.body.error.message).toMatch(/no transition from CONFIRMED to COMPLETED/);
    const forced = await stack.api('operator').post(path, { to: 'ONGOING', reason: 'job stuck; customer at the car' }).expect(200);
    expect(forced.body).toMatchObject({ status: 'ONGOING', connectAllowed: true });
    const ev = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: body.bookingId, action: 'force' } });
    expect(ev).toMatchObject({ fromStatus: 'CONFIRMED', toStatus: 'ONGOING', reason: 'job stuck; customer at the car' });
    expect(ev.actor).toMatch(/^operator:[0-9a-f]{8}$/);
    const audit = await stack.db.auditLog.findFirstOrThrow({ where: { resourceId: body.bookingId, action: 'booking.force' } });
    expect(audit.actor).toBe(ev.actor);
    // The forced start does not fire again at startsAt: the workflow moved on.
    await sleep(200);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId, action: 'start' } })).toBe(0);
    await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(200);
  });
});
