-- Emergency log levels: one row per component ('api', 'worker') holding the level an operator set
-- and when it reverts (NULL level = each process's own LOG_LEVEL), written only by the
-- log-level-<component> workflow's activity; and one ack row per running process, so an operator
-- can see which processes actually switched.

-- CreateTable
CREATE TABLE "log_levels" (
    "component" VARCHAR(20) NOT NULL,
    "level" VARCHAR(10),
    "reverts_at" TIMESTAMPTZ(3),
    "set_by" VARCHAR(80) NOT NULL,
    "reason" VARCHAR(500),
    "change_key" VARCHAR(200) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "log_levels_pkey" PRIMARY KEY ("component")
);

-- CreateTable
CREATE TABLE "log_level_acks" (
    "instance" VARCHAR(200) NOT NULL,
    "component" VARCHAR(20) NOT NULL,
    "level" VARCHAR(10) NOT NULL,
    "default_level" VARCHAR(10) NOT NULL,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "log_level_acks_pkey" PRIMARY KEY ("instance")
);

-- CreateIndex
CREATE INDEX "log_level_acks_component_seen_at_idx" ON "log_level_acks"("component", "seen_at");
