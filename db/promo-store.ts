// The one write path for promo pools. A pool and all its codes are written in one transaction (bulk
// inserts over arrays, never one row at a time), so an upload is there entirely or not at all. The
// upload's Idempotency-Key is unique in the database: a repeated upload finds the first pool, also
// when both arrive at the same moment.
//
// Codes are unique per pool (primary key pool_id + code); the same code in another pool is fine. A code
// is handed to at most one recipient, ever: db/campaign-store.ts assigns it only where assigned_at is
// still null, and the deliveries table repeats the rule with its own unique key.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './client';
import { isUniqueViolation } from './errors';
import { MAX_CODES_PER_POOL } from '../domain/campaign';

/** Codes per INSERT statement inside the pool's transaction. */
const CODES_PER_STATEMENT = 50_000;

export interface NewPromoPool {
  idempotencyKey: string;
  name: string;
  codes: string[];
}

export interface PromoPoolSummary {
  poolId: string;
  name: string;
  size: number;
}

export type CreatePoolResult =
  | { kind: 'created'; pool: PromoPoolSummary }
  | { kind: 'existing'; pool: PromoPoolSummary }
  | { kind: 'different_request'; pool: PromoPoolSummary };

export class DuplicateCodesError extends Error {
  override name = 'DuplicateCodesError';
  constructor(readonly codes: string[]) {
    super(`codes appear more than once: ${codes.slice(0, 10).join(', ')}${codes.length > 10 ? ', ...' : ''}`);
  }
}

/**
 * What makes two uploads "the same": the name and the set of codes. Order and format do not count, so
 * the same codes sent as JSON and then as CSV (or reordered) are the same upload.
 */
export function promoPoolRequestHash(p: Pick<NewPromoPool, 'name' | 'codes'>): string {
  const h = createHash('sha256').update(JSON.stringify(p.name)).update('\n');
  for (const code of [...p.codes].sort()) h.update(code).update('\n');
  return h.digest('hex');
}

export function newPoolId(): string {
  return `pool-${randomBytes(12).toString('hex')}`;
}

export interface PoolAudit {
  actor: string;
  requestId?: string;
}

async function findByKey(db: Db, idempotencyKey: string, requestHash: string): Promise<CreatePoolResult | undefined> {
  const row = await db.promoPool.findUnique({ where: { idempotencyKey }, select: { id: true, name: true, size: true, requestHash: true } });
  if (!row) return undefined;
  const pool = { poolId: row.id, name: row.name, size: row.size };
  return { kind: row.requestHash === requestHash ? 'existing' : 'different_request', pool };
}

/** Creates the pool with its codes, or answers with the pool an earlier upload under the same key made. */
export async function createPromoPool(db: Db, p: NewPromoPool, audit?: PoolAudit): Promise<CreatePoolResult> {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const c of p.codes) (seen.has(c) ? dup : seen).add(c);
  if (dup.size) throw new DuplicateCodesError([...dup]);
  if (p.codes.length === 0 || p.codes.length > MAX_CODES_PER_POOL) {
    throw new RangeError(`a pool holds 1 to ${MAX_CODES_PER_POOL} codes (got ${p.codes.length})`);
  }
  const requestHash = promoPoolRequestHash(p);
  const earlier = await findByKey(db, p.idempotencyKey, requestHash);
  if (earlier) return earlier;

  const poolId = newPoolId();
  try {
    await db.$transaction(
      async (tx) => {
        // The pool row first: a concurrent upload with the same key waits here on the unique index and
        // then fails, before it has written a single code.
        await tx.promoPool.create({ data: { id: poolId, name: p.name, idempotencyKey: p.idempotencyKey, requestHash, size: p.codes.length } });
        let written = 0;
        for (let i = 0; i < p.codes.length; i += CODES_PER_STATEMENT) {
          const chunk = p.codes.slice(i, i + CODES_PER_STATEMENT);
          written += await tx.$executeRawUnsafe(
            'INSERT INTO "promo_codes" (pool_id, code) SELECT $1, c FROM unnest($2::text[]) AS t(c)',
            poolId,
            chunk,
          );
        }
        if (written !== p.codes.length) throw new Error(`promo pool ${poolId}: wrote ${written} of ${p.codes.length} codes`);
        if (audit) {
          await tx.auditLog.create({
            data: { actor: audit.actor, action: 'promo_pool.create', resourceType: 'promo_pool', resourceId: poolId,
              requestId: audit.requestId, details: { name: p.name, size: p.codes.length, idempotencyKey: p.idempotencyKey } },
          });
        }
      },
      { maxWait: 10_000, timeout: 300_000 },
    );
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // The same key uploaded concurrently: the winner's pool is the answer.
    const winner = await findByKey(db, p.idempotencyKey, requestHash);
    if (winner) return winner;
    throw err;
  }
  return { kind: 'created', pool: { poolId, name: p.name, size: p.codes.length } };
}

export interface PromoPoolStats extends PromoPoolSummary {
  assigned: number;
  free: number;
  createdAt: Date;
}

/** The pool with its counts, or null when there is no such pool. */
export async function getPromoPool(db: Db, poolId: string): Promise<PromoPoolStats | null> {
  const pool = await db.promoPool.findUnique({ where: { id: poolId }, select: { id: true, name: true, size: true, createdAt: true } });
  if (!pool) return null;
  const [row] = await db.$queryRaw<Array<{ assigned: number; free: number }>>`
    SELECT count(*) FILTER (WHERE assigned_at IS NOT NULL)::int AS assigned,
           count(*) FILTER (WHERE assigned_at IS NULL)::int AS free
    FROM "promo_codes" WHERE pool_id = ${poolId}`;
  return { poolId: pool.id, name: pool.name, size: pool.size, createdAt: pool.createdAt, assigned: row.assigned, free: row.free };
}

/** Codes of the pool not yet assigned to anyone; 0 for an unknown pool (use getPromoPool to tell them apart). */
export async function freeCodeCount(db: Db, poolId: string): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ free: number }>>`
    SELECT count(*)::int AS free FROM "promo_codes" WHERE pool_id = ${poolId} AND assigned_at IS NULL`;
  return row.free;
}
