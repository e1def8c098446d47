-- Idempotency keys of action requests (cancel, extend, pause, complete a step...): one row per
-- (workflow, key) remembering which request the key was first used for (a hash of the action and its
-- body) and, once it completed, its answer. A retry with the same key and body answers that answer; the
-- same key with another body is refused (409 IDEMPOTENCY_CONFLICT). The key is also the Temporal update
-- id, so a request that timed out is applied at most once when its worker returns.

-- CreateTable
CREATE TABLE "action_requests" (
    "workflow_id" VARCHAR(200) NOT NULL,
    "idempotency_key" VARCHAR(100) NOT NULL,
    "action" VARCHAR(60) NOT NULL,
    "request_hash" CHAR(64) NOT NULL,
    "actor" VARCHAR(80) NOT NULL,
    "response" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "action_requests_pkey" PRIMARY KEY ("workflow_id","idempotency_key")
);

-- CreateIndex
CREATE INDEX "action_requests_created_at_idx" ON "action_requests"("created_at");
