-- A booking's lifecycle runs once: workflow_started_at marks that its workflow start succeeded, so a
-- repeated create never starts a second run after Temporal forgot the first (retention).
-- Every booking write is a compare-and-set on (status, version); a refused write is recorded in
-- booking_write_conflicts, where the stuck-work watchdog finds it.

-- AlterTable
ALTER TABLE "bookings" ADD COLUMN "workflow_started_at" TIMESTAMPTZ(3);

-- Rows written before this migration whose lifecycle already moved are started by definition; a
-- CONFIRMED row at version 1 may still be waiting for its start and is judged at its next create.
UPDATE "bookings" SET "workflow_started_at" = "created_at" WHERE "version" > 1;

-- CreateTable
CREATE TABLE "booking_write_conflicts" (
    "id" BIGSERIAL NOT NULL,
    "booking_id" VARCHAR(64) NOT NULL,
    "transition_key" VARCHAR(160) NOT NULL,
    "action" VARCHAR(40) NOT NULL,
    "to_status" "BookingStatus" NOT NULL,
    "expected_status" "BookingStatus" NOT NULL,
    "expected_version" INTEGER,
    "actual_status" "BookingStatus" NOT NULL,
    "actual_version" INTEGER NOT NULL,
    "workflow_id" VARCHAR(80) NOT NULL,
    "run_id" VARCHAR(64),
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "booking_write_conflicts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "booking_write_conflicts_transition_key_key" ON "booking_write_conflicts"("transition_key");

-- CreateIndex
CREATE INDEX "booking_write_conflicts_at_idx" ON "booking_write_conflicts"("at");

-- AddForeignKey
ALTER TABLE "booking_write_conflicts" ADD CONSTRAINT "booking_write_conflicts_booking_id_fkey" FOREIGN KEY ("booking_id") REFERENCES "bookings"("id") ON DELETE CASCADE ON UPDATE CASCADE;
