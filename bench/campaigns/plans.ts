// Plans: deliverPage's own statements (SQL text copied from db/campaign-store.ts; keep in step),
// EXPLAIN ANALYZEd inside a transaction that is rolled back, for one chunk in the middle of a freshly
// snapshotted audience: first with statistics that do not know the new campaign's rows (the snapshot's
// INSERT alone), then after ANALYZE deliveries (what snapshotAudience does after its INSERT). And the
// free-code claim on a pool 0 %, 50 % and 90 % used, as it is and with the earlier ORDER BY code.
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import { createCampaign } from '../../db/campaign-store';
import { ms } from '../common';
import { say } from '../harness/run';
import { makePool, PROMO_TEMPLATE, type Bench } from './stack';

const PLAN_SQL = {
  /** snapshotAudience's INSERT for {all: true} on email, without the ANALYZE that follows it. */
  snapshot: `INSERT INTO "deliveries" ("campaign_id", "user_id", "seq", "status", "last_error")
    SELECT $1, u.id, (ROW_NUMBER() OVER (ORDER BY u.id))::int,
           (CASE WHEN u.opted_out OR u.email IS NULL THEN 'SKIPPED' ELSE 'PENDING' END)::"DeliveryStatus",
           CASE WHEN u.opted_out THEN 'opted out' WHEN u.email IS NULL THEN 'no address for this channel' END
    FROM "users" u WHERE TRUE
    ON CONFLICT ("campaign_id", "user_id") DO NOTHING`,
  pendingPage: `SELECT d.user_id AS "userId", d.seq, d.promo_code AS "promoCode", u.first_name AS "firstName", u.email AS address, u.timezone
    FROM "deliveries" d JOIN "users" u ON u.id = d.user_id
    WHERE d.campaign_id = $1 AND d.seq BETWEEN $2 AND $3 AND d.status = 'PENDING'
      AND (d.not_before IS NULL OR d.not_before <= $4) ORDER BY d.seq`,
  held: `SELECT user_id, promo_code FROM "deliveries"
    WHERE campaign_id = $1 AND user_id = ANY($2::text[]) AND promo_code IS NOT NULL`,
  claim: `SELECT code FROM "promo_codes" WHERE pool_id = $1 AND assigned_at IS NULL
    LIMIT $2 FOR UPDATE SKIP LOCKED`,
  /** The claim as it was before: an ordered scan that walks every code already used. */
  claimOrdered: `SELECT code FROM "promo_codes" WHERE pool_id = $1 AND assigned_at IS NULL
    ORDER BY code LIMIT $2 FOR UPDATE SKIP LOCKED`,
  assign: `UPDATE "promo_codes" c SET assigned_campaign_id = $1, assigned_user_id = x.user_id, assigned_at = now()
    FROM unnest($2::text[], $3::text[]) AS x(user_id, code)
    WHERE c.pool_id = $4 AND c.code = x.code AND c.assigned_at IS NULL`,
  codesOntoDeliveries: `UPDATE "deliveries" d SET promo_pool_id = $1, promo_code = x.code, updated_at = now()
    FROM unnest($2::text[], $3::text[]) AS x(user_id, code)
    WHERE d.campaign_id = $4 AND d.user_id = x.user_id AND d.promo_code IS NULL`,
  recordOutcomes: `UPDATE "deliveries" d SET status = x.status::"DeliveryStatus", provider_message_id = x.pid, last_error = x.err,
      attempts = d.attempts + 1, sent_at = CASE WHEN x.status = 'SENT' THEN now() END, updated_at = now()
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS x(user_id, status, pid, err)
    WHERE d.campaign_id = $1 AND d.user_id = x.user_id AND d.status = 'PENDING'
    RETURNING d.status::text AS status`,
};

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

interface Explained {
  ms: number;
  rowsVisited: number;
  plan: string[];
}

function planLines(n: PlanNode, depth = 0, out: string[] = []): string[] {
  const rows = (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1);
  out.push(`${'  '.repeat(depth)}${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] && !n['Index Name'] ? ` on ${n['Relation Name']}` : ''}` +
    ` (rows ${rows}${n['Actual Loops'] && n['Actual Loops'] > 1 ? ` over ${n['Actual Loops']} loops` : ''}${n['Rows Removed by Filter'] ? `, ${n['Rows Removed by Filter'] * (n['Actual Loops'] ?? 1)} removed by filter` : ''})`);
  for (const c of n.Plans ?? []) planLines(c, depth + 1, out);
  return out;
}

/** Rows the scans of deliveries / promo_codes produced or threw away: the work the statement did. */
function rowsVisited(n: PlanNode): number {
  const own = /Scan/.test(n['Node Type']) && n['Relation Name'] ? ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) : 0;
  return own + (n.Plans ?? []).reduce((a, c) => a + rowsVisited(c), 0);
}

async function explain(pg: PgClient, sql: string, params: unknown[]): Promise<Explained> {
  await pg.query('BEGIN');
  try {
    const r = await pg.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
    const [top] = r.rows[0]['QUERY PLAN'];
    return { ms: top['Execution Time'], rowsVisited: rowsVisited(top.Plan), plan: planLines(top.Plan) };
  } finally {
    await pg.query('ROLLBACK');
  }
}

export interface PlanProbe {
  n: number;
  analyzeMs: number;
  before: Record<string, Explained>;
  after: Record<string, Explained>;
  claim: Array<{ consumed: number; current: Explained; ordered: Explained }>;
}

