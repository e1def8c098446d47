// 3. Isolation: booking start lateness while a campaign runs. --bookings bookings are created through the
// API (bookings worker: its own process, KEEL_WORKERS=bookings) before a users-sized campaign is
// submitted, their start times spread over the campaign's expected run. Lateness =
// booking_events.occurred_at - scheduled_at of each 'start'. Also measured without a campaign (baseline).
import { performance } from 'node:perf_hooks';
import { dist, fmtCpu, fmtDist, runPool, secs, sleep, type CpuUsage, type Dist } from '../common';
import { bookingBody, fetchStartSteps, postBooking, printSteps, startEvents, stepDists, waitForStarts } from '../harness/booking-starts';
import { note, say } from '../harness/run';
import { settingsName } from './options';
import { printCampaign, runCampaign, type CampaignResult } from './run-campaign';
import { makePool, type Bench } from './stack';

export interface IsolationResult {
  withCampaign: boolean;
  stages?: Record<string, Dist>;
  /** occurred_at - the start timer's due time as the server set it: the part that happens at start time. */
  afterDue?: Dist;
  n: number;
  started: number;
  windowMs: number;
  lateness: Dist;
  duringSend: Dist;
  over1s: number;
  campaign?: CampaignResult;
  cpu: CpuUsage;
  /** The API traffic driven through the window (the same with and without the campaign). */
  apiTraffic: { requests: number; errors: number; latency: Dist };
}

/**
 * Ordinary API traffic at `rate` requests/s until `until`: bookings made far ahead (on cars of their
 * own) and reads of the window's bookings, alternately, as customers do while a campaign goes out.
 */
async function apiTraffic(api: Awaited<ReturnType<Bench['s']['api']>>, o: { rate: number; until: number; prefix: string; readIds: string[] }) {
  const latencies: number[] = [];
  let errors = 0;
  let i = 0;
  const far = Date.now() + 40 * 86_400_000;
  const inFlight: Promise<void>[] = [];
  const t0 = Date.now();
  while (Date.now() < o.until && o.rate > 0) {
    const k = i++;
    const begun = performance.now();
    const req = k % 2 === 0
      ? api.request('POST', '/v1/bookings', bookingBody(`${o.prefix}api-${k}`, `cust-api-${k % 89}`, far + k * 3_600_000))
      : api.request('GET', `/v1/bookings/${o.readIds[k % o.readIds.length]}`);
    inFlight.push(req.then((r) => {
      latencies.push(performance.now() - begun);
      if (r.status >= 400) errors++;
    }, () => void errors++));
    await sleep(Math.max(0, t0 + (i * 1000) / o.rate - Date.now()));
  }
  await Promise.all(inFlight);
  return { requests: i, errors, latency: dist(latencies) };
}

