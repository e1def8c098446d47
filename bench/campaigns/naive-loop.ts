// Naive baseline: the same sends one at a time, one transaction per recipient in a loop (claim a code,
// insert the outbox message, mark the delivery sent), on a second campaign over the same tables; on a
// sample when --naive-n is below --users, extrapolated linearly and said so.
import { performance } from 'node:perf_hooks';
import { createCampaign, snapshotAudience } from '../../db/campaign-store';
import { deliveryKey } from '../../domain/campaign';
import { compileTemplate, renderTemplate } from '../../domain/template';
import { dist, fmtCpu, fmtDist, secs, type CpuUsage, type Dist } from '../common';
import { note, say } from '../harness/run';
import { makePool, PROMO_TEMPLATE, type Bench } from './stack';

export interface NaiveResult {
  n: number;
  wallMs: number;
  perSec: number;
  projectedMs: number;
  latency: Dist;
  firstK: number;
  lastK: number;
  cpu: CpuUsage;
}

export async function naive(b: Bench): Promise<NaiveResult> {
  const { s, opts } = b;
  const n = opts.naiveN;
  say(`\n== Naive baseline: one transaction per recipient (claim a code, insert the outbox message, mark the delivery sent), ` +
    `${n === opts.users ? `all ${n}` : `a sample of ${n} of ${opts.users}, extrapolated linearly`} ==`);
  const pool = await makePool(s, 'naive', opts.users);
  await s.db.$executeRawUnsafe('ANALYZE promo_codes');
  const id = `${s.tag}-naive`;
  const poolId = pool.poolId;
  await createCampaign(s.db, {
    id, idempotencyKey: id, name: 'bench naive baseline', channel: 'email', template: PROMO_TEMPLATE, audience: { all: true }, promoPoolId: poolId,
    marketing: false, workflowId: `naive-${id}`,
  }, { actor: 'system:bench' });
  // The same frozen audience (one PENDING delivery per user) the workflow works from.
  await snapshotAudience(s.db, id, 'email');
  // Fresh statistics for its per-user statements (snapshotAudience analyzes deliveries; promo_codes too
  // here): the baseline gets its best case, never a plan that scans the whole campaign.
  await s.db.$executeRawUnsafe('ANALYZE deliveries, promo_codes');
  await s.db.campaign.update({ where: { id }, data: { status: 'RUNNING', startedAt: new Date() } });
  // The job list, read once (generous to the loop: a job server would read each job's user on its own).
  const jobs = await s.db.$queryRaw<Array<{ user_id: string; email: string; first_name: string | null }>>`
    SELECT d.user_id, u.email, u.first_name FROM deliveries d JOIN users u ON u.id = d.user_id
    WHERE d.campaign_id = ${id} AND d.status = 'PENDING' ORDER BY d.seq LIMIT ${n}`;
  // Parsed once, as the activity does per page: the baseline differs in its transactions, not its rendering.
  const template = compileTemplate(PROMO_TEMPLATE);
  const lat: number[] = [];
  const c0 = s.cpu.snap();
  const t0 = performance.now();
  let lastNote = Date.now();
  for (const [i, j] of jobs.entries()) {
    const s0 = performance.now();
    await s.db.$transaction(async (tx) => {
      const [c] = await tx.$queryRaw<Array<{ code: string }>>`
        UPDATE promo_codes SET assigned_campaign_id = ${id}, assigned_user_id = ${j.user_id}, assigned_at = now()
        WHERE pool_id = ${poolId} AND code = (
          SELECT code FROM promo_codes WHERE pool_id = ${poolId} AND assigned_at IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING code`;
      if (!c) throw new Error('promo pool exhausted');
      const message = renderTemplate(template, { firstName: j.first_name ?? '', promoCode: c.code });
      const [m] = await tx.$queryRaw<Array<{ id: string }>>`
        INSERT INTO outbox_messages (idempotency_key, channel, recipient, subject, body)
        VALUES (${deliveryKey(id, j.user_id)}, 'email', ${j.email}, ${message.subject ?? null}, ${message.body})
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING id::text AS id`;
      await tx.$executeRaw`
        UPDATE deliveries SET status = 'SENT', promo_pool_id = ${poolId}, promo_code = ${c.code}, provider_message_id = ${m?.id ?? null},
          attempts = attempts + 1, sent_at = now(), updated_at = now()
        WHERE campaign_id = ${id} AND user_id = ${j.user_id} AND status = 'PENDING'`;
    });
    lat.push(performance.now() - s0);
    if (Date.now() - lastNote > 10_000) {
      lastNote = Date.now();
      note(`naive: ${i + 1}/${jobs.length} after ${secs(performance.now() - t0)}`);
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = s.cpu.usage(c0, s.cpu.snap());
  await s.db.$executeRaw`
    UPDATE campaigns SET sent = (SELECT count(*) FROM deliveries WHERE campaign_id = ${id} AND status = 'SENT'), updated_at = now() WHERE id = ${id}`;
  const [check] = await s.db.$queryRaw<Array<{ sent: number; codes: number }>>`
    SELECT count(*) FILTER (WHERE status = 'SENT')::int AS sent, count(DISTINCT promo_code)::int AS codes FROM deliveries WHERE campaign_id = ${id}`;
  if (check.sent !== jobs.length || check.codes !== jobs.length) b.fail(`naive: ${check.sent} sent, ${check.codes} distinct codes of ${jobs.length}`);
  const k = Math.min(1000, lat.length);
  const rateOf = (xs: number[]) => (xs.length / xs.reduce((a, v) => a + v, 0)) * 1000;
  const perSec = (jobs.length / wallMs) * 1000;
  const r: NaiveResult = {
    n: jobs.length, wallMs, perSec, projectedMs: (opts.users / perSec) * 1000, latency: dist(lat),
    firstK: rateOf(lat.slice(0, k)), lastK: rateOf(lat.slice(-k)), cpu,
  };
  say(`  ${r.n} sent in ${secs(wallMs)} = ${perSec.toFixed(0)}/s; per recipient ${fmtDist(r.latency)}`);
  say(`  first ${k}: ${r.firstK.toFixed(0)}/s, last ${k}: ${r.lastK.toFixed(0)}/s (drift over the sample)`);
  if (r.n < opts.users) say(`  extrapolated to ${opts.users}: ${secs(r.projectedMs)} (linear, from the sample's rate; not measured)`);
  say(`  ${fmtCpu(cpu)}`);
  return r;
}
