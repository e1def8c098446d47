// One campaign through the API (POST /v1/campaigns), watched as the console does (GET every 250 ms)
// until it ends, then checked row by row, and what it cost: CPU per process, and with `profile` the
// database profile, the slow statements and the page timings.
import { performance } from 'node:perf_hooks';
import { workflowIdForCampaign } from '../../domain/campaign';
import { cpuJson, dist, distJson, fmtCpu, fmtDist, ms, round, secs, sleep, type CpuUsage, type Dist } from '../common';
import { note, say } from '../harness/run';
import { DbSampler, dbProfileJson, logSize, printDbProfile, printSlow, slowStatements, type DbProfile, type SlowStatements } from './db-profile';
import { settingsName, type Settings } from './options';
import { pageStats, printPageStats, type PageStats } from './page-stats';
import { PLAIN_TEMPLATE, PROMO_TEMPLATE, type Bench } from './stack';

export interface CampaignSpec {
  label: string;
  settings: Settings;
  audience: { all: true } | { userIds: string[] };
  expected: number;
  poolId?: string;
  ratePerSecond?: number;
  profile: boolean;
}

export interface CampaignResult {
  label: string;
  id: string;
  settings: Settings;
  ok: boolean;
  status: string;
  total: number;
  sent: number;
  failed: number;
  skipped: number;
  submitAt: number;
  acceptMs: number;
  /** submit -> the row's finishedAt (written by the workflow's last activity). */
  totalMs: number;
  /** submit -> COMPLETED seen through GET /v1/campaigns/:id (polled every 250 ms). */
  observedMs: number;
  startedAt: number;
  finishedAt: number;
  perSec: number;
  firstSentAt: number;
  lastSentAt: number;
  firstSentCount: number;
  progress: Array<[number, number]>;
  pollLatency: Dist;
  cpu: CpuUsage;
  db?: DbProfile;
  slow?: SlowStatements;
  pages?: PageStats;
  checks: { sentRows: number; codes: number; distinctCodes: number; outbox: number; mismatched: number };
}

