// Actions on a running workflow (cancel a booking, pause a campaign, complete an incident step) are
// bounded and idempotent:
// - the update id is the caller's Idempotency-Key (else the request id), so Temporal applies a request
//   once however often it is sent, also when the first attempt timed out waiting for a worker;
// - with a key, the first request's action and body are remembered (db/action-request-store.ts): the
//   same key again answers the first result; the same key with another request is a 409.
import { createHash, randomUUID } from 'node:crypto';
import { claimActionRequest, completeActionRequest, releaseActionRequest } from '../db/action-request-store';
import type { CommandContext } from './context';
import { CommandError } from './errors';

/** Stable across key order, so the same JSON body hashes the same however it was serialised. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function requestHash(action: string, body: unknown): string {
  return createHash('sha256').update(`${action}\n${canonical(body)}`).digest('hex');
}

export async function runAction<R>(
  ctx: CommandContext,
  req: { workflowId: string; action: string; body: unknown },
  send: (updateId: string) => Promise<R>,
): Promise<R> {
  const key = ctx.idempotencyKey;
  if (!key) return send(ctx.requestId || randomUUID());
  const claim = await claimActionRequest(ctx.db, {
    workflowId: req.workflowId, key, action: req.action, requestHash: requestHash(req.action, req.body), actor: ctx.actor,
  });
  if (claim.kind === 'conflict') {
    throw new CommandError('IDEMPOTENCY_CONFLICT', `Idempotency-Key ${key} was already used for a different request (${claim.action}) on ${req.workflowId}`, {
      idempotencyKey: key, firstAction: claim.action,
    });
  }
  if (claim.kind === 'same' && claim.response !== undefined) return claim.response as R;
  try {
    const result = await send(key);
    await completeActionRequest(ctx.db, req.workflowId, key, result);
    return result;
  } catch (err) {
    // Refused (4xx): nothing was applied, the key is free again. Anything else (no worker in time,
    // Temporal or the database down) may still be applied: the claim stays for the retry.
    if (err instanceof CommandError && err.status < 500) await releaseActionRequest(ctx.db, req.workflowId, key).catch(() => undefined);
    throw err;
  }
}
