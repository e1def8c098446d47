// The dashboard's summary rows: kept by the booking write path (db/booking-store.ts calls
// recordBookingSummary in the same transaction as each creation and applied transition, so a retried
// activity whose transition key exists never counts twice), read by GET /v1/dashboard as a few dozen
// small rows whatever the number of bookings, and reconciled against the raw tables on a schedule.
//
// Concurrency: each metric is spread over DASHBOARD_SHARDS rows (chosen by booking or car id), so
// transitions of different bookings rarely wait on the same row. Every summary write first takes a
// *shared* advisory lock (writers never wait for each other on it); the reconciliation takes it
// *exclusively*, so it recounts while no summary change is in flight and none can commit until it has
// written its corrections: a change either is visible to the recount or applies its delta on top.
import type { Db, Prisma } from './client';
import { BOOKING_STATUSES, type BookingStatus } from '../domain/booking';
import { businessDay, revenueBucket } from '../domain/business-day';

type Tx = Prisma.TransactionClient;

/** Rows per metric; the migration creates exactly these (shards 0..7). */
export const DASHBOARD_SHARDS = 8;
/** Revenue rows per (15-minute bucket, currency): fewer, because a read sums a whole day of buckets
 *  (up to 96 x this x currencies rows), and only creations and cancellations write them. */
export const REVENUE_SHARDS = 4;
/** pg_advisory_xact_lock key pair: 'keel' and 1 = the dashboard summary. */
const LOCK_CLASS = 1801807212;
const LOCK_ID = 1;
const ACTIVE: ReadonlySet<BookingStatus> = new Set(['ONGOING', 'OVERDUE']);

/** FNV-1a of the id, modulo the shard count: the same booking (or car) always lands on the same row. */
export function shardOf(key: string, shards = DASHBOARD_SHARDS): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** What the summary needs to know of a booking. */
export interface SummaryBooking {
  id: string;
  carId: string;
  status: BookingStatus;
  amountCents: number;
  currency: string;
  createdAt: Date;
}

/** A booking row as locked for a change: its summary fields and the version a compare-and-set checks. */
export interface LockedBooking extends SummaryBooking {
  version: number;
}

/** Locks the booking row and returns its state before a change (null when there is no row). */
export async function lockBookingForSummary(tx: Tx, bookingId: string): Promise<LockedBooking | null> {
  const rows = await tx.$queryRaw<Array<{ id: string; car_id: string; status: BookingStatus; amount_cents: number; currency: string; created_at: Date; version: number }>>`
    SELECT "id", "car_id", "status"::text AS "status", "amount_cents", "currency", "created_at", "version"
    FROM "bookings" WHERE "id" = ${bookingId} FOR UPDATE`;
  const r = rows[0];
  return r
    ? { id: r.id, carId: r.car_id, status: r.status, amountCents: r.amount_cents, currency: r.currency, createdAt: r.created_at, version: r.version }
    : null;
}

/**
 * What a creation moves, for keel_create_booking (db/booking-store.ts createBooking), which applies it
 * in SQL: exactly what recordBookingSummary(tx, null, <the new CONFIRMED booking>) writes (one
 * bookings.CONFIRMED counter, no car activity, the revenue of the creation's bucket), with the
 * sharding decided here, and the advisory lock every summary writer takes shared.
 */
export function creationSummary(bookingId: string) {
  return {
    counterMetric: 'bookings.CONFIRMED',
    counterShard: shardOf(bookingId),
    revenueShard: shardOf(bookingId, REVENUE_SHARDS),
    lockClass: LOCK_CLASS,
    lockId: LOCK_ID,
  };
}

const contributesRevenue = (b: SummaryBooking | null) => b !== null && b.status !== 'CANCELLED';

/**
 * Moves the summary from `before` to `after` (null before = created, null after = deleted). Call it
 * inside the transaction that writes the booking, after the booking row is locked or inserted.
 * Changes that move no counter (connect, extend) write nothing.
 */
