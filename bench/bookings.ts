// Benchmark (not a test): how fast Keel accepts bookings, and how punctually their workflows start
// them. Prints its figures; exits non-zero if anything failed.
//
//   npm run bench -- [--n 2000] [--concurrency 32] [--late-n 2000] [--workers child|inprocess] ...
//   npm run bench -- --help
//
// 1. Throughput (bench/bookings/api-vs-raw.ts): POST /v1/bookings vs the same workflow started
//    directly with startBookingWorkflow, in ABBA segments, and where the API's time goes.
// 2. Duplicate storm (bench/bookings/duplicate-storm.ts): the same booking POSTed 50 times at once,
//    20 rounds: every caller's latency, and one 201, the rest 200, one row, one run.
// 2b. Connect at start (bench/bookings/connect-at-start.ts): bookings sharing one startsAt, connect at +250 ms.
// 3. Start lateness (bench/bookings/lateness.ts): many bookings created through the API, all starting
//    within one minute; how late each 'start' event is, from the histories where that came from, and
//    what a transition costs (bench/bookings/transition-cost.ts); the floor workflow's lateness at the
//    same rate in the same run (bench/bookings/floor.ts).
// 4. Capacity (bench/bookings/capacity.ts): both over a ramp of rates; a table and a PNG chart.
// 5. Status page (bench/bookings/status-page.ts): GET /status and /v1/status under 32 keep-alive
//    clients, as a ratio to GET /healthz of the same app in the same run.
//
// Services: TEMPORAL_ADDRESS / DATABASE_URL when given, otherwise the test harness's own code path
// (test/global-setup.ts: a headless in-memory `temporal server start-dev` and a throwaway PostgreSQL
// cluster). A fresh database is created and migrated (test/helpers/database.ts) and dropped at the end.
// The stack is bench/bookings/stack.ts; what both benchmarks share is in bench/harness/ and bench/common.ts.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuJson, errorText, ms, p99Json, round } from './common';
import { backgroundLoad, Cleanups, endRun, machineEnv, note, printEnd, runMain, say } from './harness/run';
import { throughput } from './bookings/api-vs-raw';
import { capacity, printCapacity, writeFigures, type RampPoint } from './bookings/capacity';
import { connectAtStart, type ConnectAtStart } from './bookings/connect-at-start';
import { floorLateness, fmtWindow, type WindowResult } from './bookings/floor';
import { duplicateStorm } from './bookings/duplicate-storm';
import { lateness } from './bookings/lateness';
import { statusJson, statusPage } from './bookings/status-page';
import { options } from './bookings/options';
import { Bench, startStack } from './bookings/stack';

const cleanups = new Cleanups();

