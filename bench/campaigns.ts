// Benchmark (not a test): how fast a notification campaign reaches a whole user base, how well it keeps
// to a rate, and whether it disturbs bookings meanwhile. Prints its figures (a summary block and one JSON
// line); exits non-zero if anything failed (a wrong count is a failure, a missed target is not).
//
//   npx tsx bench/campaigns.ts [--users 100000] [--rate 500] [--configs 500x4,1000x4,1000x8] ...
//   npx tsx bench/campaigns.ts --help
//
// 1. Throughput (bench/campaigns/throughput.ts): `users` users (bulk insert), a promo pool of as many
//    codes, a campaign {all: true} on email through the outbox provider, no rate limit, submitted through
//    the real API (createApp on a local port, HTTP) and run by a notifications worker in its own process
//    (`node --import tsx workers/main.ts`, KEEL_WORKERS=notifications: the production shape), once per
//    page-size x concurrency setting. Then the naive baseline (bench/campaigns/naive-loop.ts): the same
//    sends one at a time. Where the time goes: page timings from the workflow histories
//    (bench/campaigns/page-stats.ts), CPU per process from /proc, a sampling profile of the database and
//    auto_explain's plans of any statement over 1 s (bench/campaigns/db-profile.ts), and deliverPage's
//    statements EXPLAINed with and without fresh statistics (bench/campaigns/plans.ts).
// 2. Rate (bench/campaigns/rate.ts): a campaign's own ratePerSecond, and the provider limit.
// 3. Isolation (bench/campaigns/isolation.ts): booking start lateness while a users-sized campaign runs,
//    and without one (idle baseline) unless --skip-baseline.
//
// Services: TEMPORAL_ADDRESS / DATABASE_URL when given, otherwise the test harness's own code path
// (test/global-setup.ts: a headless in-memory `temporal server start-dev` and a throwaway PostgreSQL
// cluster with fsync=off, synchronous_commit=off). A fresh database is created, migrated and dropped.
// The stack is bench/campaigns/stack.ts; what both benchmarks share is in bench/harness/ and bench/common.ts.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { cpuJson, distJson, errorText, ms, p99Json, round, secs } from './common';
import { backgroundLoad, Cleanups, endRun, machineEnv, note, printEnd, runMain, say, timeNotes } from './harness/run';
import { isolation, type IsolationResult } from './campaigns/isolation';
import { naive, type NaiveResult } from './campaigns/naive-loop';
import { settingsName, options } from './campaigns/options';
import { planProbe, type PlanProbe } from './campaigns/plans';
import { rate, type RateResult } from './campaigns/rate';
import { campaignJson, type CampaignResult } from './campaigns/run-campaign';
import { Bench, insertUsers, startStack, startWorker } from './campaigns/stack';
import { throughput, warmUp } from './campaigns/throughput';

const cleanups = new Cleanups(30_000);
timeNotes();

