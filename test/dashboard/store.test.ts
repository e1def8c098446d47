// The summary rows against the raw tables, at the store level (real PostgreSQL, no Temporal): random
// transitions from concurrent writers with retried (duplicated) writes, undone creations, tampering,
// reconciliation racing live transitions, and the business-day boundary.
import { randomInt } from 'node:crypto';
import { createDb, type Db } from '../../db/client';
import { applyBookingChange, createBooking, deleteUnstartedBooking, type BookingChange } from '../../db/booking-store';
import { readDashboard, recomputeDashboard, reconcileDashboard, shardOf, type Dashboard } from '../../db/dashboard-store';
import { TRANSITIONS, type BookingStatus } from '../../domain/booking';
import { businessDay } from '../../domain/business-day';
import { createTestDatabase } from '../helpers/database';
import { uid } from '../helpers/stack';

const TZ = 'Europe/Paris';
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

const who = { actor: 'service:test' };
const HOUR = 3600_000;
const base = Date.UTC(2031, 0, 1);

/** Bookings on `cars` cars, back to back in time, so several bookings of one car can be active at once. */
async function createMany(n: number, cars: string[], currencies = ['EUR', 'USD', 'GBP']): Promise<string[]> {
  const ids: string[] = [];
  await inParallel(n, 8, async (i) => {
      const id = uid('bk');
      const startsAt = new Date(base + i * 2 * HOUR);
      const r = await createBooking(db, {
        bookingId: id, customerId: uid('cust'), carId: cars[i % cars.length], startsAt, endsAt: new Date(startsAt.getTime() + HOUR),
        amountCents: randomInt(100, 100_000), currency: currencies[i % currencies.length],
      }, who, `booking-${id}`);
      expect(r.kind).toBe('created');
      ids.push(id);
  });
  return ids;
}

/** fn(0..n-1), at most `width` at a time (the pool has 12 connections; transactions wait at most 2 s for one). */
async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** A random walk along the transition graph, every write possibly repeated as a retried activity would. */
async function walk(id: string, retries: { count: number }): Promise<void> {
  let status: BookingStatus = 'CONFIRMED';
  let version = 1;
  for (let step = 1; ; step++) {
    const options = TRANSITIONS.filter((t) => t.from === status);
    if (!options.length || Math.random() < 0.15) return;
    if (status === 'ONGOING' && Math.random() < 0.3) {
      // connect: an event that changes no status and no counter
      const r = await applyBookingChange(db, { ...who, bookingId: id, transitionKey: `${id}:c${step}`, action: 'connect', from: status, expectedVersion: version, to: status, connectedAt: new Date().toISOString() });
      expect(r.outcome).toBe('applied');
      version++;
      continue;
    }
    const t = options[randomInt(options.length)];
    const change: BookingChange = { actor: 'system', bookingId: id, transitionKey: `${id}:v${step}:${t.action}`, action: t.action, from: t.from, expectedVersion: version, to: t.to };
    const first = await applyBookingChange(db, change);
    expect(first.outcome).toBe('applied');
    if (Math.random() < 0.4) {
      // The same write again, alone or two at once (a timed-out attempt still running beside its retry).
      retries.count++;
      const again = Math.random() < 0.5 ? [await applyBookingChange(db, change)] : await Promise.all([applyBookingChange(db, change), applyBookingChange(db, change)]);
      for (const a of again) expect(a.outcome).toBe('already_applied');
    }
    status = t.to;
    version++;
  }
}

function comparable(d: Dashboard) {
  const { asOf: _asOf, ...rest } = d as Dashboard & { reconciliation?: unknown };
  delete (rest as { reconciliation?: unknown }).reconciliation;
  return rest;
}

async function expectSummaryEqualsRecount(now = new Date()) {
  const [kept, truth] = await Promise.all([readDashboard(db, { timeZone: TZ, now }), recomputeDashboard(db, { timeZone: TZ, now })]);
  expect(comparable(kept)).toEqual(comparable(truth));
  return truth;
}

