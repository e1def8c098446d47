// createBooking at the store level (real PostgreSQL, no Temporal): the one-call creation
// (keel_create_booking) writes what the interactive transaction wrote, and keeps its guarantees under
// concurrency: one car's calendar serialised, one row per id whichever car the copies name.
import { createDb, type Db } from '../../db/client';
import { bookingRequestHash, createBooking, type CreateResult } from '../../db/booking-store';
import { readDashboard, recomputeDashboard } from '../../db/dashboard-store';
import { createTestDatabase } from '../helpers/database';
import { uid } from '../helpers/stack';

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 12 });
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

const HOUR = 3600_000;
const base = Date.UTC(2031, 5, 1);

function facts(over: Partial<Parameters<typeof createBooking>[1]> = {}) {
  return {
    bookingId: uid('bk'), customerId: uid('cust'), carId: uid('car'),
    startsAt: new Date(base), endsAt: new Date(base + 2 * HOUR), amountCents: 4200, currency: 'EUR', ...over,
  };
}

async function expectSummaryEqualsRecount() {
  const now = new Date();
  const { reconciliation: _r, asOf: _a, ...kept } = await readDashboard(db, { timeZone: 'UTC', now });
  const { asOf: _b, ...truth } = await recomputeDashboard(db, { timeZone: 'UTC', now });
  expect(kept).toEqual(truth);
}

describe('createBooking (one database call)', () => {
  test('writes the row, its create event, the audit entry and the summary; a repeat finds it and writes nothing', async () => {
    const b = facts();
    const r = await createBooking(db, b, { actor: 'service:test', requestId: 'req-1' }, `booking-${b.bookingId}`);
    expect(r.kind).toBe('created');
    const row = (r as Extract<CreateResult, { kind: 'created' }>).booking;
    expect(row).toEqual(await db.booking.findUniqueOrThrow({ where: { id: b.bookingId } }));
    expect(row).toMatchObject({
      id: b.bookingId, carId: b.carId, customerId: b.customerId, startsAt: b.startsAt, endsAt: b.endsAt, amountCents: 4200, currency: 'EUR',
      status: 'CONFIRMED', version: 1, requestHash: bookingRequestHash(b), workflowId: `booking-${b.bookingId}`, workflowStartedAt: null,
    });
    const events = await db.bookingEvent.findMany({ where: { bookingId: b.bookingId } });
    expect(events).toEqual([expect.objectContaining({
      transitionKey: `${b.bookingId}:v1:create`, action: 'create', fromStatus: null, toStatus: 'CONFIRMED', actor: 'service:test', requestId: 'req-1',
    })]);
    const audit = await db.auditLog.findMany({ where: { resourceType: 'booking', resourceId: b.bookingId } });
    expect(audit).toEqual([expect.objectContaining({
      actor: 'service:test', action: 'booking.create', requestId: 'req-1',
      details: { carId: b.carId, startsAt: b.startsAt.toISOString(), endsAt: b.endsAt.toISOString() },
    })]);
    await expectSummaryEqualsRecount();

    const again = await createBooking(db, b, { actor: 'service:test', requestId: 'req-2' }, `booking-${b.bookingId}`);
    expect(again).toEqual({ kind: 'existing', booking: row });
    const different = await createBooking(db, { ...b, amountCents: 4300 }, { actor: 'service:test' }, `booking-${b.bookingId}`);
    expect(different.kind).toBe('different_request');
    expect(await db.bookingEvent.count({ where: { bookingId: b.bookingId } })).toBe(1);
    expect(await db.auditLog.count({ where: { resourceType: 'booking', resourceId: b.bookingId } })).toBe(1);
    await expectSummaryEqualsRecount();
  });

  test('one id sent at once for two different cars (two car locks): one row, every other copy answered from it', async () => {
    const b = facts();
    const other = { ...b, carId: uid('car') };
    const copies = Array.from({ length: 20 }, (_, i) => (i % 2 ? other : b));
    const results = await Promise.all(copies.map((c) => createBooking(db, c, { actor: 'service:test' }, `booking-${b.bookingId}`)));
    const created = results.filter((r) => r.kind === 'created');
    expect(created).toHaveLength(1);
    const winner = await db.booking.findUniqueOrThrow({ where: { id: b.bookingId } });
    results.forEach((r, i) => {
      if (r.kind === 'created') return;
      // The same car as the winner is the same request; the other car is a different one.
      expect(r.kind).toBe(copies[i].carId === winner.carId ? 'existing' : 'different_request');
    });
    expect(await db.bookingEvent.count({ where: { bookingId: b.bookingId } })).toBe(1);
    expect(await db.auditLog.count({ where: { resourceType: 'booking', resourceId: b.bookingId } })).toBe(1);
    await expectSummaryEqualsRecount();
  });

  test('overlapping bookings of one car sent at once: exactly one is created, the others name it', async () => {
    const carId = uid('car');
    const tries = Array.from({ length: 12 }, (_, i) =>
      facts({ carId, startsAt: new Date(base + i * 10 * 60_000), endsAt: new Date(base + 3 * HOUR + i * 10 * 60_000) }));
    const results = await Promise.all(tries.map((t) => createBooking(db, t, { actor: 'service:test' }, `booking-${t.bookingId}`)));
    const created = results.filter((r) => r.kind === 'created');
    expect(created).toHaveLength(1);
    const winnerId = created[0].booking.id;
    for (const r of results) if (r.kind !== 'created') expect(r).toEqual({ kind: 'overlap', conflictingBookingId: winnerId });
    expect(await db.booking.count({ where: { carId } })).toBe(1);
    await expectSummaryEqualsRecount();
  });
});
