// `npm run seed -- --users 100000 [--bookings 1000] [--pool-codes 50000]`: demo data for trying Keel.
//
//   users       user-000001 ... with realistic first names, emails user-000001@example.test, phone
//               numbers, push tokens for most, a mix of time zones and locales, ~2 % opted out.
//               Written through db/user-store.ts (the API's own write path), 10,000 per statement.
//   bookings    CONFIRMED bookings in 2030 (seed-booking-000001 ...), with their cars and 'create' events,
//               written straight into the tables in bulk. They have NO workflows: they are data for
//               reading and for campaigns' audiences, not bookings Keel will drive through a lifecycle.
//   pool codes  optionally, one promo pool of N codes (Idempotency-Key seed-pool-<N>), through
//               db/promo-store.ts.
//
// Deterministic and idempotent: running it again updates the same users and finds the same bookings and
// pool; nothing is duplicated. DATABASE_URL points at the database; pending migrations are applied first.
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { cliDatabaseUrl } from '../config/dev-database';
import { loadEnv } from '../config/env';
import { createDb, type Db } from '../db/client';
import { bookingRequestHash } from '../db/booking-store';
import { reconcileDashboard } from '../db/dashboard-store';
import { migrate } from '../db/migrate';
import { createPromoPool } from '../db/promo-store';
import { upsertUsers, type UserInput } from '../db/user-store';
import { workflowIdForBooking } from '../domain/booking';
import { MAX_CODES_PER_POOL } from '../domain/campaign';

export const USAGE = 'usage: npm run seed -- [--users N (default 1000)] [--bookings N (default 1000)] [--pool-codes N (default 0: no pool)]';

const BATCH = 10_000;
const MAX_USERS = 10_000_000;
const MAX_BOOKINGS = 1_000_000;
/** Bookings per car: each car's bookings follow each other without overlapping. */
const BOOKINGS_PER_CAR = 20;
const SEED_ACTOR = 'system:seed';
/** Far enough ahead that nothing is due; fixed so a second run writes the very same rows. */
const BOOKINGS_FROM = Date.parse('2030-01-07T08:00:00Z');

export interface SeedOptions {
  users: number;
  bookings: number;
  poolCodes: number;
}

export interface SeedResult extends SeedOptions {
  usersInserted: number;
  usersUpdated: number;
  bookingsInserted: number;
  carsInserted: number;
  pool?: { poolId: string; size: number; created: boolean };
  timingsMs: { migrate: number; users: number; bookings: number; pool: number; total: number };
}

export class UsageError extends Error {
  override name = 'UsageError';
}

function count(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.replace(/_/g, ''))) throw new UsageError(`--${name} must be a whole number (got "${raw}")\n${USAGE}`);
  const n = Number(raw.replace(/_/g, ''));
  if (n > max) throw new UsageError(`--${name} must be at most ${max} (got ${n})\n${USAGE}`);
  return n;
}

export function parseSeedArgs(argv: string[]): SeedOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { users: { type: 'string' }, bookings: { type: 'string' }, 'pool-codes': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  return {
    users: count('users', values.users, 1000, MAX_USERS),
    bookings: count('bookings', values.bookings, 1000, MAX_BOOKINGS),
    poolCodes: count('pool-codes', values['pool-codes'], 0, MAX_CODES_PER_POOL),
  };
}