describe('dashboard summary rows', () => {
  test('equal a fresh recount after random concurrent transitions, retried writes and undone creations', async () => {
    const cars = Array.from({ length: 12 }, () => uid('car'));
    const ids = await createMany(90, cars);
    const retries = { count: 0 };
    await inParallel(80, 8, (i) => walk(ids[i], retries));
    // Creations whose workflow could not start are undone; a booking that has moved on is not.
    const undone = await createMany(5, [uid('car')]);
    for (const id of undone) await deleteUnstartedBooking(db, id);
    await deleteUnstartedBooking(db, ids[0]);

    expect(retries.count).toBeGreaterThan(5);
    const truth = await expectSummaryEqualsRecount();
    expect(Object.values(truth.bookingsByStatus).reduce((a, b) => a + b, 0)).toBe(90 - (await db.booking.count({ where: { id: ids[0] } }) ? 0 : 1));
    expect(truth.bookingsByStatus.CANCELLED + truth.bookingsByStatus.COMPLETED + truth.bookingsByStatus.NO_SHOW).toBeGreaterThan(0);
    expect(truth.activeCars).toBeGreaterThan(0);
    expect(Object.keys(truth.revenueToday.byCurrency).sort()).toEqual(['EUR', 'GBP', 'USD']);
    // Nothing for the reconciliation to correct.
    expect((await reconcileDashboard(db)).corrected).toBe(0);
  });

  test('a car with an OVERDUE booking and the next ONGOING one counts once, until both have ended', async () => {
    const car = uid('car');
    const [a, b] = [uid('bk'), uid('bk')];
    for (const [i, id] of [a, b].entries()) {
      const startsAt = new Date(base + 1000 * HOUR + i * HOUR);
      await createBooking(db, { bookingId: id, customerId: 'c', carId: car, startsAt, endsAt: new Date(startsAt.getTime() + HOUR), amountCents: 1, currency: 'EUR' }, who, `booking-${id}`);
    }
    const move = async (id: string, from: BookingStatus, to: BookingStatus, action: BookingChange['action']) =>
      applyBookingChange(db, { actor: 'system', bookingId: id, transitionKey: `${id}:${action}`, action, from, to,
        expectedVersion: (await db.booking.findUniqueOrThrow({ where: { id } })).version });
    const before = (await readDashboard(db, { timeZone: TZ })).activeCars;
    await move(a, 'CONFIRMED', 'ONGOING', 'start');
    await move(a, 'ONGOING', 'OVERDUE', 'overdue');
    await move(b, 'CONFIRMED', 'ONGOING', 'start');
    expect((await readDashboard(db, { timeZone: TZ })).activeCars).toBe(before + 1);
    expect(await db.dashboardCarActivity.findUnique({ where: { carId: car } })).toEqual({ carId: car, active: 2 });
    await move(a, 'OVERDUE', 'COMPLETED', 'return');
    expect((await readDashboard(db, { timeZone: TZ })).activeCars).toBe(before + 1);
    await move(b, 'ONGOING', 'COMPLETED', 'return');
    expect((await readDashboard(db, { timeZone: TZ })).activeCars).toBe(before);
    await expectSummaryEqualsRecount();
  });

  test('reconciliation corrects tampered rows, reports the drift and records it', async () => {
    const cars = Array.from({ length: 4 }, () => uid('car'));
    const ids = await createMany(12, cars);
    for (const id of ids.slice(0, 6)) await applyBookingChange(db, { actor: 'system', bookingId: id, transitionKey: `${id}:start`, action: 'start', from: 'CONFIRMED', expectedVersion: 1, to: 'ONGOING' });
    await reconcileDashboard(db);
    const truth = await expectSummaryEqualsRecount();

    // Someone "fixes" numbers by hand, a restore loses rows, a bug double counts.
    await db.$executeRaw`UPDATE dashboard_counters SET value = value + 5 WHERE metric = 'bookings.CONFIRMED' AND shard = 3`;
    await db.$executeRaw`DELETE FROM dashboard_counters WHERE metric = 'bookings.ONGOING'`;
    await db.$executeRaw`DELETE FROM dashboard_car_activity WHERE car_id = ${cars[0]}`;
    await db.$executeRaw`UPDATE dashboard_revenue SET amount_cents = amount_cents + 777, bookings = bookings + 1
                         WHERE (bucket, currency, shard) = (SELECT bucket, currency, shard FROM dashboard_revenue WHERE currency = 'USD' ORDER BY bucket DESC LIMIT 1)`;
    const tampered = await readDashboard(db, { timeZone: TZ });
    expect(tampered.bookingsByStatus.CONFIRMED).toBe(truth.bookingsByStatus.CONFIRMED + 5);
    expect(tampered.bookingsByStatus.ONGOING).toBe(0);

    const report = await reconcileDashboard(db, { workflowId: 'test-run' });
    expect(report.drift.bookingsByStatus).toEqual({ CONFIRMED: -5, ONGOING: truth.bookingsByStatus.ONGOING });
    expect(report.drift.activeCars).toBe(0);
    expect(report.drift.carRows).toBe(1);
    expect(report.drift.revenue).toEqual({ USD: { amountCents: -777, bookings: -1, buckets: 1 } });
    expect(report.corrected).toBe(2 + 1 + 1);
    await expectSummaryEqualsRecount();
    // Every shard row is back, and the next run finds nothing.
    expect(await db.dashboardCounter.count({ where: { metric: 'bookings.ONGOING' } })).toBe(8);
    const again = await reconcileDashboard(db);
    expect(again.corrected).toBe(0);
    const recorded = await db.dashboardReconciliation.findUniqueOrThrow({ where: { id: BigInt(report.id) } });
    expect(recorded).toMatchObject({ corrected: 4, workflowId: 'test-run' });
    expect(recorded.drift).toEqual(report.drift);
    const dash = await readDashboard(db, { timeZone: TZ });
    expect(dash.reconciliation).toEqual({ at: expect.any(String), corrected: 0 });
  });

  test('reconciliation racing live transitions never tears: no drift seen, none left behind', async () => {
    const cars = Array.from({ length: 6 }, () => uid('car'));
    const ids = await createMany(60, cars);
    await reconcileDashboard(db);
    let done = false;
    const reports: number[] = [];
    const reconciler = (async () => {
      while (!done) reports.push((await reconcileDashboard(db, { revenueSince: new Date(0) })).corrected);
    })();
    await inParallel(ids.length, 8, (i) => walk(ids[i], { count: 0 }));
    done = true;
    await reconciler;
    expect(reports.length).toBeGreaterThan(1);
    // A reconciliation that recounted a transaction's booking change without its summary change (or
    // the reverse) would have "corrected" it, and the transaction's own delta would then be drift.
    expect(reports.every((c) => c === 0)).toBe(true);
    expect((await reconcileDashboard(db)).corrected).toBe(0);
    await expectSummaryEqualsRecount();
  });

  test('today\'s revenue runs from local midnight to midnight; a cancellation takes it back from the day it was made', async () => {
    const id = uid('bk');
    const r = await createBooking(db, { bookingId: id, customerId: 'c', carId: uid('car'), startsAt: new Date(base), endsAt: new Date(base + HOUR), amountCents: 12345, currency: 'JPY' }, who, `booking-${id}`);
    if (r.kind !== 'created') throw new Error(r.kind);
    const created = r.booking.createdAt;
    for (const tz of [TZ, 'America/Los_Angeles', 'Asia/Kathmandu']) {
      const day = businessDay(created, tz);
      const jpy = async (now: Date) => {
        const [kept, truth] = await Promise.all([readDashboard(db, { timeZone: tz, now }), recomputeDashboard(db, { timeZone: tz, now })]);
        expect(kept.revenueToday.byCurrency).toEqual(truth.revenueToday.byCurrency);
        return kept.revenueToday.byCurrency.JPY;
      };
      expect(await jpy(day.start)).toEqual({ amountCents: 12345, bookings: 1 });
      expect(await jpy(new Date(day.end.getTime() - 1))).toEqual({ amountCents: 12345, bookings: 1 });
      expect(await jpy(new Date(day.start.getTime() - 1))).toBeUndefined();
      expect(await jpy(day.end)).toBeUndefined();
      const d = await readDashboard(db, { timeZone: tz, now: day.start });
      expect(d.revenueToday).toMatchObject({ date: day.date, timeZone: tz, from: day.start.toISOString(), to: day.end.toISOString() });
    }
    await applyBookingChange(db, { actor: 'system', bookingId: id, transitionKey: `${id}:cancel`, action: 'cancel', from: 'CONFIRMED', expectedVersion: 1, to: 'CANCELLED' });
    expect((await readDashboard(db, { timeZone: TZ, now: created })).revenueToday.byCurrency.JPY).toBeUndefined();
    await expectSummaryEqualsRecount(created);
  });

  test('shards spread bookings over every row', () => {
    const seen = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`bk-${i}`)));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
