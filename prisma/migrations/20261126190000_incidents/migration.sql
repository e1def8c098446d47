-- CreateEnum
CREATE TYPE "IncidentStatus" AS ENUM ('OPEN', 'MITIGATED', 'RESOLVED', 'CLOSED');

-- CreateTable
CREATE TABLE "incidents" (
    "id" VARCHAR(40) NOT NULL,
    "title" VARCHAR(200) NOT NULL,
    "severity" VARCHAR(4) NOT NULL,
    "status" "IncidentStatus" NOT NULL DEFAULT 'OPEN',
    "drill" BOOLEAN NOT NULL DEFAULT false,
    "components" TEXT[],
    "dedupe_key" VARCHAR(200),
    "workflow_id" VARCHAR(60) NOT NULL,
    "runbook_version" VARCHAR(80) NOT NULL,
    "snapshot" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "declared_at" TIMESTAMPTZ(3) NOT NULL,
    "resolved_at" TIMESTAMPTZ(3),
    "closed_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "incidents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "incident_dedupe_keys" (
    "dedupe_key" VARCHAR(200) NOT NULL,
    "incident_id" VARCHAR(40) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "incident_dedupe_keys_pkey" PRIMARY KEY ("dedupe_key")
);

-- CreateTable
CREATE TABLE "status_page" (
    "id" VARCHAR(20) NOT NULL,
    "document" JSONB NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "status_page_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_request_stats" (
    "minute" TIMESTAMPTZ(0) NOT NULL,
    "instance" VARCHAR(80) NOT NULL,
    "total" INTEGER NOT NULL DEFAULT 0,
    "server_errors" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "api_request_stats_pkey" PRIMARY KEY ("minute","instance")
);

-- CreateIndex
CREATE INDEX "incidents_status_declared_at_idx" ON "incidents"("status", "declared_at");

-- CreateIndex
CREATE INDEX "incidents_declared_at_idx" ON "incidents"("declared_at");
