// Idempotency keys of action requests (table action_requests): claim a key for one request, remember
// its answer, release it when the request was refused. One row per (workflow, key).
import { Prisma } from '../generated/prisma/client';
import type { Db } from './client';

export type Claim =
  | { kind: 'claimed' }
  /** Used before for this very request; `response` once it completed. */
  | { kind: 'same'; response?: unknown }
  | { kind: 'conflict'; action: string };

export async function claimActionRequest(
  db: Db,
  req: { workflowId: string; key: string; action: string; requestHash: string; actor: string },
): Promise<Claim> {
  const inserted = await db.$executeRaw`
    INSERT INTO "action_requests" (workflow_id, idempotency_key, action, request_hash, actor)
    VALUES (${req.workflowId}, ${req.key}, ${req.action}, ${req.requestHash}, ${req.actor})
    ON CONFLICT DO NOTHING`;
  if (inserted === 1) return { kind: 'claimed' };
  const row = await db.actionRequest.findUnique({ where: { workflowId_idempotencyKey: { workflowId: req.workflowId, idempotencyKey: req.key } } });
  // Released between our insert and this read: a refused first request; this one may take the key.
  if (!row) return claimActionRequest(db, req);
  if (row.requestHash !== req.requestHash) return { kind: 'conflict', action: row.action };
  return { kind: 'same', response: row.response ?? undefined };
}

export async function completeActionRequest(db: Db, workflowId: string, key: string, response: unknown): Promise<void> {
  await db.actionRequest.updateMany({
    where: { workflowId, idempotencyKey: key, completedAt: null },
    data: { response: (response ?? Prisma.JsonNull), completedAt: new Date() },
  });
}

/** A refused request leaves nothing behind: the key may be used again. */
export async function releaseActionRequest(db: Db, workflowId: string, key: string): Promise<void> {
  await db.actionRequest.deleteMany({ where: { workflowId, idempotencyKey: key, completedAt: null } });
}
