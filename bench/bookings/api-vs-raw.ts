// Throughput: POST /v1/bookings (express app + PostgreSQL row + workflow start, over real HTTP with
// keep-alive) vs the same workflow started directly with startBookingWorkflow, same options, same
// concurrency, in the same run; segments run in ABBA order so drift (a growing history store, a warming
// JIT) cannot favour one side. Bookings start 30 days out so no timer fires meanwhile. Then where the
// API's time goes (diagnostics).
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createBooking } from '../../db/booking-store';
import { workflowIdForBooking } from '../../domain/booking';
import { cpuJson, dist, fmtCpu, fmtDist, round, runPool, sleep, type CpuUsage, type Dist } from '../common';
import { note, say } from '../harness/run';
import { booking, meanOf, scrape, WFT_S2S, type Bench } from './stack';

interface Segment {
  kind: string;
  n: number;
  wallMs: number;
  drainMs: number;
  latencies: number[];
  cpu: CpuUsage;
  /** While the workers caught up after the segment (no more starts): who is busy then. */
  drainCpu?: CpuUsage;
  wftS2sMs: number;
}

export interface SideResult {
  kind: string;
  n: number;
  startsPerSec: number;
  sustainedPerSec: number;
  latency: Dist;
  cpu: CpuUsage;
  drainCpu?: CpuUsage;
  wftS2sMs: number;
  segments: Array<{ n: number; startsPerSec: number; drainMs: number }>;
}

async function runSegment(b: Bench, kind: string, n: number, make: (i: number) => Promise<void>, startsWorkflows = true): Promise<Segment> {
  await b.drained(); // begin from an idle system
  await sleep(200);
  const m0 = await scrape(b.s.metricsPort);
  const c0 = b.s.cpu.snap();
  const r = await runPool(n, b.opts.concurrency, make);
  const c1 = b.s.cpu.snap();
  if (startsWorkflows) b.expectedWft += r.ok;
  const t1 = performance.now();
  const drainedAt = startsWorkflows ? await b.drained() : t1;
  const c2 = b.s.cpu.snap();
  const m1 = await scrape(b.s.metricsPort);
  b.fail(kind, r.errors);
  return {
    kind, n: r.ok, wallMs: r.wallMs, drainMs: drainedAt - t1, latencies: r.latencies, cpu: b.s.cpu.usage(c0, c1, kind),
    drainCpu: drainedAt - t1 > 500 ? b.s.cpu.usage(c1, c2, `${kind} catch-up`) : undefined,
    wftS2sMs: meanOf(m0, m1, WFT_S2S),
  };
}

function combine(kind: string, segs: Segment[]): SideResult {
  const n = segs.reduce((a, s) => a + s.n, 0);
  const wall = segs.reduce((a, s) => a + s.wallMs, 0);
  const drained = segs.reduce((a, s) => a + s.wallMs + s.drainMs, 0);
  const cpu: CpuUsage = {};
  for (const s of segs) for (const [k, v] of Object.entries(s.cpu)) cpu[k] = (cpu[k] ?? 0) + (v * s.wallMs) / wall;
  const s2s = segs.filter((s) => Number.isFinite(s.wftS2sMs));
  const drains = segs.filter((s) => s.drainCpu);
  const drainWall = drains.reduce((a, s) => a + s.drainMs, 0);
  let drainCpu: CpuUsage | undefined;
  for (const s of drains) {
    drainCpu ??= {};
    for (const [k, v] of Object.entries(s.drainCpu!)) drainCpu[k] = (drainCpu[k] ?? 0) + (v * s.drainMs) / drainWall;
  }
  return {
    drainCpu,
    kind,
    n,
    startsPerSec: (n / wall) * 1000,
    sustainedPerSec: (n / drained) * 1000,
    latency: dist(segs.flatMap((s) => s.latencies)),
    cpu,
    wftS2sMs: s2s.length ? s2s.reduce((a, s) => a + s.wftS2sMs * s.n, 0) / s2s.reduce((a, s) => a + s.n, 0) : NaN,
    segments: segs.map((s) => ({ n: s.n, startsPerSec: round((s.n / s.wallMs) * 1000)!, drainMs: Math.round(s.drainMs) })),
  };
}

function printSide(r: SideResult): void {
  say(`  ${r.kind.padEnd(10)} ${r.startsPerSec.toFixed(1).padStart(7)} starts/s   (incl. workers catching up: ${r.sustainedPerSec.toFixed(1)}/s)`);
  say(`  ${''.padEnd(10)} latency ${fmtDist(r.latency)}`);
  say(`  ${''.padEnd(10)} ${fmtCpu(r.cpu)}`);
  if (Number.isFinite(r.wftS2sMs)) say(`  ${''.padEnd(10)} first workflow task waited ${r.wftS2sMs.toFixed(0)} ms on average before a worker took it`);
  if (r.drainCpu) say(`  ${''.padEnd(10)} catching up: ${fmtCpu(r.drainCpu)}`);
  say(`  ${''.padEnd(10)} segments: ${r.segments.map((s) => `${s.n} @ ${s.startsPerSec}/s, drain ${s.drainMs} ms`).join('; ')}`);
}