export async function runCampaign(b: Bench, spec: CampaignSpec): Promise<CampaignResult> {
  const { s, opts } = b;
  const api = await s.api(spec.settings);
  const id = `${s.tag}-${spec.label}`;
  const body = {
    name: `bench ${spec.label}`, channel: 'email', template: spec.poolId ? PROMO_TEMPLATE : PLAIN_TEMPLATE, audience: spec.audience,
    ...(spec.poolId ? { promoPoolId: spec.poolId } : {}), ...(spec.ratePerSecond ? { ratePerSecond: spec.ratePerSecond } : {}),
  };
  const sampler = spec.profile ? new DbSampler(s) : undefined;
  await sampler?.start();
  const logFrom = logSize(s.pgLog);
  const c0 = s.cpu.snap();
  const submitAt = Date.now();
  const t0 = performance.now();
  const res = await api.request('POST', '/v1/campaigns', body, { 'idempotency-key': id });
  const acceptMs = performance.now() - t0;
  if (res.status !== 202) {
    await sampler?.stop();
    throw new Error(`POST /v1/campaigns ${spec.label}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  }
  const workflowId = (res.body as { workflowId: string }).workflowId ?? workflowIdForCampaign(id);
  b.workflowIds.push(workflowId);
  const firstRunId = (await s.client.workflow.getHandle(workflowId).describe()).runId;
  note(`${spec.label}: submitted (${spec.expected} recipients, ${settingsName(spec.settings)}${spec.ratePerSecond ? `, ${spec.ratePerSecond}/s` : ''}) in ${ms(acceptMs)}`);

  // Watch it as the console does.
  const progress: Array<[number, number]> = [];
  const pollLat: number[] = [];
  let view: { status: string; sent: number } = { status: 'SCHEDULED', sent: 0 };
  let lastNote = Date.now();
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const p0 = performance.now();
    const r = await api.request('GET', `/v1/campaigns/${id}`);
    pollLat.push(performance.now() - p0);
    if (r.status === 200) {
      view = r.body as typeof view;
      progress.push([Date.now() - submitAt, view.sent]);
      if (['COMPLETED', 'CANCELLED', 'FAILED'].includes(view.status)) break;
    }
    if (Date.now() > deadline) {
      b.fail(`${spec.label}: not finished after ${opts.timeoutMs / 1000} s (status ${view.status}, sent ${view.sent})`);
      break;
    }
    if (Date.now() - lastNote > 10_000) {
      lastNote = Date.now();
      note(`${spec.label}: ${view.status}, sent ${view.sent}/${spec.expected} after ${secs(Date.now() - submitAt)}`);
    }
    await sleep(250);
  }
  const observedMs = Date.now() - submitAt;
  const c1 = s.cpu.snap();
  const db = await sampler?.stop();
  const slow = spec.profile ? slowStatements(s.pgLog, logFrom) : undefined;

  const row = await s.db.campaign.findUniqueOrThrow({ where: { id } });
  // The checks below join this campaign's 100,000 fresh rows: without statistics that know them the
  // planner picks nested loops that run for minutes (the same trap the report's plan section shows).
  await s.db.$executeRawUnsafe('ANALYZE deliveries, promo_codes');
  const [sentAt] = await s.db.$queryRaw<Array<{ first: Date | null; last: Date | null; sent: number; at_first: number }>>`
    SELECT min(sent_at) AS first, max(sent_at) AS last, count(*) FILTER (WHERE status = 'SENT')::int AS sent,
           count(*) FILTER (WHERE sent_at = (SELECT min(sent_at) FROM deliveries WHERE campaign_id = ${id}))::int AS at_first
    FROM deliveries WHERE campaign_id = ${id}`;
  const [codes] = await s.db.$queryRaw<Array<{ codes: number; distinct_codes: number }>>`
    SELECT count(promo_code)::int AS codes, count(DISTINCT promo_code)::int AS distinct_codes FROM deliveries WHERE campaign_id = ${id}`;
  // Through the unique index: every key of this campaign sorts between these two bounds.
  const [outbox] = await s.db.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM outbox_messages WHERE idempotency_key >= ${`campaign:${id}:`} AND idempotency_key < ${`campaign:${id};`}`;
  let mismatched = 0;
  if (spec.poolId) {
    const [m] = await s.db.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM promo_codes c LEFT JOIN deliveries d ON d.campaign_id = ${id} AND d.user_id = c.assigned_user_id
      WHERE c.pool_id = ${spec.poolId} AND c.assigned_campaign_id = ${id} AND d.promo_code IS DISTINCT FROM c.code`;
    mismatched = m.n;
  }
  const checks = { sentRows: sentAt.sent, codes: codes.codes, distinctCodes: codes.distinct_codes, outbox: outbox.n, mismatched };
  const wantCodes = spec.poolId ? spec.expected : 0;
  const ok = row.status === 'COMPLETED' && row.total === spec.expected && row.sent === spec.expected && row.failed === 0 && row.skipped === 0 &&
    checks.sentRows === spec.expected && checks.outbox === spec.expected && checks.codes === wantCodes && checks.distinctCodes === wantCodes && mismatched === 0;
  if (!ok) {
    b.fail(`${spec.label}: wrong outcome: status ${row.status}, total ${row.total}, sent ${row.sent}, failed ${row.failed}, skipped ${row.skipped}; ` +
      `rows ${JSON.stringify(checks)}; expected ${spec.expected} each${spec.poolId ? '' : ' (no codes)'}`);
  }
  const finishedAt = row.finishedAt?.getTime() ?? NaN;
  let pages: PageStats | undefined;
  if (spec.profile) {
    try {
      pages = await pageStats(s.client, workflowId, firstRunId, spec.settings.concurrency, submitAt);
    } catch (err) {
      note(`${spec.label}: page timings unavailable: ${(err as Error).message}`);
    }
  }
  const totalMs = finishedAt - submitAt;
  return {
    label: spec.label, id, settings: spec.settings, ok, status: row.status, total: row.total, sent: row.sent, failed: row.failed, skipped: row.skipped,
    submitAt, acceptMs, totalMs, observedMs, startedAt: row.startedAt?.getTime() ?? NaN, finishedAt, perSec: (row.sent / totalMs) * 1000,
    firstSentAt: sentAt.first?.getTime() ?? NaN, lastSentAt: sentAt.last?.getTime() ?? NaN, firstSentCount: sentAt.at_first,
    progress, pollLatency: dist(pollLat), cpu: s.cpu.usage(c0, c1), db, slow, pages, checks,
  };
}

export function printCampaign(r: CampaignResult): void {
  const sendSpan = r.lastSentAt - r.firstSentAt;
  say(`  ${r.label} (${settingsName(r.settings)}): ${r.status} ${r.sent}/${r.total} in ${secs(r.totalMs)} (submit -> finishedAt; seen by polling after ${secs(r.observedMs)}) ` +
    `= ${r.perSec.toFixed(0)} deliveries/s`);
  say(`    accepted in ${ms(r.acceptMs)}; first sent_at +${ms(r.firstSentAt - r.submitAt)}, last +${ms(r.lastSentAt - r.submitAt)}: ` +
    `${((r.sent / sendSpan) * 1000).toFixed(0)}/s while sending; checks ${JSON.stringify(r.checks)}${r.ok ? ' ok' : ' WRONG'}`);
  const marks = r.progress.filter((_, i, a) => i === a.length - 1 || Math.floor(a[i][0] / 10_000) !== Math.floor((a[i + 1]?.[0] ?? 0) / 10_000));
  say(`    progress (s: sent): ${marks.map(([t, n]) => `${(t / 1000).toFixed(0)}: ${n}`).join(', ')}; GET /v1/campaigns/:id ${fmtDist(r.pollLatency)}`);
  say(`    ${fmtCpu(r.cpu)}`);
  if (r.pages) printPageStats(r.pages, r.settings.concurrency);
  if (r.db) printDbProfile(r.db);
  printSlow(r.slow);
}

export function campaignJson(r: CampaignResult) {
  return {
    settings: settingsName(r.settings), ok: r.ok, sent: r.sent, totalS: round(r.totalMs / 1000, 2), observedS: round(r.observedMs / 1000, 2),
    deliveriesPerSec: round(r.perSec), sendPhasePerSec: round((r.sent / (r.lastSentAt - r.firstSentAt)) * 1000), acceptMs: round(r.acceptMs),
    cpu: cpuJson(r.cpu),
    pages: r.pages && {
      runs: r.pages.runs, pages: r.pages.pages, retried: r.pages.retriedPages, retryReasons: [...new Set(r.pages.retryReasons)].slice(0, 5), laneBusy: round(r.pages.laneBusy, 3), snapshotMs: round(r.pages.snapshotMs),
      executionMs: distJson(r.pages.execution), scheduleToStartMs: distJson(r.pages.scheduleToStart), turnaroundMs: distJson(r.pages.turnaround),
      continueAsNewMs: distJson(r.pages.continueAsNew), perRecipientMsP50: round(r.pages.perRecipientMs.p50, 3),
      timelineMs: Object.fromEntries(Object.entries(r.pages.timeline).map(([k, v]) => [k, round(v)])),
    },
    db: r.db && dbProfileJson(r.db),
    slowStatements: r.slow && Object.fromEntries([...r.slow.byStatement.entries()].map(([k, v]) => [k, { n: v.n, maxMs: round(v.maxMs), totalMs: round(v.totalMs) }])),
  };
}