/** Distinct error messages in the API's error log, with counts. */
function summarizeErrorLog(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let msg = line.slice(0, 200);
    try {
      const j = JSON.parse(line) as { msg?: string; err?: { type?: string; message?: string; code?: string } };
      msg = `${j.msg ?? ''}: ${j.err?.type ?? ''} ${j.err?.code ?? ''} ${(j.err?.message ?? '').split('\n')[0].slice(0, 200)}`;
    } catch {
      // not JSON: keep the raw line
    }
    counts.set(msg, (counts.get(msg) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([m, c]) => `${c}x ${m}`);
}

async function main(): Promise<number> {
  const opts = options();
  const t0 = performance.now();
  const tag = `bench-${randomBytes(3).toString('hex')}`;
  const env = {
    ...machineEnv(),
    sdk: (() => {
      try {
        return (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../node_modules/@temporalio/client/package.json'), 'utf8')) as { version: string }).version;
      } catch {
        return 'unknown';
      }
    })(),
    temporal: '',
    postgres: '',
    workers: opts.workers === 'child' ? 'child process (bench/worker-process.ts)' : 'in the benchmark process',
    backgroundCores: NaN as number | null,
  };
  const background = (await backgroundLoad()).cores;
  note(`setting up (task queue prefix ${tag}) ...`);
  const s = await startStack(opts, tag, cleanups);
  env.backgroundCores = round(background, 2);
  env.temporal = s.temporalMode;
  env.postgres = `PostgreSQL ${s.postgresVersion}, ${s.postgresMode}`;
  const b = new Bench(s, opts);
  b.wftBase = await b.wftCount();
  const setupS = (performance.now() - t0) / 1000;
  say(`== Keel booking benchmark (${tag}) ==`);
  say(`  ${env.cores} x ${env.cpuModel}, ${env.memGiB} GiB, Node ${env.node}, @temporalio ${env.sdk}`);
  say(`  Temporal: ${env.temporal}`);
  say(`  ${env.postgres}`);
  say(`  workers: ${env.workers}; API: createApp on 127.0.0.1:${s.apiPort}, driven over HTTP/1.1 keep-alive from this process`);
  say(`  machine busy before the run: ${background.toFixed(2)} of ${env.cores} cores (other users' work; should be ~0)`);
  if (Object.keys(opts.workerOverrides).length) say(`  EXPERIMENT worker overrides: ${JSON.stringify(opts.workerOverrides)}`);
  say(`  pools: API ${opts.apiPoolSize}, workers ${opts.workerPoolSize}; API log level ${opts.apiLogLevel} (to /dev/null); setup took ${setupS.toFixed(1)} s`);

  let tp: Awaited<ReturnType<typeof throughput>> | undefined;
  let st: Awaited<ReturnType<typeof duplicateStorm>> | undefined;
  let lt: Awaited<ReturnType<typeof lateness>> | undefined;
  let floor: WindowResult | undefined;
  let sp: Awaited<ReturnType<typeof statusPage>> | undefined;
  const connects: ConnectAtStart[] = [];
  const ramp: RampPoint[] = [];
  const pick = (r: { lateness: { p50: number; p99: number; max: number }; over1s: number; n: number }) => ({
    p50: r.lateness.p50, p99: r.lateness.p99, max: r.lateness.max, over1s: r.over1s, n: r.n,
  });
  try {
    if (!opts.skipThroughput) tp = await throughput(b);
    if (!opts.skipStorm) st = await duplicateStorm(b);
    const rate = tp ? Math.min(tp.api.startsPerSec, tp.api.sustainedPerSec) : 30;
    if (!opts.skipConnect) for (const n of opts.connectN) connects.push(await connectAtStart(b, n, rate));
    if (!opts.skipLateness) {
      // The headline rate first (history steps and transition cost), then the rest of the ramp.
      const rates = [opts.lateN, ...(opts.skipRamp ? [] : opts.ramp.filter((r) => r !== opts.lateN))];
      for (const perWindow of rates) {
        const headline = perWindow === opts.lateN;
        const k = await lateness(b, tp?.api, { n: perWindow, windowS: opts.lateWindowS, details: headline });
        if (headline) lt = k;
        let f: WindowResult | undefined;
        if (!opts.skipFloor) {
          say(`\n== Floor: ${perWindow} minimal workflows due within ${opts.lateWindowS} s ==`);
          f = await floorLateness(b, perWindow, opts.lateWindowS);
          say(`  floor lateness (row written - due): ${fmtWindow(f)}`);
          if (headline) floor = f;
        }
        // Starts per minute: the ramp is measured in one-minute windows unless --late-window says otherwise.
        ramp.push({ perMinute: Math.round((perWindow * 60) / opts.lateWindowS), keel: pick(k), floor: f && pick({ ...f, lateness: f.lateness }) });
      }
      ramp.sort((x, y) => x.perMinute - y.perMinute);
    }
    if (!opts.skipStatus) sp = await statusPage(b);
  } catch (err) {
    b.failures.push(`aborted: ${errorText(err)}`);
  }

  await endRun(b, s, cleanups);
  const apiErrors = summarizeErrorLog(s.errorLog);
  if (apiErrors.length) b.failures.push(`API error log (${s.errorLog}): ${apiErrors.join(' | ')}`);
  else fs.rmSync(s.errorLog, { force: true });
  const totalS = (performance.now() - t0) / 1000;

  say('\n== Summary ==');
  say(`  env: ${env.cores} cores (${env.cpuModel}), Node ${env.node}, workers: ${env.workers}; Temporal: ${env.temporal}; ${env.postgres}`);
  if (tp) {
    say(`  throughput (n=${opts.n}/side, c=${opts.concurrency}): API ${tp.api.startsPerSec.toFixed(1)} starts/s, raw ${tp.raw.startsPerSec.toFixed(1)} starts/s, ratio API/raw ${tp.ratio.toFixed(2)}`);
    say(`  latency p50/p99: API ${ms(tp.api.latency.p50)} / ${ms(tp.api.latency.p99)}, raw ${ms(tp.raw.latency.p50)} / ${ms(tp.raw.latency.p99)}`);
  }
  for (const c of connects) say(`  connect at start (+250 ms): ${c.accepted}/${c.n} accepted (${JSON.stringify(c.answers)})`);
  if (st) {
    say(`  duplicate storm (${st.size} identical at once x ${st.rounds} rounds): p50 ${ms(st.latency.p50)}, p99 ${ms(st.latency.p99)}, max ${ms(st.latency.max)}; ${st.problems ? `${st.problems} PROBLEM(S)` : 'answers right (one 201, the rest 200, one row, one run)'}`);
  }
  if (lt) {
    say(`  lateness (n=${lt.n} over ${opts.lateWindowS} s, created at ${lt.createRate.toFixed(1)}/s): p50 ${ms(lt.lateness.p50)}, p99 ${ms(lt.lateness.p99)}, max ${ms(lt.lateness.max)}, late > 1 s: ${lt.over1s}`);
  }
  if (floor) say(`  floor     (n=${floor.n} over ${opts.lateWindowS} s): p50 ${ms(floor.lateness.p50)}, p99 ${ms(floor.lateness.p99)}, max ${ms(floor.lateness.max)}, late > 1 s: ${floor.over1s}`);
  const floorRatio = lt && floor ? lt.lateness.p99 / floor.lateness.p99 : NaN;
  if (lt && floor) {
    const met = lt.lateness.p99 < 1000 && floorRatio <= 1.5;
    say(`  Keel p99 / floor p99: ${floorRatio.toFixed(2)} (targets: Keel p99 < 1 s and <= 1.5x the floor: ${met ? 'met' : 'MISSED'})`);
  }
  if (lt?.cost) {
    const c = lt.cost;
    say(`  a start transition: ${c.history.events} history events, ${c.perTransition.workflowTasks} workflow tasks, ${c.perTransition.activityTasks} activity tasks, ` +
      `${c.perTransition.localActivities} local activities; CPU workers ${c.perTransition.workerCpuMs} ms, Temporal ${c.perTransition.temporalCpuMs} ms`);
  }
  if (ramp.length > 1) printCapacity(ramp);
  if (sp) {
    const line = (label: string, r: typeof sp.healthz) => `${label} ${r.perSec.toFixed(0)}/s (${r.ratio.toFixed(2)}x, p50/p99 ${ms(r.latency.p50)} / ${ms(r.latency.p99)})`;
    say(
      `  status page (c=${opts.concurrency}, ${sp.seconds} s each): ${line('/healthz', sp.healthz)}, ${line('/status', sp.html)}, ` +
        `${line('/v1/status', sp.json)}, ${line('/status 304', sp.conditional)}`,
    );
    say(`  ${sp.verdict}`);
  }
  const noisiest = s.cpu.noise.reduce((m, x) => (x.others > m.others ? x : m), { phase: 'none', others: 0 });
  const noisy = background > 0.2 || noisiest.others > 0.2;
  say(
    `  noise: other processes took ${background.toFixed(2)} cores before the run and up to ${noisiest.others.toFixed(2)} during ` +
      `${noisiest.phase}${noisy ? ' -> NOISY RUN: these figures understate this stack, re-run on a quiet machine' : ' (quiet run)'}`,
  );
  const figures = {
    bench: 'keel-bookings',
    ok: b.failures.length === 0,
    env: {
      ...env, concurrency: opts.concurrency, apiPoolSize: opts.apiPoolSize, workerPoolSize: opts.workerPoolSize,
      ...(Object.keys(opts.workerOverrides).length ? { workerOverrides: opts.workerOverrides } : {}),
    },
    throughput: tp && {
      n: opts.n,
      apiStartsPerSec: round(tp.api.startsPerSec),
      rawStartsPerSec: round(tp.raw.startsPerSec),
      ratio: round(tp.ratio, 3),
      apiSustainedPerSec: round(tp.api.sustainedPerSec),
      rawSustainedPerSec: round(tp.raw.sustainedPerSec),
      apiLatencyMs: { p50: round(tp.api.latency.p50), p99: round(tp.api.latency.p99), max: round(tp.api.latency.max) },
      rawLatencyMs: { p50: round(tp.raw.latency.p50), p99: round(tp.raw.latency.p99), max: round(tp.raw.latency.max) },
      cpu: { api: cpuJson(tp.api.cpu), raw: cpuJson(tp.raw.cpu) },
      catchUpCpu: { api: tp.api.drainCpu && cpuJson(tp.api.drainCpu), raw: tp.raw.drainCpu && cpuJson(tp.raw.drainCpu) },
      diagnostics: tp.diagnostics,
    },
    connectAtStart: connects.map((c) => ({ n: c.n, accepted: c.accepted, answers: c.answers, p50Ms: round(c.latency.p50), p99Ms: round(c.latency.p99) })),
    floor: floor && { n: floor.n, p50Ms: round(floor.lateness.p50), p99Ms: round(floor.lateness.p99), maxMs: round(floor.lateness.max), lateOver1s: floor.over1s },
    keelToFloorP99: round(floorRatio, 3),
    transitionCost: lt?.cost && { history: { ...lt.cost.history, eventsDist: undefined }, perTransition: lt.cost.perTransition },
    capacity: ramp.length ? {
      points: ramp.map((p) => ({
        perMinute: p.perMinute,
        keel: p.keel && { p50Ms: round(p.keel.p50), p99Ms: round(p.keel.p99), maxMs: round(p.keel.max), lateOver1s: p.keel.over1s },
        floor: p.floor && { p50Ms: round(p.floor.p50), p99Ms: round(p.floor.p99), maxMs: round(p.floor.max), lateOver1s: p.floor.over1s },
      })),
      largestUnder1sPerMinute: { keel: capacity(ramp, 'keel'), floor: capacity(ramp, 'floor') },
    } : undefined,
    duplicateStorm: st && {
      rounds: st.rounds,
      size: st.size,
      latencyMs: { p50: round(st.latency.p50), p99: round(st.latency.p99), max: round(st.latency.max) },
      problems: st.problems,
    },
    lateness: lt && {
      n: lt.n,
      started: lt.started,
      windowS: opts.lateWindowS,
      createPerSec: round(lt.createRate),
      leadMs: Math.round(lt.leadMs),
      p50Ms: round(lt.lateness.p50),
      p99Ms: round(lt.lateness.p99),
      maxMs: round(lt.lateness.max),
      meanMs: round(lt.lateness.mean),
      lateOver1s: lt.over1s,
      startedWithoutTimer: lt.noTimer,
      stagesP99Ms: lt.stages && p99Json(lt.stages),
      workerMeansMs: Object.fromEntries(Object.entries(lt.workerMeans).map(([k, v]) => [k, round(v)])),
    },
    statusPage: sp && statusJson(sp),
    noise: { backgroundCores: round(background, 2), maxOthersCores: round(noisiest.others, 2), phase: noisiest.phase, noisy },
    failures: b.failures,
    totalSeconds: round(totalS),
  };
  try {
    const out = await writeFigures(opts.out, new Date().toISOString(), figures, ramp.length > 1 ? ramp : [], `Keel vs floor, ${env.cores} cores (${tag})`);
    say(`  figures: ${out.json}${out.chart ? `, chart ${out.chart}` : ''}`);
  } catch (err) {
    b.failures.push(`writing the figures: ${errorText(err)}`);
  }
  return printEnd(b, totalS, { ...figures, ok: b.failures.length === 0, failures: b.failures });
}

runMain(main, cleanups);
