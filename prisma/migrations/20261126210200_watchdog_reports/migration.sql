-- The stuck-work watchdog's runs (what each found, the incident it opened) and problem reports from
-- customer service and client channels.

-- CreateEnum
CREATE TYPE "ProblemReportStatus" AS ENUM ('NEW', 'LINKED');

-- CreateTable
CREATE TABLE "watchdog_runs" (
    "id" VARCHAR(200) NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL,
    "finished_at" TIMESTAMPTZ(3) NOT NULL,
    "stuck_count" INTEGER NOT NULL DEFAULT 0,
    "counts" JSONB NOT NULL,
    "findings" JSONB NOT NULL,
    "detector_errors" JSONB,
    "incident_id" VARCHAR(40),

    CONSTRAINT "watchdog_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "problem_reports" (
    "id" VARCHAR(40) NOT NULL,
    "reporter" VARCHAR(200) NOT NULL,
    "contact" VARCHAR(200) NOT NULL,
    "summary" TEXT NOT NULL,
    "severity_guess" VARCHAR(4),
    "booking_id" VARCHAR(64),
    "booking_found" BOOLEAN,
    "incident_id" VARCHAR(40),
    "status" "ProblemReportStatus" NOT NULL DEFAULT 'NEW',
    "idempotency_key" VARCHAR(200),
    "request_hash" CHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" VARCHAR(80) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "problem_reports_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "watchdog_runs_finished_at_idx" ON "watchdog_runs"("finished_at");

-- CreateIndex
CREATE UNIQUE INDEX "problem_reports_idempotency_key_key" ON "problem_reports"("idempotency_key");

-- CreateIndex
CREATE INDEX "problem_reports_created_at_id_idx" ON "problem_reports"("created_at", "id");

-- CreateIndex
CREATE INDEX "problem_reports_status_created_at_id_idx" ON "problem_reports"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "problem_reports_incident_id_idx" ON "problem_reports"("incident_id");
