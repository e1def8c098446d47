// Promo pool commands: upload a pool (idempotent by the caller's Idempotency-Key: the same name and
// codes again answer the first pool, another upload under the key is a 409) and read its counts. The
// pool, its codes and the audit row are one transaction (db/promo-store.ts).
import { createPromoPool as insertPromoPool, getPromoPool as readPromoPool } from '../db/promo-store';
import type { CommandContext } from './context';
import { CommandError, invalid, notFound } from './errors';

/** `codes` arrive checked (well-formed, each once, 1 to MAX_CODES_PER_POOL). */
export async function createPromoPool(ctx: CommandContext, upload: { name: string; codes: string[] }) {
  const key = ctx.idempotencyKey;
  if (!key) throw invalid('the Idempotency-Key header is required', [{ field: 'Idempotency-Key', message: 'required header' }]);
  const result = await insertPromoPool(ctx.db, { idempotencyKey: key, ...upload }, { actor: ctx.actor, requestId: ctx.requestId });
  if (result.kind === 'different_request') {
    throw new CommandError('DUPLICATE_CONFLICT', `Idempotency-Key ${key} was already used for a different upload (pool ${result.pool.poolId})`, {
      poolId: result.pool.poolId,
    });
  }
  return { created: result.kind === 'created', poolId: result.pool.poolId, name: result.pool.name, size: result.pool.size };
}

export async function getPromoPool(ctx: Pick<CommandContext, 'db'>, id: string) {
  const pool = await readPromoPool(ctx.db, id);
  if (!pool) throw notFound(`promo pool ${id}`);
  return { poolId: pool.poolId, name: pool.name, size: pool.size, assigned: pool.assigned, free: pool.free, createdAt: pool.createdAt.toISOString() };
}
