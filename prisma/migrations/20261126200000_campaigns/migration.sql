-- CreateEnum
CREATE TYPE "CampaignStatus" AS ENUM ('SCHEDULED', 'RUNNING', 'PAUSED', 'COMPLETED', 'CANCELLED', 'FAILED');

-- CreateEnum
CREATE TYPE "DeliveryStatus" AS ENUM ('PENDING', 'SENT', 'FAILED', 'SKIPPED');

-- CreateTable
CREATE TABLE "users" (
    "id" VARCHAR(64) NOT NULL,
    "email" VARCHAR(254),
    "phone" VARCHAR(32),
    "push_token" VARCHAR(512),
    "first_name" VARCHAR(100),
    "timezone" VARCHAR(64),
    "locale" VARCHAR(20),
    "opted_out" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "promo_pools" (
    "id" VARCHAR(40) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "idempotency_key" VARCHAR(200) NOT NULL,
    "request_hash" CHAR(64) NOT NULL,
    "size" INTEGER NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "promo_pools_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "promo_codes" (
    "pool_id" VARCHAR(40) NOT NULL,
    "code" VARCHAR(100) NOT NULL,
    "assigned_campaign_id" VARCHAR(120),
    "assigned_user_id" VARCHAR(64),
    "assigned_at" TIMESTAMPTZ(3),

    CONSTRAINT "promo_codes_pkey" PRIMARY KEY ("pool_id","code")
);

-- CreateTable
CREATE TABLE "campaigns" (
    "id" VARCHAR(120) NOT NULL,
    "idempotency_key" VARCHAR(100) NOT NULL,
    "request_hash" CHAR(64) NOT NULL,
    "name" VARCHAR(200) NOT NULL,
    "channel" VARCHAR(10) NOT NULL,
    "template" JSONB NOT NULL,
    "audience" JSONB NOT NULL,
    "promo_pool_id" VARCHAR(40),
    "send_at" TIMESTAMPTZ(3),
    "rate_per_second" INTEGER,
    "rate_cursor" TIMESTAMPTZ(3),
    "marketing" BOOLEAN NOT NULL DEFAULT false,
    "status" "CampaignStatus" NOT NULL DEFAULT 'SCHEDULED',
    "total" INTEGER NOT NULL DEFAULT 0,
    "sent" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "workflow_id" VARCHAR(140) NOT NULL,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deliveries" (
    "campaign_id" VARCHAR(120) NOT NULL,
    "user_id" VARCHAR(64) NOT NULL,
    "seq" INTEGER NOT NULL,
    "status" "DeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "promo_pool_id" VARCHAR(40),
    "promo_code" VARCHAR(100),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "not_before" TIMESTAMPTZ(3),
    "provider_message_id" VARCHAR(200),
    "sent_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "deliveries_pkey" PRIMARY KEY ("campaign_id","user_id")
);

-- CreateTable
CREATE TABLE "outbox_messages" (
    "id" BIGSERIAL NOT NULL,
    "idempotency_key" VARCHAR(250) NOT NULL,
    "channel" VARCHAR(10) NOT NULL,
    "recipient" VARCHAR(512) NOT NULL,
    "subject" VARCHAR(300),
    "body" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "outbox_messages_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "promo_pools_idempotency_key_key" ON "promo_pools"("idempotency_key");

-- CreateIndex
CREATE INDEX "promo_codes_pool_id_assigned_at_idx" ON "promo_codes"("pool_id", "assigned_at");

-- CreateIndex
CREATE UNIQUE INDEX "campaigns_idempotency_key_key" ON "campaigns"("idempotency_key");

-- CreateIndex
CREATE INDEX "campaigns_status_idx" ON "campaigns"("status");

-- CreateIndex
CREATE INDEX "deliveries_campaign_id_seq_idx" ON "deliveries"("campaign_id", "seq");

-- CreateIndex
CREATE INDEX "deliveries_campaign_id_status_idx" ON "deliveries"("campaign_id", "status");

-- CreateIndex
CREATE UNIQUE INDEX "deliveries_promo_pool_id_promo_code_key" ON "deliveries"("promo_pool_id", "promo_code");

-- CreateIndex
CREATE UNIQUE INDEX "outbox_messages_idempotency_key_key" ON "outbox_messages"("idempotency_key");

-- AddForeignKey
ALTER TABLE "promo_codes" ADD CONSTRAINT "promo_codes_pool_id_fkey" FOREIGN KEY ("pool_id") REFERENCES "promo_pools"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
