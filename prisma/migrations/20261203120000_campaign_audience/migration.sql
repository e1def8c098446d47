-- An explicit audience moves out of the campaign row (and out of the workflow's input) into its own
-- table; a campaign row remembers that its workflow was started, so a resubmit after Temporal's
-- retention never starts a second lifecycle.

-- AlterTable
ALTER TABLE "campaigns" ADD COLUMN "workflow_started_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "campaign_audience" (
    "campaign_id" VARCHAR(120) NOT NULL,
    "position" INTEGER NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,

    CONSTRAINT "campaign_audience_pkey" PRIMARY KEY ("campaign_id","position")
);

-- CreateIndex
CREATE UNIQUE INDEX "campaign_audience_campaign_id_user_id_key" ON "campaign_audience"("campaign_id", "user_id");

-- AddForeignKey
ALTER TABLE "campaign_audience" ADD CONSTRAINT "campaign_audience_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing explicit audiences: their ids into the table (first occurrence wins), the row keeps the count.
INSERT INTO "campaign_audience" ("campaign_id", "position", "user_id")
SELECT c.id, x.ord::int, x.user_id
FROM "campaigns" c, jsonb_array_elements_text(c.audience -> 'userIds') WITH ORDINALITY AS x(user_id, ord)
WHERE jsonb_typeof(c.audience -> 'userIds') = 'array'
ORDER BY c.id, x.ord
ON CONFLICT DO NOTHING;

UPDATE "campaigns" c SET "audience" = jsonb_build_object('listed', (SELECT count(*) FROM "campaign_audience" a WHERE a.campaign_id = c.id))
WHERE jsonb_typeof(c.audience -> 'userIds') = 'array';

-- Rows past SCHEDULED were started (a row whose start failed is deleted by the submit). A SCHEDULED row
-- stays unmarked: a resubmit may start it, and the start policy refuses a second run while one exists.
UPDATE "campaigns" SET "workflow_started_at" = COALESCE("started_at", "created_at") WHERE "status" <> 'SCHEDULED';
