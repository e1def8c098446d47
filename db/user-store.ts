// The one write path for campaign recipients (users). POST /v1/users/batch and the seed script both
// end here. A batch is one SQL statement over arrays (unnest), never a loop of single inserts: 10,000
// users cost one round trip.
//
// Upsert semantics, per field: a field present in the input is written (null clears it), a field left
// out keeps the stored value. So a sync that does not know about opt-outs can never opt a user back in
// by omission; a brand-new user gets null for what is left out and optedOut = false.
import type { Db, Prisma } from './client';

export interface UserInput {
  userId: string;
  email?: string | null;
  phone?: string | null;
  pushToken?: string | null;
  firstName?: string | null;
  timezone?: string | null;
  locale?: string | null;
  optedOut?: boolean;
}

export interface UpsertResult {
  inserted: number;
  updated: number;
}

/** Most rows per statement; larger inputs are split (each chunk is its own statement and commit). */
export const MAX_USERS_PER_STATEMENT = 10_000;

// Bit per optional field in the `mask` array: set = "this field was given".
const FIELDS = ['email', 'phone', 'pushToken', 'firstName', 'timezone', 'locale', 'optedOut'] as const;
const BIT: Record<(typeof FIELDS)[number], number> = Object.fromEntries(FIELDS.map((f, i) => [f, 1 << i])) as never;

// One statement: the UPDATE touches the rows that exist, the INSERT adds the rest. Both CTEs see the
// same snapshot, so a row is either updated or inserted, never both. A row inserted by a concurrent
// batch after that snapshot makes our INSERT skip it (ON CONFLICT DO NOTHING); the caller sees the
// shortfall and runs the statement again, which then updates it.
const UPSERT_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::int[])
    AS t(id, email, phone, push_token, first_name, timezone, locale, opted_out, mask)
),
updated AS (
  UPDATE "users" u SET
    email      = CASE WHEN i.mask & ${BIT.email} <> 0 THEN i.email ELSE u.email END,
    phone      = CASE WHEN i.mask & ${BIT.phone} <> 0 THEN i.phone ELSE u.phone END,
    push_token = CASE WHEN i.mask & ${BIT.pushToken} <> 0 THEN i.push_token ELSE u.push_token END,
    first_name = CASE WHEN i.mask & ${BIT.firstName} <> 0 THEN i.first_name ELSE u.first_name END,
    timezone   = CASE WHEN i.mask & ${BIT.timezone} <> 0 THEN i.timezone ELSE u.timezone END,
    locale     = CASE WHEN i.mask & ${BIT.locale} <> 0 THEN i.locale ELSE u.locale END,
    opted_out  = CASE WHEN i.mask & ${BIT.optedOut} <> 0 THEN i.opted_out ELSE u.opted_out END,
    updated_at = now()
  FROM input i
  WHERE u.id = i.id
  RETURNING 1
),
inserted AS (
  INSERT INTO "users" (id, email, phone, push_token, first_name, timezone, locale, opted_out, created_at, updated_at)
  SELECT i.id, i.email, i.phone, i.push_token, i.first_name, i.timezone, i.locale, coalesce(i.opted_out, false), now(), now()
  FROM input i
  WHERE NOT EXISTS (SELECT 1 FROM "users" x WHERE x.id = i.id)
  ON CONFLICT (id) DO NOTHING
  RETURNING 1
)
SELECT (SELECT count(*) FROM inserted)::int AS inserted, (SELECT count(*) FROM updated)::int AS updated`;

export class DuplicateUserIdError extends Error {
  override name = 'DuplicateUserIdError';
  constructor(readonly userIds: string[]) {
    super(`user ids appear more than once in one batch: ${userIds.slice(0, 10).join(', ')}${userIds.length > 10 ? ', ...' : ''}`);
  }
}

function isDeadlock(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  return e?.code === '40P01' || e?.cause?.code === '40P01' || /deadlock detected/i.test(e?.message ?? '');
}

type Columns = [string[], (string | null)[], (string | null)[], (string | null)[], (string | null)[], (string | null)[], (string | null)[], (boolean | null)[], number[]];

function columnsOf(users: UserInput[]): Columns {
  const cols: Columns = [[], [], [], [], [], [], [], [], []];
  for (const u of users) {
    let mask = 0;
    for (const f of FIELDS) if (u[f] !== undefined) mask |= BIT[f];
    cols[0].push(u.userId);
    cols[1].push(u.email ?? null);
    cols[2].push(u.phone ?? null);
    cols[3].push(u.pushToken ?? null);
    cols[4].push(u.firstName ?? null);
    cols[5].push(u.timezone ?? null);
    cols[6].push(u.locale ?? null);
    cols[7].push(u.optedOut ?? null);
    cols[8].push(mask);
  }
  return cols;
}

/** Who asked, for the audit row (the API passes it; the seed script does not). */
export interface UpsertAudit {
  actor: string;
  requestId?: string;
}

async function upsertChunk(db: Db, users: UserInput[], audit?: UpsertAudit): Promise<UpsertResult> {
  const cols = columnsOf(users);
  // Normally one pass. Another pass only when a concurrent batch inserted some of these ids between our
  // snapshot and our insert (they were neither updated nor inserted: the next statement, with a new
  // snapshot, updates them), or on a deadlock with a batch updating the same rows in another order
  // (PostgreSQL rolled our transaction back entirely, so it is simply run again).
  const run = async (tx: Prisma.TransactionClient): Promise<UpsertResult> => {
    let inserted = 0;
    for (let pass = 1; pass <= 5; pass++) {
      const [row] = await tx.$queryRawUnsafe<Array<{ inserted: number; updated: number }>>(UPSERT_SQL, ...cols);
      inserted += row.inserted;
      if (row.inserted + row.updated === users.length) {
        const result = { inserted, updated: users.length - inserted };
        if (audit) {
          await tx.auditLog.create({
            data: { actor: audit.actor, action: 'users.upsert', resourceType: 'users', resourceId: 'batch', requestId: audit.requestId,
              details: { received: users.length, ...result } },
          });
        }
        return result;
      }
    }
    throw new Error(`upsertUsers: ${users.length} users could not be written after 5 passes (heavy concurrent writes to the same ids)`);
  };
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction((tx) => run(tx), { maxWait: 10_000, timeout: 120_000 });
    } catch (err) {
      if (!isDeadlock(err) || attempt === 5) throw err;
    }
  }
}

/**
 * Inserts or updates users in bulk: one statement per chunk of up to MAX_USERS_PER_STATEMENT, in its own
 * transaction with the audit row when `audit` is given (so an API batch of 10,000 is atomic; a larger
 * input, e.g. from the seed script, commits chunk by chunk).
 * Input must be valid (the API validates; see api/routes/users.ts) and must not repeat a userId.
 */
export async function upsertUsers(
  db: Db,
  users: UserInput[],
  opts: { chunkSize?: number; audit?: UpsertAudit } = {},
): Promise<UpsertResult> {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const u of users) (seen.has(u.userId) ? dup : seen).add(u.userId);
  if (dup.size) throw new DuplicateUserIdError([...dup]);
  const size = Math.max(1, Math.min(opts.chunkSize ?? MAX_USERS_PER_STATEMENT, MAX_USERS_PER_STATEMENT));
  const total: UpsertResult = { inserted: 0, updated: 0 };
  for (let i = 0; i < users.length; i += size) {
    const r = await upsertChunk(db, users.slice(i, i + size), opts.audit);
    total.inserted += r.inserted;
    total.updated += r.updated;
  }
  return total;
}