export async function throughput(b: Bench) {
  const { opts } = b;
  const tag = b.s.workflows.taskQueuePrefix;
  say(`\n== Throughput: ${opts.n} bookings per side, concurrency ${opts.concurrency}, ${opts.rounds} segment(s) per side (ABBA order) ==`);
  if (opts.warmup > 0) {
    const w1 = await runSegment(b, 'warm-up API', opts.warmup, (i) => b.viaApi(booking(`${tag}-wa-${i}`, i)));
    const w2 = await runSegment(b, 'warm-up raw', opts.warmup, (i) => b.raw(booking(`${tag}-wr-${i}`, i)));
    say(`  warm-up: ${opts.warmup} via API (${((w1.n / w1.wallMs) * 1000).toFixed(0)}/s), ${opts.warmup} raw (${((w2.n / w2.wallMs) * 1000).toFixed(0)}/s), not counted`);
  }
  const api: Segment[] = [];
  const raw: Segment[] = [];
  let offset = 0;
  for (let r = 0; r < opts.rounds; r++) {
    const size = Math.floor(opts.n / opts.rounds) + (r < opts.n % opts.rounds ? 1 : 0);
    const base = offset;
    offset += size;
    const doApi = async () => {
      api.push(await runSegment(b, 'API', size, (i) => b.viaApi(booking(`${tag}-api-${base + i}`, base + i))));
      note(`API segment ${r + 1}: ${size} in ${(api[api.length - 1].wallMs / 1000).toFixed(1)} s`);
    };
    const doRaw = async () => {
      raw.push(await runSegment(b, 'raw', size, (i) => b.raw(booking(`${tag}-raw-${base + i}`, base + i))));
      note(`raw segment ${r + 1}: ${size} in ${(raw[raw.length - 1].wallMs / 1000).toFixed(1)} s`);
    };
    if (r % 2 === 0) {
      await doApi();
      await doRaw();
    } else {
      await doRaw();
      await doApi();
    }
  }
  const apiR = combine('API', api);
  const rawR = combine('raw start', raw);
  printSide(apiR);
  printSide(rawR);
  const ratio = apiR.startsPerSec / rawR.startsPerSec;
  say(`  ratio API/raw: ${ratio.toFixed(2)}   (incl. catch-up: ${(apiR.sustainedPerSec / rawR.sustainedPerSec).toFixed(2)})`);
  say(`  HTTP connections accepted by the API so far: ${b.s.apiConnections()} (keep-alive, ${opts.concurrency} loops)`);
  const diag = opts.skipDiagnostics ? undefined : await diagnostics(b, apiR, rawR);
  return { api: apiR, raw: rawR, ratio, diagnostics: diag };
}

/**
 * Where the API's time goes: the same pipeline without the database and Temporal (a request that fails
 * validation), and the database write alone (createBooking, no HTTP, no workflow).
 */
async function diagnostics(b: Bench, apiR: SideResult, rawR: SideResult): Promise<Record<string, unknown>> {
  const { opts } = b;
  const tag = b.s.workflows.taskQueuePrefix;
  const floor = await runSegment(
    b,
    'http floor',
    opts.n,
    async () => {
      const res = await b.s.driver.request('POST', '/v1/bookings', {});
      if (res.status !== 400) throw new Error(`expected 400, got ${res.status}`);
    },
    false,
  );
  const dbOnly = await runSegment(
    b,
    'db only',
    opts.n,
    async (i) => {
      const body = booking(`${tag}-db-${i}`, i);
      const r = await createBooking(
        b.s.db,
        { ...body, startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) },
        { actor: 'service:bench', requestId: randomUUID() },
        workflowIdForBooking(body.bookingId),
      );
      if (r.kind !== 'created') throw new Error(`createBooking: ${r.kind}`);
    },
    false,
  );
  const f = combine('http floor', [floor]);
  const d = combine('db only', [dbOnly]);
  say(`\n  diagnostics (same concurrency, ${opts.n} each):`);
  say(`  http floor ${f.startsPerSec.toFixed(1).padStart(7)} req/s  POST /v1/bookings answered 400 by validation: pino-http, json, auth, zod, no DB, no Temporal`);
  say(`  ${''.padEnd(10)} latency ${fmtDist(f.latency)}; ${fmtCpu(f.cpu)}`);
  say(`  db only    ${d.startsPerSec.toFixed(1).padStart(7)} tx/s   createBooking() alone (one database call) (pool ${opts.apiPoolSize}), no HTTP, no workflow`);
  say(`  ${''.padEnd(10)} latency ${fmtDist(d.latency)}; ${fmtCpu(d.cpu)}`);
  const perStart = (r: number) => 1000 / r;
  say(
    `  per booking (ms of wall time at c=${opts.concurrency}): API ${perStart(apiR.startsPerSec).toFixed(2)} ~ raw ${perStart(rawR.startsPerSec).toFixed(2)}` +
      ` + db ${perStart(d.startsPerSec).toFixed(2)} + http ${perStart(f.startsPerSec).toFixed(2)}` +
      ` = ${(perStart(rawR.startsPerSec) + perStart(d.startsPerSec) + perStart(f.startsPerSec)).toFixed(2)} if nothing overlapped`,
  );
  return {
    httpFloorPerSec: round(f.startsPerSec), httpFloorLatencyP50Ms: round(f.latency.p50), dbOnlyPerSec: round(d.startsPerSec),
    dbOnlyLatencyP50Ms: round(d.latency.p50), cpu: { httpFloor: cpuJson(f.cpu), dbOnly: cpuJson(d.cpu) },
  };
}
