-- Dashboard summary rows (db/dashboard-store.ts): maintained in the same transaction as every booking
-- creation and transition, so GET /v1/dashboard reads a few dozen small rows whatever the number of
-- bookings. Reconciled against the raw tables by the `dashboard-reconcile` schedule.

-- CreateTable
CREATE TABLE "dashboard_counters" (
    "metric" VARCHAR(40) NOT NULL,
    "shard" SMALLINT NOT NULL,
    "value" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "dashboard_counters_pkey" PRIMARY KEY ("metric","shard")
);

-- CreateTable
CREATE TABLE "dashboard_car_activity" (
    "car_id" VARCHAR(64) NOT NULL,
    "active" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "dashboard_car_activity_pkey" PRIMARY KEY ("car_id")
);

-- CreateTable
CREATE TABLE "dashboard_revenue" (
    "bucket" TIMESTAMPTZ(0) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "shard" SMALLINT NOT NULL,
    "amount_cents" BIGINT NOT NULL DEFAULT 0,
    "bookings" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "dashboard_revenue_pkey" PRIMARY KEY ("bucket","currency","shard")
);

-- CreateTable
CREATE TABLE "dashboard_reconciliations" (
    "id" BIGSERIAL NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "duration_ms" INTEGER NOT NULL,
    "lock_wait_ms" INTEGER NOT NULL,
    "revenue_since" TIMESTAMPTZ(3) NOT NULL,
    "corrected" INTEGER NOT NULL,
    "drift" JSONB NOT NULL,
    "workflow_id" VARCHAR(200),

    CONSTRAINT "dashboard_reconciliations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "dashboard_reconciliations_finished_at_idx" ON "dashboard_reconciliations"("finished_at");

-- Every counter row exists from the start (8 shards per metric, DASHBOARD_SHARDS in the code), so the
-- write path only ever updates rows. Existing data is summarised into shard 0, so a database migrated
-- with bookings already in it serves a correct dashboard at once.
INSERT INTO "dashboard_counters" ("metric", "shard", "value")
SELECT m.metric, s.shard, 0
FROM unnest(ARRAY['bookings.CONFIRMED', 'bookings.ONGOING', 'bookings.OVERDUE', 'bookings.COMPLETED',
                  'bookings.CANCELLED', 'bookings.NO_SHOW', 'cars.active']) AS m(metric)
CROSS JOIN generate_series(0, 7) AS s(shard);

UPDATE "dashboard_counters" c SET "value" = t.n
FROM (SELECT 'bookings.' || "status"::text AS metric, count(*) AS n FROM "bookings" GROUP BY "status") t
WHERE c."metric" = t.metric AND c."shard" = 0;

INSERT INTO "dashboard_car_activity" ("car_id", "active")
SELECT "car_id", count(*) FROM "bookings" WHERE "status" IN ('ONGOING', 'OVERDUE') GROUP BY "car_id";

UPDATE "dashboard_counters" SET "value" = (SELECT count(*) FROM "dashboard_car_activity" WHERE "active" > 0)
WHERE "metric" = 'cars.active' AND "shard" = 0;

INSERT INTO "dashboard_revenue" ("bucket", "currency", "shard", "amount_cents", "bookings")
SELECT date_bin('15 minutes', "created_at", TIMESTAMPTZ '1970-01-01 00:00:00+00'), "currency", 0, sum("amount_cents"), count(*)
FROM "bookings" WHERE "status" <> 'CANCELLED' GROUP BY 1, 2;
