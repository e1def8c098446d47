// scripts/seed.ts against a fresh database: 20,000 users, bookings and a promo pool (timings printed), and a
// second run that updates instead of duplicating.
import { createDb, type Db } from '../../db/client';
import { readDashboard, recomputeDashboard } from '../../db/dashboard-store';
import { main, parseSeedArgs, UsageError, demoUser, demoPromoCode } from '../../scripts/seed';
import { createTestDatabase } from '../helpers/database';

let database: { url: string; drop(): Promise<void> };
let db: Db;
beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
});
afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

async function counts() {
  const [users, optedOut, bookings, events, cars, pools, codes] = await Promise.all([
    db.user.count(),
    db.user.count({ where: { optedOut: true } }),
    db.booking.count(),
    db.bookingEvent.count(),
    db.car.count(),
    db.promoPool.count(),
    db.promoCode.count(),
  ]);
  return { users, optedOut, bookings, events, cars, pools, codes };
}

test('seeds 20,000 users, 500 bookings and a pool of 5,000 codes; a second run duplicates nothing', async () => {
  const lines: string[] = [];
  const args = ['--users', '20000', '--bookings', '500', '--pool-codes', '5000'];
  const first = await main(args, { env: { DATABASE_URL: database.url }, log: (m) => lines.push(m) });
  process.stderr.write(`[seed.test] first run: ${JSON.stringify(first.timingsMs)}\n`);
  expect(first).toMatchObject({ users: 20_000, usersInserted: 20_000, usersUpdated: 0, bookingsInserted: 500, carsInserted: 25 });
  expect(first.pool).toMatchObject({ size: 5_000, created: true });

  const after = await counts();
  expect(after).toMatchObject({ users: 20_000, bookings: 500, events: 500, cars: 25, pools: 1, codes: 5_000 });
  // About 2 % opted out.
  expect(after.optedOut).toBeGreaterThan(200);
  expect(after.optedOut).toBeLessThan(600);

  const u = await db.user.findUniqueOrThrow({ where: { id: 'user-000001' } });
  expect(u).toMatchObject({ email: 'user-000001@example.test', phone: expect.stringMatching(/^\+1555\d{7}$/) });
  expect(u.firstName).toBeTruthy();
  const zones = await db.user.groupBy({ by: ['timezone'], _count: true });
  expect(zones.length).toBeGreaterThanOrEqual(10);
  for (const z of zones) expect(() => new Intl.DateTimeFormat('en', { timeZone: z.timezone! })).not.toThrow();

  const booking = await db.booking.findUniqueOrThrow({ where: { id: 'seed-booking-000001' }, include: { events: true } });
  expect(booking).toMatchObject({ status: 'CONFIRMED', customerId: 'user-000001', workflowId: 'booking-seed-booking-000001' });
  expect(booking.startsAt.getTime()).toBeGreaterThan(Date.now());
  expect(booking.events).toEqual([expect.objectContaining({ action: 'create', toStatus: 'CONFIRMED', transitionKey: 'seed-booking-000001:v1:create' })]);
  // No two bookings of a car overlap.
  const overlaps = await db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM "bookings" a JOIN "bookings" b
      ON a.car_id = b.car_id AND a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at`;
  expect(overlaps[0].n).toBe(0);
  expect(lines.join('\n')).toMatch(/no workflows/);
  expect(lines.join('\n')).toMatch(/users: 20000 \(20000 new, 0 updated\) in \d+\.\d\d s/);

  const second = await main(args, { env: { DATABASE_URL: database.url }, log: () => undefined });
  process.stderr.write(`[seed.test] second run: ${JSON.stringify(second.timingsMs)}\n`);
  expect(second).toMatchObject({ usersInserted: 0, usersUpdated: 20_000, bookingsInserted: 0, carsInserted: 0 });
  expect(second.pool).toEqual({ poolId: first.pool!.poolId, size: 5_000, created: false });
  expect(await counts()).toEqual(after);

  // More bookings later: only the new ones are added, still without overlaps.
  const third = await main(['--users', '0', '--bookings', '700'], { env: { DATABASE_URL: database.url }, log: () => undefined });
  expect(third).toMatchObject({ bookingsInserted: 200, usersInserted: 0 });
  expect(await db.booking.count()).toBe(700);
  // Bulk rows bypass the booking store: the seed brings the dashboard's summary up to date itself.
  const dashboard = await readDashboard(db, { timeZone: 'UTC' });
  expect(dashboard).toEqual(expect.objectContaining(await recomputeDashboard(db, { timeZone: 'UTC', now: new Date(dashboard.asOf) })));
  expect(dashboard.bookingsByStatus.CONFIRMED).toBe(700);
  const overlapsAfter = await db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM "bookings" a JOIN "bookings" b
      ON a.car_id = b.car_id AND a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at`;
  expect(overlapsAfter[0].n).toBe(0);
});

test('demo data is deterministic and valid', () => {
  expect(demoUser(42)).toEqual(demoUser(42));
  expect(demoUser(42).userId).toBe('user-000042');
  const codes = new Set(Array.from({ length: 50_000 }, (_, i) => demoPromoCode(i + 1)));
  expect(codes.size).toBe(50_000);
  for (const c of [...codes].slice(0, 100)) expect(c).toMatch(/^[A-Za-z0-9_-]{1,100}$/);
});

test('arguments: defaults, and clear refusals of bad ones', async () => {
  expect(parseSeedArgs([])).toEqual({ users: 1000, bookings: 1000, poolCodes: 0 });
  expect(parseSeedArgs(['--users', '100_000', '--pool-codes', '10'])).toEqual({ users: 100_000, bookings: 1000, poolCodes: 10 });
  for (const bad of [['--users', 'lots'], ['--users', '-5'], ['--userz', '5'], ['--pool-codes', '200001'], ['extra']]) {
    expect(() => parseSeedArgs(bad)).toThrow(UsageError);
  }
  await expect(main(['--users', '1'], { env: {}, log: () => undefined })).rejects.toThrow(/DATABASE_URL is not set/);
});
