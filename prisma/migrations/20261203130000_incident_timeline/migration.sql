-- An incident whose workflow ended without closing it (terminated, failed, timed out) or is gone.
ALTER TYPE "IncidentStatus" ADD VALUE 'ABANDONED';

-- CreateTable
CREATE TABLE "incident_timeline" (
    "incident_id" VARCHAR(40) NOT NULL,
    "seq" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "kind" VARCHAR(40) NOT NULL,
    "actor" VARCHAR(200) NOT NULL,
    "text" TEXT NOT NULL,
    "data" JSONB,

    CONSTRAINT "incident_timeline_pkey" PRIMARY KEY ("incident_id","seq")
);

-- The timelines recorded so far move out of the snapshots into their own rows.
INSERT INTO "incident_timeline" ("incident_id", "seq", "at", "kind", "actor", "text", "data")
SELECT i."id", (e->>'seq')::int, (e->>'at')::timestamptz, e->>'kind', e->>'actor', e->>'text', e->'data'
FROM "incidents" i, jsonb_array_elements(i."snapshot"->'timeline') e
ON CONFLICT DO NOTHING;

UPDATE "incidents" SET "snapshot" = "snapshot" - 'timeline' WHERE "snapshot" ? 'timeline';