// --- deterministic demo data -------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), seeded per row: the same row always gets the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** Where demo users live: time zone, locale, first names common there, and a weight. */
const REGIONS = [
  { weight: 18, timezone: 'Europe/Paris', locale: 'fr-FR', names: ['Camille', 'Louis', 'Léa', 'Hugo', 'Chloé', 'Jules', 'Manon', 'Gabriel', 'Inès', 'Arthur'] },
  { weight: 14, timezone: 'Europe/Berlin', locale: 'de-DE', names: ['Lukas', 'Mia', 'Jonas', 'Emma', 'Felix', 'Hannah', 'Leon', 'Sophie', 'Paul', 'Lena'] },
  { weight: 10, timezone: 'Europe/London', locale: 'en-GB', names: ['Oliver', 'Amelia', 'George', 'Isla', 'Harry', 'Ava', 'Jack', 'Freya', 'Charlie', 'Grace'] },
  { weight: 8, timezone: 'Europe/Madrid', locale: 'es-ES', names: ['Lucía', 'Martín', 'Sofía', 'Mateo', 'Martina', 'Hugo', 'Julia', 'Leo', 'Paula', 'Daniel'] },
  { weight: 6, timezone: 'Europe/Rome', locale: 'it-IT', names: ['Giulia', 'Leonardo', 'Aurora', 'Francesco', 'Alice', 'Alessandro', 'Ginevra', 'Lorenzo'] },
  { weight: 5, timezone: 'Europe/Amsterdam', locale: 'nl-NL', names: ['Daan', 'Julia', 'Sem', 'Tess', 'Lucas', 'Nora', 'Finn', 'Saar'] },
  { weight: 4, timezone: 'Europe/Warsaw', locale: 'pl-PL', names: ['Zuzanna', 'Antoni', 'Julia', 'Jan', 'Hanna', 'Aleksander', 'Maja', 'Franciszek'] },
  { weight: 12, timezone: 'America/New_York', locale: 'en-US', names: ['Liam', 'Olivia', 'Noah', 'Emma', 'James', 'Charlotte', 'Elijah', 'Amelia', 'William', 'Sophia'] },
  { weight: 6, timezone: 'America/Chicago', locale: 'en-US', names: ['Benjamin', 'Mia', 'Lucas', 'Harper', 'Henry', 'Evelyn', 'Alexander', 'Abigail'] },
  { weight: 5, timezone: 'America/Los_Angeles', locale: 'en-US', names: ['Mason', 'Emily', 'Ethan', 'Ella', 'Sebastian', 'Avery', 'Jacob', 'Scarlett'] },
  { weight: 4, timezone: 'America/Sao_Paulo', locale: 'pt-BR', names: ['Miguel', 'Helena', 'Arthur', 'Alice', 'Heitor', 'Laura', 'Theo', 'Valentina'] },
  { weight: 3, timezone: 'Asia/Tokyo', locale: 'ja-JP', names: ['Haruto', 'Himari', 'Sota', 'Yui', 'Minato', 'Aoi', 'Ren', 'Sakura'] },
  { weight: 3, timezone: 'Asia/Kolkata', locale: 'en-IN', names: ['Aarav', 'Saanvi', 'Vihaan', 'Ananya', 'Aditya', 'Diya', 'Arjun', 'Ishaan'] },
  { weight: 2, timezone: 'Australia/Sydney', locale: 'en-AU', names: ['Oliver', 'Charlotte', 'Noah', 'Isla', 'Leo', 'Olivia', 'Henry', 'Mia'] },
] as const;
const TOTAL_WEIGHT = REGIONS.reduce((s, r) => s + r.weight, 0);

export function seedUserId(n: number): string {
  return `user-${String(n).padStart(6, '0')}`;
}

export function demoUser(n: number): UserInput {
  const r = rng(n * 7919 + 17);
  let w = r() * TOTAL_WEIGHT;
  const region = REGIONS.find((x) => (w -= x.weight) < 0) ?? REGIONS[0];
  const userId = seedUserId(n);
  return {
    userId,
    email: `${userId}@example.test`,
    // +1 555 01xx numbers are reserved for fiction; the rest of the 555 range is as good for a demo.
    phone: `+1555${String(n % 10_000_000).padStart(7, '0')}`,
    pushToken: r() < 0.6 ? `demo-push-${createHash('sha256').update(userId).digest('hex').slice(0, 32)}` : null,
    firstName: pick(r, region.names),
    timezone: region.timezone,
    locale: region.locale,
    optedOut: r() < 0.02,
  };
}

/** Demo promo codes: unique by construction (the index), with a few letters that look random. */
export function demoPromoCode(n: number): string {
  const tail = createHash('sha256').update(`keel-seed-code:${n}`).digest('hex').slice(0, 4).toUpperCase();
  return `KEEL-${n.toString(36).toUpperCase().padStart(6, '0')}-${tail}`;
}

// --- writers -----------------------------------------------------------------------------------