async function main(): Promise<number> {
  const opts = options();
  const t0 = performance.now();
  const tag = `bc${randomBytes(3).toString('hex')}`;
  const { cores: background, waitedS } = await backgroundLoad(opts.waitQuietMs);
  note(`setting up (task queue prefix ${tag}) ...`);
  const s = await startStack(opts, tag, cleanups);
  const b = new Bench(s, opts);
  if (opts.experiments.has('free-codes-index')) {
    await s.db.$executeRawUnsafe('CREATE INDEX "bench_promo_codes_free_idx" ON "promo_codes" ("pool_id", "code") WHERE "assigned_at" IS NULL');
  }

  const ut = await insertUsers(s, opts.users);
  await s.db.$executeRawUnsafe('ANALYZE users');
  note(`${opts.users} users inserted in ${secs(ut)} (db/user-store.ts upsertUsers, 10,000 per statement)`);
  s.workers.notifications = await startWorker(s, 'notifications', opts.workerPoolSize);
  if (!opts.skipIsolation) s.workers.bookings = await startWorker(s, 'bookings', opts.workerPoolSize);

  const setupS = (performance.now() - t0) / 1000 - waitedS;
  const env = {
    ...machineEnv(),
    temporal: s.temporalMode, postgres: `PostgreSQL ${s.postgresVersion}, ${s.postgresMode}`, backgroundCores: round(background, 2),
    workerPoolSize: opts.workerPoolSize, pagesPerRun: opts.env.KEEL_CAMPAIGN_PAGES_PER_RUN,
  };
  say(`== Keel campaign benchmark (${tag}) ==`);
  say(`  ${env.cores} x ${env.cpuModel}, ${env.memGiB} GiB, Node ${env.node}`);
  say(`  Temporal: ${env.temporal}`);
  say(`  ${env.postgres}`);
  say(`  users: ${opts.users} inserted in ${secs(ut)}; machine busy before the run: ${background.toFixed(2)} of ${env.cores} cores (should be ~0)` +
    `${opts.waitQuietMs ? ` after waiting ${waitedS.toFixed(0)} s for it` : ''}; setup ${setupS.toFixed(1)} s`);
  if (opts.keepLogs) say(`  worker logs: ${s.logDir}`);
  if (opts.experiments.size) say(`  EXPERIMENTS: ${[...opts.experiments].join(', ')} (not the reference figures)`);
  if (opts.workerNodeArgs.length) say(`  EXPERIMENT worker node flags: ${opts.workerNodeArgs.join(' ')}`);

  let tp: Awaited<ReturnType<typeof throughput>> | undefined;
  let nv: NaiveResult | undefined;
  let plans: PlanProbe | undefined;
  const rates: RateResult[] = [];
  let iso: IsolationResult | undefined;
  let base: IsolationResult | undefined;
  let warm: CampaignResult | undefined;
  try {
    if (opts.warmup > 0) warm = await warmUp(b);
    if (!opts.skipThroughput) tp = await throughput(b);
    if (!opts.skipNaive && opts.naiveN > 0) nv = await naive(b);
    if (tp?.best && nv) {
      say(`\n  ratio Keel / naive (deliveries per second): best ${settingsName(tp.best.settings)} ${(tp.best.perSec / nv.perSec).toFixed(1)}x; ` +
        tp.results.map((r) => `${settingsName(r.settings)} ${(r.perSec / nv!.perSec).toFixed(1)}x`).join(', '));
    }
    if (!opts.skipPlans) plans = await planProbe(b);
    if (!opts.skipRate) for (const mode of opts.rateModes) rates.push(await rate(b, mode));
    if (!opts.skipIsolation) {
      const same = tp?.results.find((r) => settingsName(r.settings) === settingsName(opts.settings));
      // A rate-limited isolation campaign runs for at least users / rate: its starts spread over that,
      // not over the (shorter) unlimited run, which would pack them several times denser.
      const unlimited = same?.totalMs ?? tp?.best?.totalMs ?? (40_000 + 3000) / 0.7;
      const expected = opts.isoRate ? Math.max(unlimited, (opts.users / opts.isoRate) * 1000) : unlimited;
      iso = await isolation(b, true, expected);
      if (!opts.skipBaseline) base = await isolation(b, false, expected);
    }
  } catch (err) {
    b.failures.push(`aborted: ${errorText(err)}`);
    note(`aborted: ${errorText(err)}`);
  }

  await endRun(b, s, cleanups);
  const totalS = (performance.now() - t0) / 1000;

  say('\n== Summary ==');
  say(`  env: ${env.cores} cores (${env.cpuModel}), Node ${env.node}; Temporal: ${env.temporal}; ${env.postgres}; ` +
    `worker processes: notifications${opts.skipIsolation ? '' : ' + bookings'} (DATABASE_POOL_SIZE=${opts.workerPoolSize}); background load before ${background.toFixed(2)} cores`);
  if (tp) {
    for (const r of tp.results) {
      say(`  throughput ${settingsName(r.settings).padEnd(7)} ${opts.users} in ${secs(r.totalMs).padStart(7)} = ${r.perSec.toFixed(0).padStart(5)}/s` +
        `${r.pages ? ` (lanes busy ${(r.pages.laneBusy * 100).toFixed(0)} %, page p50 ${ms(r.pages.execution.p50)})` : ''}${r.ok ? '' : ' WRONG COUNTS'}`);
    }
    if (tp.best) say(`  best: ${settingsName(tp.best.settings)} ${secs(tp.best.totalMs)}; target < 60 s ${tp.best.totalMs < 60_000 ? 'MET' : 'MISSED'}`);
  }
  if (nv) {
    say(`  naive loop: ${nv.perSec.toFixed(0)}/s over ${nv.n}${nv.n < opts.users ? ` (sample; ${opts.users} extrapolated: ${secs(nv.projectedMs)})` : ` (${secs(nv.wallMs)})`}`);
    if (tp?.best) say(`  ratio Keel/naive: ${(tp.best.perSec / nv.perSec).toFixed(1)}x (best setting)`);
  }
  for (const r of rates) {
    say(`  rate (${r.mode}) ${opts.rate}/s over ${r.n}: achieved ${r.achieved.toFixed(1)}/s = ${r.fraction.toFixed(3)} of R ` +
      `(${r.fractionExFirstChunk.toFixed(3)} without the first chunk); target >= 0.95 ${r.fraction >= 0.95 ? 'MET' : 'MISSED'}`);
  }
  if (iso) {
    say(`  isolation: ${iso.n} booking starts during a ${opts.users}-recipient campaign (${settingsName(opts.settings)}${opts.isoRate ? `, ${opts.isoRate}/s` : ''}, ${iso.campaign ? secs(iso.campaign.totalMs) : 'n/a'}): ` +
      `lateness p50 ${ms(iso.lateness.p50)}, p99 ${ms(iso.lateness.p99)}, max ${ms(iso.lateness.max)}; target p99 < 1 s ${iso.lateness.p99 < 1000 ? 'MET' : 'MISSED'}`);
    say(`    ${iso.duringSend.n} of them while it was sending: p99 ${ms(iso.duringSend.p99)}` +
      `${iso.afterDue ? `; counted from the timer's due time as the server set it (at creation, before the campaign): p50 ${ms(iso.afterDue.p50)}, p99 ${ms(iso.afterDue.p99)}` : ''}`);
  }
  if (base) {
    say(`  isolation baseline (no campaign): p50 ${ms(base.lateness.p50)}, p99 ${ms(base.lateness.p99)}, max ${ms(base.lateness.max)}` +
      `${base.afterDue ? `; from the timer's due time: p50 ${ms(base.afterDue.p50)}, p99 ${ms(base.afterDue.p99)}` : ''}`);
  }
  const isoRatio = iso && base ? iso.lateness.p99 / base.lateness.p99 : NaN;
  if (iso && base) {
    say(`  isolation figure: start lateness p99 with the campaign / without = ${isoRatio.toFixed(2)} (target <= 1.2: ${isoRatio <= 1.2 ? 'MET' : 'MISSED'}); ` +
      `API traffic p99 ${ms(iso.apiTraffic.latency.p99)} with, ${ms(base.apiTraffic.latency.p99)} without`);
  }
  return printEnd(b, totalS, {
    bench: 'keel-campaigns',
    ok: b.failures.length === 0,
    env: {
      ...env, users: opts.users, settings: settingsName(opts.settings),
      ...(opts.experiments.size ? { experiments: [...opts.experiments] } : {}), ...(opts.workerNodeArgs.length ? { workerNodeArgs: opts.workerNodeArgs } : {}),
    },
    warmup: warm && { n: warm.sent, totalS: round(warm.totalMs / 1000, 2) },
    throughput: tp && {
      users: opts.users,
      results: tp.results.map(campaignJson),
      best: tp.best && { settings: settingsName(tp.best.settings), totalS: round(tp.best.totalMs / 1000, 2), deliveriesPerSec: round(tp.best.perSec) },
      targetMet: tp.best ? tp.best.totalMs < 60_000 : false,
    },
    naive: nv && {
      n: nv.n, sample: nv.n < opts.users, wallS: round(nv.wallMs / 1000, 2), perSec: round(nv.perSec), projectedS: round(nv.projectedMs / 1000, 1),
      firstKPerSec: round(nv.firstK), lastKPerSec: round(nv.lastK), latencyMs: distJson(nv.latency), cpu: cpuJson(nv.cpu),
    },
    ratio: tp?.best && nv ? round(tp.best.perSec / nv.perSec, 2) : null,
    plans: plans && {
      n: plans.n, analyzeDeliveriesMs: round(plans.analyzeMs),
      chunkStatementsMs: Object.fromEntries(Object.keys(plans.before).map((k) => [k, {
        firstPages: round(plans.before[k].ms, 2), firstPagesRowsVisited: plans.before[k].rowsVisited,
        afterAnalyze: round(plans.after[k].ms, 2), afterAnalyzeRowsVisited: plans.after[k].rowsVisited,
      }])),
      claimMs: Object.fromEntries(plans.claim.map((c) => [`${c.consumed * 100}%`, {
        ms: round(c.current.ms, 2), rowsVisited: c.current.rowsVisited, orderedMs: round(c.ordered.ms, 2), orderedRowsVisited: c.ordered.rowsVisited,
      }])),
    },
    rate: rates.map((r) => ({
      mode: r.mode, ratePerSecond: opts.rate, n: r.n, achievedPerSec: round(r.achieved, 2), fraction: round(r.fraction, 4),
      fractionExFirstChunk: round(r.fractionExFirstChunk, 4), spanS: round(r.spanMs / 1000, 2), totalS: round(r.campaign.totalMs / 1000, 2),
      perSecond: distJson(r.steady), targetMet: r.fraction >= 0.95, chunkGapMs: distJson(r.cadence), chunkRowsP50: r.chunk.p50,
    })),
    isolation: iso && {
      bookings: iso.n, started: iso.started, campaignRatePerSecond: opts.isoRate ?? null, windowS: round(iso.windowMs / 1000), latenessMs: distJson(iso.lateness), duringSendMs: distJson(iso.duringSend),
      over1s: iso.over1s, targetMet: iso.lateness.p99 < 1000, campaign: iso.campaign && campaignJson(iso.campaign), cpu: cpuJson(iso.cpu),
      stagesP99Ms: iso.stages && p99Json(iso.stages),
      afterTimerDueMs: iso.afterDue && distJson(iso.afterDue),
      p99RatioToBaseline: round(isoRatio, 3),
      apiTraffic: { requests: iso.apiTraffic.requests, errors: iso.apiTraffic.errors, latencyMs: distJson(iso.apiTraffic.latency) },
      baseline: base && {
        latenessMs: distJson(base.lateness), over1s: base.over1s, cpu: cpuJson(base.cpu),
        apiTraffic: { requests: base.apiTraffic.requests, errors: base.apiTraffic.errors, latencyMs: distJson(base.apiTraffic.latency) },
        stagesP99Ms: base.stages && p99Json(base.stages),
        afterTimerDueMs: base.afterDue && distJson(base.afterDue),
      },
    },
    failures: b.failures,
    totalSeconds: round(totalS),
  });
}

runMain(main, cleanups);