export async function planProbe(b: Bench): Promise<PlanProbe> {
  const { s, opts } = b;
  const n = opts.users;
  say(`\n== Plans: deliverPage's statements (db/campaign-store.ts SQL) for one chunk of 250 in the middle of a fresh ${n}-recipient audience ==`);
  say('  EXPLAIN (ANALYZE, BUFFERS) inside a rolled-back transaction; nothing is changed');
  const id = `${s.tag}-probe`;
  const pool = await makePool(s, 'probe', n);
  await s.db.$executeRawUnsafe('ANALYZE promo_codes');
  await createCampaign(s.db, {
    id, idempotencyKey: id, name: 'bench plan probe', channel: 'email', template: PROMO_TEMPLATE, audience: { all: true }, promoPoolId: pool.poolId,
    marketing: false, workflowId: `probe-${id}`,
  }, { actor: 'system:bench' });
  const pg = new PgClient({ connectionString: s.databaseUrl });
  pg.on('error', () => undefined);
  await pg.connect();
  try {
    await pg.query(PLAN_SQL.snapshot, [id]); // the audience snapshot's rows, statistics not refreshed yet
    const mid = Math.max(1, Math.floor(n / 2) - 125);
    const users = (await pg.query<{ user_id: string }>('SELECT user_id FROM deliveries WHERE campaign_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq', [id, mid, mid + 249])).rows.map((r) => r.user_id);
    const codes = (await pg.query<{ code: string }>('SELECT code FROM promo_codes WHERE pool_id = $1 ORDER BY code LIMIT $2', [pool.poolId, users.length])).rows.map((r) => r.code);
    const sent = users.map(() => 'SENT');
    const pids = users.map((_, i) => String(i + 1));
    const errs = users.map(() => null);
    const statements = async (): Promise<Record<string, Explained>> => ({
      'pending page (500 rows)': await explain(pg, PLAN_SQL.pendingPage, [id, mid, mid + 499, new Date()]),
      'codes already held': await explain(pg, PLAN_SQL.held, [id, users]),
      'codes onto deliveries': await explain(pg, PLAN_SQL.codesOntoDeliveries, [pool.poolId, users, codes, id]),
      'record outcomes': await explain(pg, PLAN_SQL.recordOutcomes, [id, users, sent, pids, errs]),
    });
    const before = await statements();
    const a0 = performance.now();
    await pg.query('ANALYZE deliveries');
    const analyzeMs = performance.now() - a0;
    const after = await statements();
    const pad = Math.max(...Object.keys(before).map((k) => k.length));
    say(`  ${'statement'.padEnd(pad)}  statistics without this campaign's rows    after ANALYZE deliveries (${ms(analyzeMs)}; snapshotAudience runs it)`);
    for (const k of Object.keys(before)) {
      say(`  ${k.padEnd(pad)}  ${ms(before[k].ms).padStart(9)}, ${String(before[k].rowsVisited).padStart(7)} rows visited       ${ms(after[k].ms).padStart(9)}, ${String(after[k].rowsVisited).padStart(7)} rows visited`);
    }
    for (const k of Object.keys(before)) {
      say(`  plan of ${k}, statistics without the campaign:`);
      for (const l of before[k].plan.slice(0, 8)) say(`      ${l}`);
      if (after[k].plan.join() !== before[k].plan.join()) {
        say('    after ANALYZE:');
        for (const l of after[k].plan.slice(0, 8)) say(`      ${l}`);
      }
    }
    // The claim of free codes as a pool is used up (in code order, as campaigns take them).
    const claim: PlanProbe['claim'] = [];
    let consumed = 0;
    for (const target of [0, 0.5, 0.9]) {
      const upto = Math.floor(n * target);
      if (upto > consumed) {
        await pg.query(`UPDATE promo_codes SET assigned_campaign_id = $1, assigned_at = now()
          WHERE pool_id = $2 AND code IN (SELECT code FROM promo_codes WHERE pool_id = $2 ORDER BY code OFFSET $3 LIMIT $4)`, [id, pool.poolId, consumed, upto - consumed]);
        consumed = upto;
      }
      claim.push({
        consumed: target,
        current: await explain(pg, PLAN_SQL.claim, [pool.poolId, 250]),
        ordered: await explain(pg, PLAN_SQL.claimOrdered, [pool.poolId, 250]),
      });
    }
    const fmtClaim = (pick: (c: PlanProbe['claim'][number]) => Explained) =>
      claim.map((c) => `${(c.consumed * 100).toFixed(0)} % used: ${ms(pick(c).ms)} (${pick(c).rowsVisited} rows visited)`).join('; ');
    say(`  claim 250 free codes of a pool of ${n} (SELECT .. LIMIT 250 FOR UPDATE SKIP LOCKED): ${fmtClaim((c) => c.current)}`);
    say(`    plan at 90 % used: ${claim[claim.length - 1].current.plan.join(' / ').replace(/\s+/g, ' ')}`);
    say(`  the same with ORDER BY code (as before): ${fmtClaim((c) => c.ordered)}`);
    say(`    plan at 90 % used: ${claim[claim.length - 1].ordered.plan.join(' / ').replace(/\s+/g, ' ')}`);
    return { n, analyzeMs, before, after, claim };
  } finally {
    await pg.end().catch(() => undefined);
  }
}