async function seedUsers(db: Db, total: number, log: (m: string) => void): Promise<{ inserted: number; updated: number }> {
  const sum = { inserted: 0, updated: 0 };
  for (let from = 1; from <= total; from += BATCH) {
    const to = Math.min(total, from + BATCH - 1);
    const batch: UserInput[] = [];
    for (let n = from; n <= to; n++) batch.push(demoUser(n));
    const r = await upsertUsers(db, batch);
    sum.inserted += r.inserted;
    sum.updated += r.updated;
    if (total > BATCH) log(`  users ${to}/${total}`);
  }
  return sum;
}

async function seedBookings(db: Db, total: number, users: number): Promise<{ bookings: number; cars: number }> {
  let bookings = 0;
  let cars = 0;
  for (let from = 1; from <= total; from += BATCH) {
    const to = Math.min(total, from + BATCH - 1);
    const ids: string[] = [];
    const customers: string[] = [];
    const carIds: string[] = [];
    const starts: string[] = [];
    const ends: string[] = [];
    const amounts: number[] = [];
    const hashes: string[] = [];
    const workflowIds: string[] = [];
    for (let n = from; n <= to; n++) {
      const r = rng(n * 104_729 + 3);
      const id = `seed-booking-${String(n).padStart(6, '0')}`;
      // Booking n's car and time depend on n alone, so a later run with a larger --bookings adds
      // bookings that cannot overlap the ones already there.
      const car = Math.floor((n - 1) / BOOKINGS_PER_CAR);
      const slot = (n - 1) % BOOKINGS_PER_CAR;
      // One slot per car every 6 hours, lasting 1-4 hours: bookings of one car never overlap.
      const startsAt = new Date(BOOKINGS_FROM + slot * 6 * 3_600_000);
      const endsAt = new Date(startsAt.getTime() + (1 + Math.floor(r() * 4)) * 3_600_000);
      const b = {
        bookingId: id,
        customerId: users > 0 ? seedUserId(1 + ((n - 1) % users)) : `seed-customer-${String(n).padStart(6, '0')}`,
        carId: `seed-car-${String(car + 1).padStart(5, '0')}`,
        startsAt,
        endsAt,
        amountCents: 1500 + Math.floor(r() * 200) * 50,
        currency: 'EUR',
      };
      ids.push(id);
      customers.push(b.customerId);
      carIds.push(b.carId);
      starts.push(startsAt.toISOString());
      ends.push(endsAt.toISOString());
      amounts.push(b.amountCents);
      hashes.push(bookingRequestHash(b));
      workflowIds.push(workflowIdForBooking(id));
    }
    await db.$transaction(
      async (tx) => {
        cars += await tx.$executeRawUnsafe(
          'INSERT INTO "cars" (id) SELECT DISTINCT c FROM unnest($1::text[]) AS t(c) ON CONFLICT (id) DO NOTHING',
          carIds,
        );
        bookings += await tx.$executeRawUnsafe(
          `INSERT INTO "bookings" (id, customer_id, car_id, starts_at, ends_at, amount_cents, currency, request_hash, workflow_id)
           SELECT id, customer_id, car_id, starts_at, ends_at, amount_cents, 'EUR', request_hash, workflow_id
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::text[], $8::text[])
             AS t(id, customer_id, car_id, starts_at, ends_at, amount_cents, request_hash, workflow_id)
           ON CONFLICT (id) DO NOTHING`,
          ids, customers, carIds, starts, ends, amounts, hashes, workflowIds,
        );
        await tx.$executeRawUnsafe(
          `INSERT INTO "booking_events" (booking_id, transition_key, action, to_status, actor, reason)
           SELECT id, id || ':v1:create', 'create', 'CONFIRMED'::"BookingStatus", $2, 'seed data (no workflow)'
           FROM unnest($1::text[]) AS t(id)
           ON CONFLICT (transition_key) DO NOTHING`,
          ids, SEED_ACTOR,
        );
      },
      { maxWait: 10_000, timeout: 120_000 },
    );
  }
  return { bookings, cars };
}

// --- entry point -------------------------------------------------------------------------------