export async function recordBookingSummary(tx: Tx, before: SummaryBooking | null, after: SummaryBooking | null): Promise<void> {
  const ref = after ?? before;
  if (!ref) return;
  const counters = new Map<string, { metric: string; shard: number; delta: number }>();
  const add = (metric: string, shard: number, delta: number) => {
    const key = `${metric}\u0000${shard}`;
    const c = counters.get(key) ?? { metric, shard, delta: 0 };
    c.delta += delta;
    counters.set(key, c);
  };
  if (before?.status !== after?.status) {
    if (before) add(`bookings.${before.status}`, shardOf(before.id), -1);
    if (after) add(`bookings.${after.status}`, shardOf(after.id), 1);
  }
  const wasActive = before !== null && ACTIVE.has(before.status);
  const isActive = after !== null && ACTIVE.has(after.status);
  const revenueChange = contributesRevenue(before) !== contributesRevenue(after);
  if (counters.size === 0 && wasActive === isActive && !revenueChange) return;

  await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${LOCK_CLASS}::int, ${LOCK_ID}::int)`;
  if (wasActive !== isActive) {
    // A per-car count, not a flag: an OVERDUE booking and the car's next ONGOING one can overlap, and
    // the car stops being active only when both have ended.
    const delta = isActive ? 1 : -1;
    const [row] = await tx.$queryRaw<Array<{ active: number }>>`
      INSERT INTO "dashboard_car_activity" ("car_id", "active") VALUES (${ref.carId}, ${delta})
      ON CONFLICT ("car_id") DO UPDATE SET "active" = "dashboard_car_activity"."active" + EXCLUDED."active"
      RETURNING "active"`;
    if (delta === 1 && row.active === 1) add('cars.active', shardOf(ref.carId), 1);
    if (delta === -1 && row.active === 0) add('cars.active', shardOf(ref.carId), -1);
  }
  const rows = [...counters.values()].filter((c) => c.delta !== 0);
  if (rows.length) {
    // Rows always taken in the same order, so two transactions sharing two rows cannot deadlock.
    rows.sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : a.shard - b.shard));
    await tx.$executeRaw`
      INSERT INTO "dashboard_counters" ("metric", "shard", "value")
      SELECT * FROM unnest(${rows.map((r) => r.metric)}::varchar[], ${rows.map((r) => r.shard)}::smallint[], ${rows.map((r) => r.delta)}::bigint[])
      ON CONFLICT ("metric", "shard") DO UPDATE SET "value" = "dashboard_counters"."value" + EXCLUDED."value"`;
  }
  if (revenueChange) {
    // Revenue belongs to the bucket the booking was created in: a cancellation takes it back from there.
    const sign = contributesRevenue(after) ? 1 : -1;
    await tx.$executeRaw`
      INSERT INTO "dashboard_revenue" ("bucket", "currency", "shard", "amount_cents", "bookings")
      VALUES (${revenueBucket(ref.createdAt)}, ${ref.currency}, ${shardOf(ref.id, REVENUE_SHARDS)}, ${sign * ref.amountCents}, ${sign})
      ON CONFLICT ("bucket", "currency", "shard") DO UPDATE SET
        "amount_cents" = "dashboard_revenue"."amount_cents" + EXCLUDED."amount_cents",
        "bookings" = "dashboard_revenue"."bookings" + EXCLUDED."bookings"`;
  }
}

// ---- reading ------------------------------------------------------------------------------------

export interface CurrencyRevenue {
  amountCents: number;
  bookings: number;
}

export interface Dashboard {
  activeCars: number;
  bookingsByStatus: Record<BookingStatus, number>;
  revenueToday: { date: string; timeZone: string; from: string; to: string; byCurrency: Record<string, CurrencyRevenue> };
  runningCampaigns: number;
  openIncidents: number;
  asOf: string;
}

export interface DashboardQuery {
  timeZone: string;
  now?: Date;
}

interface RawDashboard {
  statuses: Record<string, number | string>;
  active_cars: number | string;
  revenue: Record<string, { amountCents: number | string; bookings: number | string }>;
  running_campaigns: number;
  open_incidents: number;
}

function shape(raw: RawDashboard, day: ReturnType<typeof businessDay>, now: Date): Dashboard {
  const bookingsByStatus = Object.fromEntries(BOOKING_STATUSES.map((s) => [s, Number(raw.statuses[s] ?? 0)])) as Record<BookingStatus, number>;
  const byCurrency: Record<string, CurrencyRevenue> = {};
  for (const [currency, r] of Object.entries(raw.revenue).sort(([a], [b]) => a.localeCompare(b))) {
    byCurrency[currency.trim()] = { amountCents: Number(r.amountCents), bookings: Number(r.bookings) };
  }
  return {
    activeCars: Number(raw.active_cars),
    bookingsByStatus,
    revenueToday: { date: day.date, timeZone: day.timeZone, from: day.start.toISOString(), to: day.end.toISOString(), byCurrency },
    runningCampaigns: Number(raw.running_campaigns),
    openIncidents: Number(raw.open_incidents),
    asOf: now.toISOString(),
  };
}

// Running campaigns and open incidents are counted, not kept: both tables have an index led by status
// (campaigns_status_idx, incidents_status_declared_at_idx), so the count touches only the active rows,
// however long the history grows, and the campaign and incident write paths stay as they are.
// Drills are exercises, not incidents an operator must act on.
const RUNNING_CAMPAIGNS = `(SELECT count(*) FROM "campaigns" WHERE "status" = 'RUNNING')::int`;
const OPEN_INCIDENTS = `(SELECT count(*) FROM "incidents" WHERE "status" IN ('OPEN', 'MITIGATED') AND NOT "drill")::int`;

/** The dashboard from the summary rows: one round trip, a few dozen rows read. */
export async function readDashboard(db: Db | Tx, q: DashboardQuery): Promise<Dashboard & { reconciliation: { at: string; corrected: number } | null }> {
  const now = q.now ?? new Date();
  const day = businessDay(now, q.timeZone);
  const [raw] = await db.$queryRawUnsafe<Array<RawDashboard & { reconciliation: { at: string; corrected: number } | null }>>(
    `SELECT
       (SELECT coalesce(json_object_agg(substr("metric", 10), "total"), '{}') FROM
          (SELECT "metric", sum("value")::bigint AS "total" FROM "dashboard_counters" WHERE "metric" LIKE 'bookings.%' GROUP BY "metric") c) AS "statuses",
       (SELECT coalesce(sum("value"), 0)::bigint FROM "dashboard_counters" WHERE "metric" = 'cars.active') AS "active_cars",
       (SELECT coalesce(json_object_agg("currency", json_build_object('amountCents', "amt", 'bookings', "n")), '{}') FROM
          (SELECT "currency", sum("amount_cents")::bigint AS "amt", sum("bookings")::bigint AS "n" FROM "dashboard_revenue"
           WHERE "bucket" >= $1 AND "bucket" < $2 GROUP BY "currency" HAVING sum("bookings") <> 0 OR sum("amount_cents") <> 0) r) AS "revenue",
       ${RUNNING_CAMPAIGNS} AS "running_campaigns",
       ${OPEN_INCIDENTS} AS "open_incidents",
       (SELECT json_build_object('at', "finished_at", 'corrected', "corrected") FROM "dashboard_reconciliations" ORDER BY "id" DESC LIMIT 1) AS "reconciliation"`,
    day.start,
    day.end,
  );
  return { ...shape(raw, day, now), reconciliation: raw.reconciliation };
}

/**
 * The naive dashboard: COUNT/SUM/DISTINCT over the raw tables, what the old admin page ran on every
 * load. The reference the summary must equal (tests) and the baseline of bench/dashboard.ts.
 */
export async function recomputeDashboard(db: Db | Tx, q: DashboardQuery): Promise<Dashboard> {
  const now = q.now ?? new Date();
  const day = businessDay(now, q.timeZone);
  const [raw] = await db.$queryRawUnsafe<RawDashboard[]>(
    `SELECT
       (SELECT coalesce(json_object_agg("status", "n"), '{}') FROM
          (SELECT "status"::text AS "status", count(*) AS "n" FROM "bookings" GROUP BY "status") s) AS "statuses",
       (SELECT count(DISTINCT "car_id") FROM "bookings" WHERE "status" IN ('ONGOING', 'OVERDUE')) AS "active_cars",
       (SELECT coalesce(json_object_agg("currency", json_build_object('amountCents', "amt", 'bookings', "n")), '{}') FROM
          (SELECT "currency", sum("amount_cents")::bigint AS "amt", count(*) AS "n" FROM "bookings"
           WHERE "created_at" >= $1 AND "created_at" < $2 AND "status" <> 'CANCELLED' GROUP BY "currency") r) AS "revenue",
       ${RUNNING_CAMPAIGNS} AS "running_campaigns",
       ${OPEN_INCIDENTS} AS "open_incidents"`,
    day.start,
    day.end,
  );
  return shape(raw, day, now);
}

// ---- reconciliation -----------------------------------------------------------------------------

export interface DashboardDrift {
  /** truth - summary per status, only where they differed. */
  bookingsByStatus: Partial<Record<BookingStatus, number>>;
  activeCars: number;
  /** Per-car active-booking counts that were wrong. */
  carRows: number;
  /** truth - summary per currency over the reconciled window, and how many buckets differed. */
  revenue: Record<string, { amountCents: number; bookings: number; buckets: number }>;
}

export interface ReconcileReport {
  id: string;
  startedAt: string;
  durationMs: number;
  lockWaitMs: number;
  revenueSince: string;
  /** Summary rows corrected: counter metrics + car rows + revenue buckets. 0 = no drift. */
  corrected: number;
  drift: DashboardDrift;
}

export interface ReconcileOptions {
  /** Revenue buckets from this time on are recounted (default: the last 48 hours, which holds the
   *  current business day of every time zone). `new Date(0)` rebuilds the whole history. */
  revenueSince?: Date;
  now?: Date;
  workflowId?: string;
  /** Longest wait for in-flight booking transactions (lock_timeout). */
  lockTimeoutMs?: number;
}

export const DEFAULT_REVENUE_WINDOW_MS = 48 * 3600_000;

/**
 * Recomputes the summary from the raw tables and corrects any drift, atomically with respect to
 * concurrent bookings: holding the exclusive advisory lock (READ COMMITTED, so every statement below
 * sees everything committed before the lock was granted and nothing can commit a summary change
 * until this transaction ends), it recounts and adds the difference to shard 0 of each wrong row.
 * Booking transitions wait for it (at their summary step) for as long as it runs.
 */
export async function reconcileDashboard(db: Db, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const startedAt = opts.now ?? new Date();
  const since = revenueBucket(opts.revenueSince ?? new Date(startedAt.getTime() - DEFAULT_REVENUE_WINDOW_MS));
  const t0 = performance.now();
  return db.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 30_000))}ms'`);
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${LOCK_CLASS}::int, ${LOCK_ID}::int)`;
      const lockWaitMs = Math.round(performance.now() - t0);

      // Bookings per status and active cars: totals compared with the sum of the shards.
      const [truth] = await tx.$queryRaw<Array<{ statuses: Record<string, number>; active_cars: number }>>`
        SELECT (SELECT coalesce(json_object_agg("status", "n"), '{}') FROM
                  (SELECT "status"::text AS "status", count(*) AS "n" FROM "bookings" GROUP BY "status") s) AS "statuses",
               (SELECT count(DISTINCT "car_id")::int FROM "bookings" WHERE "status" IN ('ONGOING', 'OVERDUE')) AS "active_cars"`;
      const kept = await tx.$queryRaw<Array<{ metric: string; total: bigint }>>`
        SELECT "metric", sum("value")::bigint AS "total" FROM "dashboard_counters" GROUP BY "metric"`;
      const keptBy = new Map(kept.map((k) => [k.metric, Number(k.total)]));
      const fixes: Array<{ metric: string; delta: number }> = [];
      const drift: DashboardDrift = { bookingsByStatus: {}, activeCars: 0, carRows: 0, revenue: {} };
      for (const s of BOOKING_STATUSES) {
        const d = Number(truth.statuses[s] ?? 0) - (keptBy.get(`bookings.${s}`) ?? 0);
        if (d !== 0) {
          drift.bookingsByStatus[s] = d;
          fixes.push({ metric: `bookings.${s}`, delta: d });
        }
      }
      drift.activeCars = truth.active_cars - (keptBy.get('cars.active') ?? 0);
      if (drift.activeCars !== 0) fixes.push({ metric: 'cars.active', delta: drift.activeCars });
      // Shards 0..N-1 of every metric exist (also after someone deleted rows), then shard 0 takes the fix.
      await tx.$executeRaw`
        INSERT INTO "dashboard_counters" ("metric", "shard", "value")
        SELECT m, s, 0 FROM unnest(${[...BOOKING_STATUSES.map((s) => `bookings.${s}`), 'cars.active']}::varchar[]) AS m
        CROSS JOIN generate_series(0, ${DASHBOARD_SHARDS - 1}::int) AS s
        ON CONFLICT ("metric", "shard") DO NOTHING`;
      if (fixes.length) {
        await tx.$executeRaw`
          UPDATE "dashboard_counters" c SET "value" = c."value" + f."delta"
          FROM unnest(${fixes.map((f) => f.metric)}::varchar[], ${fixes.map((f) => f.delta)}::bigint[]) AS f("metric", "delta")
          WHERE c."metric" = f."metric" AND c."shard" = 0`;
      }

      // Per-car active counts (they decide when cars.active moves): set to the truth where they differ.
      const [cars] = await tx.$queryRaw<Array<{ fixed: number }>>`
        WITH "truth" AS (
          SELECT "car_id", count(*)::int AS "n" FROM "bookings" WHERE "status" IN ('ONGOING', 'OVERDUE') GROUP BY "car_id"
        ), "wrong" AS (
          SELECT coalesce(t."car_id", a."car_id") AS "car_id", coalesce(t."n", 0) AS "n"
          FROM "truth" t FULL JOIN "dashboard_car_activity" a ON a."car_id" = t."car_id"
          WHERE coalesce(t."n", 0) <> coalesce(a."active", 0)
        ), "fixed" AS (
          INSERT INTO "dashboard_car_activity" ("car_id", "active") SELECT "car_id", "n" FROM "wrong"
          ON CONFLICT ("car_id") DO UPDATE SET "active" = EXCLUDED."active" RETURNING 1
        )
        SELECT count(*)::int AS "fixed" FROM "fixed"`;
      drift.carRows = cars.fixed;
      // Cars with nothing running need no row (keeps the table the size of the active fleet).
      await tx.$executeRaw`DELETE FROM "dashboard_car_activity" WHERE "active" = 0`;

      // Revenue per bucket and currency in the window.
      const revenue = await tx.$queryRaw<Array<{ currency: string; amount_cents: bigint; bookings: number; buckets: number }>>`
        WITH "truth" AS (
          SELECT date_bin('15 minutes', "created_at", TIMESTAMPTZ '1970-01-01 00:00:00+00') AS "bucket", "currency",
                 sum("amount_cents")::bigint AS "amt", count(*)::int AS "n"
          FROM "bookings" WHERE "created_at" >= ${since} AND "status" <> 'CANCELLED' GROUP BY 1, 2
        ), "kept" AS (
          SELECT "bucket", "currency", sum("amount_cents")::bigint AS "amt", sum("bookings")::int AS "n"
          FROM "dashboard_revenue" WHERE "bucket" >= ${since} GROUP BY 1, 2
        ), "wrong" AS (
          SELECT coalesce(t."bucket", k."bucket") AS "bucket", coalesce(t."currency", k."currency") AS "currency",
                 coalesce(t."amt", 0) - coalesce(k."amt", 0) AS "d_amt", coalesce(t."n", 0) - coalesce(k."n", 0) AS "d_n"
          FROM "truth" t FULL JOIN "kept" k ON k."bucket" = t."bucket" AND k."currency" = t."currency"
          WHERE coalesce(t."amt", 0) <> coalesce(k."amt", 0) OR coalesce(t."n", 0) <> coalesce(k."n", 0)
        ), "fixed" AS (
          INSERT INTO "dashboard_revenue" ("bucket", "currency", "shard", "amount_cents", "bookings")
          SELECT "bucket", "currency", 0, "d_amt", "d_n" FROM "wrong"
          ON CONFLICT ("bucket", "currency", "shard") DO UPDATE SET
            "amount_cents" = "dashboard_revenue"."amount_cents" + EXCLUDED."amount_cents",
            "bookings" = "dashboard_revenue"."bookings" + EXCLUDED."bookings"
          RETURNING 1
        )
        SELECT "currency", sum("d_amt")::bigint AS "amount_cents", sum("d_n")::int AS "bookings", count(*)::int AS "buckets"
        FROM "wrong" GROUP BY "currency"`;
      let revenueBuckets = 0;
      for (const r of revenue) {
        drift.revenue[r.currency.trim()] = { amountCents: Number(r.amount_cents), bookings: r.bookings, buckets: r.buckets };
        revenueBuckets += r.buckets;
      }

      const corrected = fixes.length + drift.carRows + revenueBuckets;
      const durationMs = Math.round(performance.now() - t0);
      const [rec] = await tx.$queryRaw<Array<{ id: bigint }>>`
        INSERT INTO "dashboard_reconciliations" ("started_at", "duration_ms", "lock_wait_ms", "revenue_since", "corrected", "drift", "workflow_id")
        VALUES (${startedAt}, ${durationMs}, ${lockWaitMs}, ${since}, ${corrected}, ${JSON.stringify(drift)}::jsonb, ${opts.workflowId ?? null})
        RETURNING "id"`;
      return { id: String(rec.id), startedAt: startedAt.toISOString(), durationMs, lockWaitMs, revenueSince: since.toISOString(), corrected, drift };
    },
    { isolationLevel: 'ReadCommitted', maxWait: 10_000, timeout: 10 * 60_000 },
  );
}
