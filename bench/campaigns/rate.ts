// 2. Rate: a campaign over R x --rate-seconds users, limited either by its own ratePerSecond R or by the
// provider limit (KEEL_RATE_LIMIT_EMAIL=R on the worker process, campaign without a rate). Achieved =
// sent / (last sent_at - first sent_at), as a fraction of R.
import { dist, fmtDist, ms, secs, type Dist } from '../common';
import { say } from '../harness/run';
import { settingsName } from './options';
import { printCampaign, runCampaign, type CampaignResult } from './run-campaign';
import { makePool, restartWorker, userId, type Bench, type Stack } from './stack';

export interface RateResult {
  mode: 'campaign' | 'provider';
  n: number;
  campaign: CampaignResult;
  spanMs: number;
  achieved: number;
  fraction: number;
  /** Without the first chunk: sent_at is per chunk (one transaction), so the first chunk's rows share the first timestamp. */
  fractionExFirstChunk: number;
  steady: Dist;
  /** Time from one chunk's sent_at to the next one's, over all pages (one chunk = one recordOutcomes transaction). */
  cadence: Dist;
  chunk: Dist;
}

/** Chunks (rows sharing one sent_at: one recordOutcomes transaction) and the gaps between them, all pages together. */
async function chunkCadence(s: Stack, campaignId: string): Promise<{ cadence: Dist; chunk: Dist }> {
  const chunks = await s.db.$queryRaw<Array<{ at: Date; n: number }>>`
    SELECT sent_at AS at, count(*)::int AS n FROM deliveries
    WHERE campaign_id = ${campaignId} AND status = 'SENT' GROUP BY sent_at ORDER BY 1`;
  const gaps = chunks.slice(1).map((c, i) => c.at.getTime() - chunks[i].at.getTime());
  return { cadence: dist(gaps), chunk: dist(chunks.map((c) => c.n)) };
}

export async function rate(b: Bench, mode: 'campaign' | 'provider'): Promise<RateResult> {
  const { s, opts } = b;
  const R = opts.rate;
  const n = Math.min(opts.users, R * opts.rateSeconds);
  say(`\n== 2. Rate (${mode === 'campaign' ? `campaign ratePerSecond ${R}` : `provider limit KEEL_RATE_LIMIT_EMAIL=${R} on the worker, campaign without a rate`}): ` +
    `${n} recipients (~${(n / R).toFixed(0)} s), settings ${settingsName(opts.settings)} ==`);
  if (mode === 'provider') await restartWorker(s, 'notifications', opts.workerPoolSize, { KEEL_RATE_LIMIT_EMAIL: String(R) });
  const pool = await makePool(s, `rate-${mode}`, n);
  const userIds = Array.from({ length: n }, (_, i) => userId(i + 1));
  const c = await runCampaign(b, {
    label: `rate-${mode}`, settings: opts.settings, audience: { userIds }, expected: n, poolId: pool.poolId,
    ratePerSecond: mode === 'campaign' ? R : undefined, profile: opts.profile,
  });
  if (mode === 'provider') await restartWorker(s, 'notifications', opts.workerPoolSize);
  const spanMs = c.lastSentAt - c.firstSentAt;
  const achieved = (c.sent / spanMs) * 1000;
  // Per-second counts over the send phase (first and last second left out: partial).
  const perSecond = await s.db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = ${c.id} AND status = 'SENT'
    GROUP BY floor(extract(epoch FROM sent_at - ${new Date(c.firstSentAt)}::timestamptz)) ORDER BY 1`;
  const steady = dist(perSecond.slice(1, -1).map((r) => r.n));
  const cc = await chunkCadence(s, c.id);
  const r: RateResult = {
    mode, n, campaign: c, spanMs, achieved, fraction: achieved / R,
    fractionExFirstChunk: ((c.sent - c.firstSentCount) / spanMs) * 1000 / R, steady, cadence: cc.cadence, chunk: cc.chunk,
  };
  printCampaign(c);
  say(`  achieved ${achieved.toFixed(1)}/s = sent ${c.sent} / (last sent_at - first sent_at = ${secs(spanMs)}) -> ${(r.fraction).toFixed(3)} of ${R} ` +
    `(target >= 0.95: ${r.fraction >= 0.95 ? 'MET' : 'MISSED'})`);
  say(`  without the first chunk's ${c.firstSentCount} rows (they share the first timestamp): ${r.fractionExFirstChunk.toFixed(3)} of ${R}; ` +
    `sent per whole second (first and last left out): ${fmtDist(steady).replace(/ ms/g, '')}; submit -> COMPLETED ${secs(c.totalMs)} (ideal ${secs((n / R) * 1000)})`);
  if (cc.cadence.n) {
    const ideal = (cc.chunk.p50 / R) * 1000;
    say(`  chunks (rows sharing one sent_at): ${cc.chunk.n}, p50 ${cc.chunk.p50} rows; gap to the next chunk, all pages: ${fmtDist(cc.cadence)}; ` +
      `at exactly R a chunk of ${cc.chunk.p50} is due every ${ms(ideal)} (pages end in smaller chunks)`);
  }
  return r;
}