export interface SeedDeps {
  env?: NodeJS.ProcessEnv;
  log?: (msg: string) => void;
}

export async function main(argv: string[] = process.argv.slice(2), deps: SeedDeps = {}): Promise<SeedResult> {
  const log = deps.log ?? ((m: string) => console.log(m));
  const opts = parseSeedArgs(argv);
  const env = loadEnv(deps.env ?? process.env);
  // From the command line, the database `npm run dev` started here is found without DATABASE_URL.
  const databaseUrl = deps.env ? env.DATABASE_URL : cliDatabaseUrl(env);
  if (!databaseUrl) {
    throw new UsageError(
      'DATABASE_URL is not set and no `npm run dev` database was started here. Point it at the database to seed, e.g.\n' +
        '  DATABASE_URL=postgresql://user:password@localhost:5432/keel npm run seed -- --users 100000',
    );
  }
  const t0 = Date.now();
  await migrate(databaseUrl, { log: (m) => log(m) });
  const tMigrate = Date.now();
  const db = createDb(databaseUrl, { poolSize: 2 });
  try {
    const users = await seedUsers(db, opts.users, log);
    const tUsers = Date.now();
    const ms = (a: number, b: number) => `${((b - a) / 1000).toFixed(2)} s`;
    const perSec = (n: number, a: number, b: number) => `${Math.round(n / Math.max(0.001, (b - a) / 1000)).toLocaleString('en-US')}/s`;
    log(`users: ${opts.users} (${users.inserted} new, ${users.updated} updated) in ${ms(tMigrate, tUsers)}, ${perSec(opts.users, tMigrate, tUsers)}`);

    const booked = opts.bookings > 0 ? await seedBookings(db, opts.bookings, opts.users) : { bookings: 0, cars: 0 };
    const tBookings = Date.now();
    if (opts.bookings > 0) {
      log(`bookings: ${opts.bookings} (${booked.bookings} new, ${opts.bookings - booked.bookings} already there; ${booked.cars} new cars) in ${ms(tUsers, tBookings)}`);
      log('  note: seeded bookings have no workflows; Keel will not start, remind or close them.');
      if (booked.bookings > 0) {
        // Bulk rows bypass the booking store, so bring the dashboard's summary rows up to date now
        // rather than at the next hourly reconciliation (the same recount the schedule runs).
        const r = await reconcileDashboard(db, { workflowId: 'seed' });
        log(`  dashboard summary reconciled: ${r.corrected} summary row(s) updated in ${r.durationMs} ms`);
      }
    }

    let pool: SeedResult['pool'];
    if (opts.poolCodes > 0) {
      const codes = Array.from({ length: opts.poolCodes }, (_, i) => demoPromoCode(i + 1));
      const r = await createPromoPool(db, { idempotencyKey: `seed-pool-${opts.poolCodes}`, name: `Demo pool (${opts.poolCodes} codes)`, codes });
      if (r.kind === 'different_request') log(`  note: pool ${r.pool.poolId} under key seed-pool-${opts.poolCodes} holds other codes; left as it is`);
      pool = { poolId: r.pool.poolId, size: r.pool.size, created: r.kind === 'created' };
    }
    const tPool = Date.now();
    if (pool) log(`promo pool: ${pool.poolId} with ${pool.size} codes (${pool.created ? 'created' : 'already there'}) in ${ms(tBookings, tPool)}`);
    log(`done in ${ms(t0, tPool)} (migrations ${ms(t0, tMigrate)})`);
    return {
      ...opts,
      usersInserted: users.inserted,
      usersUpdated: users.updated,
      bookingsInserted: booked.bookings,
      carsInserted: booked.cars,
      pool,
      timingsMs: { migrate: tMigrate - t0, users: tUsers - tMigrate, bookings: tBookings - tUsers, pool: tPool - tBookings, total: tPool - t0 },
    };
  } finally {
    await db.$disconnect();
  }
}

if (require.main === module) {
  main().catch((err) => {
    const e = err as { message?: string; code?: string };
    console.error(err instanceof UsageError ? err.message : `seed failed: ${e.message || e.code || String(err)}`);
    process.exitCode = 1;
  });
}