export async function isolation(b: Bench, withCampaign: boolean, expectedCampaignMs: number): Promise<IsolationResult> {
  const { s, opts } = b;
  const n = opts.bookings;
  const label = withCampaign ? 'iso' : 'iso-base';
  const api = await s.api(opts.settings);
  const leadMs = 3000; // after submit, before the first start: the campaign is past its snapshot and sending
  // Well inside the campaign's expected run (its duration varies from run to run on a shared machine).
  const windowMs = opts.isoWindowMs ?? Math.max(10_000, Math.round(expectedCampaignMs * 0.7) - leadMs);
  say(withCampaign
    ? `\n== 3. Isolation: ${n} booking starts spread over ${secs(windowMs)} while a ${opts.users}-recipient campaign (${settingsName(opts.settings)}` +
      `${opts.isoRate ? `, ratePerSecond ${opts.isoRate}` : ', no rate limit'}) runs; ` +
      'bookings worker: its own process (KEEL_WORKERS=bookings) =='
    : `\n== 3b. Isolation baseline: the same ${n} booking starts over ${secs(windowMs)}, no campaign ==`);
  let pool: { poolId: string } | undefined;
  if (withCampaign) {
    pool = await makePool(s, 'iso', opts.users);
    await s.db.$executeRawUnsafe('ANALYZE promo_codes');
  }
  const createStart = Date.now();
  const createBudgetMs = Math.max(10_000, n * 60);
  const submitAt = createStart + createBudgetMs;
  const windowStart = Math.ceil((submitAt + leadMs) / 1000) * 1000;
  const prefix = `${s.tag}-${label}-`;
  const startsAt = (i: number) => windowStart + Math.floor((i * windowMs) / n);
  // A few at a time: a burst of creations queues the bookings' first workflow tasks in the worker, and
  // the start timer a task sets runs from the task's start, so a slow first task makes the start late
  // before any campaign is involved (the stages below show it as "timer due as set").
  const created = await runPool(n, 4, async (i) => {
    b.workflowIds.push(await postBooking(api, bookingBody(`${prefix}${i}`, `cust-${i % 97}`, startsAt(i))));
  });
  if (created.errors.length) b.fail(`${label}: ${created.errors.length} bookings not created (${created.errors[0]})`);
  say(`  created ${created.ok} bookings through the API in ${secs(created.wallMs)}; first start ${new Date(windowStart).toISOString()}`);
  if (Date.now() > submitAt) note(`WARNING: creating the bookings overran its budget by ${secs(Date.now() - submitAt)}: the first starts come sooner after the submit`);
  await sleep(Math.max(0, submitAt - Date.now()));

  const c0 = s.cpu.snap();
  let campaignP: Promise<CampaignResult> | undefined;
  if (withCampaign) {
    campaignP = runCampaign(b, {
      label, settings: opts.settings, audience: { all: true }, expected: opts.users, poolId: pool!.poolId, ratePerSecond: opts.isoRate, profile: opts.profile,
    });
    campaignP.catch(() => undefined);
  }
  const traffic = apiTraffic(api, {
    rate: opts.isoApiRate, until: windowStart + windowMs, prefix, readIds: Array.from({ length: created.ok }, (_, i) => `${prefix}${i}`),
  });
  await sleep(Math.max(0, windowStart - Date.now()));
  const started = await waitForStarts(s.db, prefix, created.ok, { deadline: windowStart + windowMs + 120_000, everyMs: 500 });
  const campaign = campaignP ? await campaignP : undefined;
  const apiTrafficResult = await traffic;
  if (apiTrafficResult.errors) b.fail(`${label}: ${apiTrafficResult.errors} of ${apiTrafficResult.requests} API requests failed`);
  const cpu = s.cpu.usage(c0, s.cpu.snap());
  if (started < created.ok) b.fail(`${label}: only ${started} of ${created.ok} bookings started`);
  const events = await startEvents(s.db, prefix);
  const late: number[] = [];
  const during: number[] = [];
  for (const e of events) {
    if (!e.scheduledAt) continue;
    const l = e.occurredAt.getTime() - e.scheduledAt.getTime();
    late.push(l);
    if (campaign && e.scheduledAt.getTime() >= campaign.firstSentAt && e.scheduledAt.getTime() <= campaign.lastSentAt) during.push(l);
  }
  let stages: Record<string, Dist> | undefined;
  let afterDue: Dist | undefined;
  if (opts.profile) {
    // Where each start's lateness comes from, step by step, from the booking workflows' histories.
    const st = await fetchStartSteps(s.client, Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, startsAt: startsAt(i) })), { requireTimer: true });
    if (st.errors.length) note(`lateness stages: ${st.errors.length} histories unreadable (${st.errors[0]})`);
    stages = stepDists(st.steps.values(), {
      setterQueued: 'setterQueued', setterRan: 'setterRan', timerDue: 'timerDue', timerFired: 'timerFired', workflowTaskStarted: 'workflowTaskStarted',
      activityScheduled: 'activityScheduled', activityStarted: 'activityStarted', activityCompleted: 'activityCompleted',
    });
    const dueAsSet = (id: string) => st.steps.get(id)?.timerDue ?? NaN;
    afterDue = dist(events.filter((e) => e.scheduledAt && Number.isFinite(dueAsSet(e.bookingId)))
      .map((e) => e.occurredAt.getTime() - e.scheduledAt!.getTime() - dueAsSet(e.bookingId)));
  }
  const r: IsolationResult = {
    withCampaign, n: created.ok, started, windowMs, lateness: dist(late), duringSend: dist(during), over1s: late.filter((l) => l > 1000).length, campaign, cpu,
    stages, afterDue, apiTraffic: apiTrafficResult,
  };
  if (campaign) printCampaign(campaign);
  say(`  started ${started}/${created.ok}; lateness (booking_events.occurred_at - scheduled_at, action 'start'): ${fmtDist(r.lateness)}`);
  if (campaign) {
    say(`  of which scheduled while the campaign was sending (first..last sent_at): ${fmtDist(r.duringSend)}`);
    const covered = r.duringSend.n / Math.max(1, r.lateness.n);
    if (covered < 0.8) note(`WARNING: only ${(covered * 100).toFixed(0)} % of the starts fell inside the campaign's send phase`);
  }
  say(`  API traffic through the window: ${apiTrafficResult.requests} requests at ${opts.isoApiRate}/s (bookings made ahead, reads), ` +
    `${apiTrafficResult.errors} errors, latency ${fmtDist(apiTrafficResult.latency)}`);
  say(`  late by more than 1 s: ${r.over1s}; target p99 < 1 s: ${r.lateness.p99 < 1000 ? 'MET' : 'MISSED'}`);
  if (stages) {
    say(`  the workflow task that set each start timer (before the campaign): queued ${fmtDist(stages.setterQueued)}; ran ${fmtDist(stages.setterRan)}`);
    say('  from the booking workflows\' histories, lateness vs startsAt at each step:');
    printSteps(
      stages,
      ['WorkflowTaskStarted (the worker took the wake-up)      ', stages.workflowTaskStarted],
      ['ActivityTaskCompleted (row written)                   ', stages.activityCompleted],
    );
    if (afterDue) say(`  lateness counted from the timer's due time as set (the part that happens at start time): ${fmtDist(afterDue)}`);
  }
  say(`  over the window ${fmtCpu(cpu)}`);
  return r;
}
