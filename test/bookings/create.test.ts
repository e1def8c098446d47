// Creating bookings: duplicates collapse onto one workflow and one row; conflicts and bad input get a
// clear 4xx and leave nothing behind.
import { bookingBody, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'create' });
});
afterAll(() => stack?.stop());

async function runsOf(workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of stack.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) n++;
  return n;
}

describe('POST /v1/bookings', () => {
  test('50 concurrent identical requests: one 201, the rest 200, one workflow run, one row', async () => {
    const body = bookingBody();
    const responses = await Promise.all(Array.from({ length: 50 }, () => stack.api().post('/v1/bookings', body)));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(49);
    for (const r of responses) {
      expect(r.body).toEqual({ bookingId: body.bookingId, workflowId: `booking-${body.bookingId}`, status: 'CONFIRMED' });
    }
    expect(await stack.db.booking.count({ where: { id: body.bookingId } })).toBe(1);
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(1);
    // Visibility is eventually consistent: describe() is the authoritative single-run check, and the
    // list (all runs ever with this id) must never show a second one.
    const d = await stack.client.workflow.getHandle(`booking-${body.bookingId}`).describe();
    expect(d.status.name).toBe('RUNNING');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runsOf(`booking-${body.bookingId}`)).toBe(1);

    const different = await stack.api().post('/v1/bookings', { ...body, amountCents: body.amountCents + 1 }).expect(409);
    expect(different.body.error).toMatchObject({ code: 'DUPLICATE_CONFLICT' });
    expect(await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).toMatchObject({ amountCents: body.amountCents });
  });

  test('the same time written differently is the same request', async () => {
    const body = bookingBody();
    await stack.api().post('/v1/bookings', body).expect(201);
    const shifted = new Date(body.startsAt).toISOString().replace('Z', '+00:00');
    await stack.api().post('/v1/bookings', { ...body, startsAt: shifted }).expect(200);
  });

  test('another booking of the same car overlapping in time: 409 naming it, nothing written', async () => {
    const first = bookingBody();
    await stack.api().post('/v1/bookings', first).expect(201);
    const overlapStart = new Date(Date.parse(first.startsAt) + 30 * 60_000);
    const second = bookingBody({ carId: first.carId, startsAt: overlapStart.toISOString(), endsAt: first.endsAt });
    const res = await stack.api().post('/v1/bookings', second).expect(409);
    expect(res.body.error).toMatchObject({ code: 'BOOKING_OVERLAP', details: { conflictingBookingId: first.bookingId } });
    expect(await stack.db.booking.count({ where: { id: second.bookingId } })).toBe(0);
    await expect(stack.client.workflow.getHandle(`booking-${second.bookingId}`).describe()).rejects.toThrow(/not found/i);

    // Back to back (end == next start) is not an overlap; a cancelled booking frees the slot.
    const adjacent = bookingBody({ carId: first.carId, startsAt: first.endsAt, endsAt: new Date(Date.parse(first.endsAt) + 3600_000).toISOString() });
    await stack.api().post('/v1/bookings', adjacent).expect(201);
    await stack.api().post(`/v1/bookings/${first.bookingId}/cancel`).expect(200);
    await stack.api().post('/v1/bookings', second).expect(201);
  });

  test('concurrent overlapping bookings of one car: exactly one wins', async () => {
    const base = bookingBody();
    const contenders = Array.from({ length: 8 }, () => bookingBody({ carId: base.carId, startsAt: base.startsAt, endsAt: base.endsAt }));
    const res = await Promise.all(contenders.map((b) => stack.api().post('/v1/bookings', b)));
    expect(res.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await stack.db.booking.count({ where: { carId: base.carId } })).toBe(1);
  });

  const invalid: Array<[string, Record<string, unknown>, string[]]> = [
    ['missing fields', { bookingId: 'x1' }, ['customerId', 'carId', 'startsAt', 'endsAt', 'amountCents', 'currency']],
    ['endsAt before startsAt', { endsAt: '2020-01-01T00:00:00Z' }, ['endsAt']],
    ['endsAt equal to startsAt', { endsAt: 'SAME' }, ['endsAt']],
    ['unknown field', { colour: 'red' }, ['colour']],
    ['id with a space', { bookingId: 'has space' }, ['bookingId']],
    ['id too long', { carId: 'c'.repeat(65) }, ['carId']],
    ['id with a slash', { customerId: 'a/b' }, ['customerId']],
    ['time without zone', { startsAt: '2030-01-01T10:00:00' }, ['startsAt']],
    ['not a time', { startsAt: 'next tuesday' }, ['startsAt']],
    ['negative amount', { amountCents: -1 }, ['amountCents']],
    ['fractional amount', { amountCents: 1.5 }, ['amountCents']],
    ['amount as string', { amountCents: '100' }, ['amountCents']],
    ['bad currency', { currency: 'euro' }, ['currency']],
  ];
  test.each(invalid)('400 for %s, naming the fields, nothing written', async (_name, patch, fields) => {
    const body: Record<string, unknown> = { ...bookingBody(), ...patch };
    if (patch.endsAt === 'SAME') body.endsAt = body.startsAt;
    if (_name === 'missing fields') for (const k of fields) delete body[k];
    const res = await stack.api().post('/v1/bookings', body).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    const named = res.body.error.details.fields.map((f: { field: string }) => f.field);
    for (const f of fields) expect(named.join(' ')).toContain(f);
    expect(res.text).not.toMatch(/at .*\.ts:\d+/); // never a stack trace
    if (typeof body.bookingId === 'string') expect(await stack.db.booking.count({ where: { id: body.bookingId } })).toBe(0);
  });

  test('malformed JSON, a non-object body and an oversized body get 4xx with the error shape', async () => {
    const malformed = await stack.api().post('/v1/bookings').set('Content-Type', 'application/json').send('{"bookingId": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('MALFORMED_JSON');
    const array = await stack.api().post('/v1/bookings').set('Content-Type', 'application/json').send('[1,2]');
    expect(array.status).toBe(400);
    expect(array.body.error.code).toBe('VALIDATION_FAILED');
    const huge = await stack.api().post('/v1/bookings', { ...bookingBody(), pad: 'x'.repeat(200_000) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  test('unknown booking and unknown route: 404 with the error shape', async () => {
    const res = await stack.api().get('/v1/bookings/does-not-exist').expect(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND' });
    const bad = await stack.api().get('/v1/bookings/bad%20id').expect(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
    const route = await stack.api().get('/v1/nothing-here').expect(404);
    expect(route.body.error.code).toBe('NOT_FOUND');
    for (const action of ['cancel', 'connect', 'return']) {
      await stack.api().post(`/v1/bookings/missing-${action}/${action}`).expect(404);
    }
    const unknownField = await stack.api().post('/v1/bookings/whatever/connect', { force: true }).expect(400);
    expect(unknownField.body.error.code).toBe('VALIDATION_FAILED');
  });

  test('a request id given by the caller is echoed and recorded on the event', async () => {
    const body = bookingBody();
    const res = await stack.api().post('/v1/bookings', body).set('X-Request-Id', 'req-abc-123').expect(201);
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    const ev = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: body.bookingId } });
    expect(ev.requestId).toBe('req-abc-123');
    const d = await stack.client.workflow.getHandle(`booking-${body.bookingId}`).describe();
    expect(d.memo).toMatchObject({ requestId: 'req-abc-123' });
  });
});
