// The status page holds the crowd: in an outage everyone refreshes it. GET /healthz (the cheapest
// route of the same app: same middleware, a constant body), GET /status (HTML) and GET /v1/status
// (JSON) are each driven for a fixed time by `concurrency` loops over the bench's keep-alive agent,
// against the same app process, interleaved in short segments; the page's figures are given as a ratio
// to /healthz of the same run.
// A fourth, informative phase sends If-None-Match with the page's ETag (a browser reloading: 304).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { rebuildStatusPage } from '../../db/status-store';
import { dist, fmtCpu, round, type Dist } from '../common';
import { note, say } from '../harness/run';
import type { Bench } from './stack';

/** The verdict the issue asks for: both page routes at least this fraction of /healthz. */
export const STATUS_TARGET_RATIO = 0.8;

export interface PathResult {
  path: string;
  conditional: boolean;
  requests: number;
  perSec: number;
  latency: Dist;
  bodyBytes: number;
  errors: number;
  /** Against /healthz of the same run. */
  ratio: number;
  /** CPU of the app's process (server + driver) per request, in microseconds. */
  cpuUsPerRequest: number;
}

/** Segments per path (interleaved with the other paths'). */
const ROUNDS = 5;

const ms1 = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : 'n/a');

/** `concurrency` loops, each keeping one GET in flight, until `seconds` have passed. */
async function drive(b: Bench, path: string, seconds: number, headers: Record<string, string>, expect: number) {
  const latencies: number[] = [];
  let errors = 0;
  let bodyBytes = 0;
  let firstError = '';
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: b.opts.concurrency }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        try {
          const res = await b.s.driver.drain(path, headers);
          if (res.status !== expect) throw new Error(`HTTP ${res.status}, expected ${expect}`);
          latencies.push(performance.now() - s);
          bodyBytes = res.bytes;
        } catch (err) {
          errors++;
          firstError ||= String((err as Error)?.message ?? err);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  if (errors) b.failures.push(`status page: ${errors} failed GET ${path} (${firstError})`);
  return { requests: latencies.length, wallMs, latencies, bodyBytes, errors };
}

export async function statusPage(b: Bench) {
  const { opts, s } = b;
  const seconds = opts.statusSeconds;
  say(`\n== Status page under a crowd: ${opts.concurrency} keep-alive clients, ${seconds} s per path ==`);
  // A stored document, as after the first incident: the page's full size (every component's 90-day strip).
  await rebuildStatusPage(s.db, opts.env.KEEL_STATUS_COMPONENTS);
  const etag = await htmlEtag(s.driver.port);
  // Warm-up (JIT, sockets, the page cache's first read), not counted.
  for (const path of ['/healthz', '/status', '/v1/status']) await drive(b, path, 1, {}, 200);

  const phases: Array<{ path: string; conditional: boolean; label: string }> = [
    { path: '/healthz', conditional: false, label: 'GET /healthz' },
    { path: '/status', conditional: false, label: 'GET /status' },
    { path: '/v1/status', conditional: false, label: 'GET /v1/status' },
    { path: '/status', conditional: true, label: 'GET /status (If-None-Match: 304)' },
  ];
  // The machine is shared: rather than one 10 s block per path (a neighbour's job starting half way
  // would favour whichever path ran first), each path runs in ROUNDS segments, in ABCD DCBA ... order,
  // so drift in the background load falls on every path alike.
  const segmentS = seconds / ROUNDS;
  const acc = phases.map(() => ({ requests: 0, wallMs: 0, latencies: [] as number[], bodyBytes: 0, errors: 0, cpuMs: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [...phases.keys()].reverse() : [...phases.keys()];
    for (const i of order) {
      const p = phases[i];
      const c0 = s.cpu.snap();
      const r = await drive(b, p.path, segmentS, p.conditional ? { 'if-none-match': etag } : {}, p.conditional ? 304 : 200);
      const cpu = s.cpu.usage(c0, s.cpu.snap(), `status page ${p.label}`);
      const a = acc[i];
      a.requests += r.requests;
      a.wallMs += r.wallMs;
      a.latencies.push(...r.latencies);
      a.bodyBytes = r.bodyBytes;
      a.errors += r.errors;
      // The app's process (server and this driver): CPU time is far less at the mercy of a busy
      // neighbour than throughput is.
      a.cpuMs += (Object.values(cpu)[0] ?? NaN) * r.wallMs;
      if (round === 0) note(`status page ${p.label}: ${fmtCpu(cpu)}`);
    }
  }
  const results: PathResult[] = phases.map((p, i) => {
    const a = acc[i];
    const perSec = (a.requests / a.wallMs) * 1000;
    const base = (acc[0].requests / acc[0].wallMs) * 1000;
    return {
      path: p.path, conditional: p.conditional, requests: a.requests, perSec, latency: dist(a.latencies), bodyBytes: a.bodyBytes,
      errors: a.errors, ratio: perSec / base, cpuUsPerRequest: (a.cpuMs / a.requests) * 1000,
    };
  });
  results.forEach((r, i) =>
    say(
      `  ${phases[i].label.padEnd(34)} ${r.perSec.toFixed(0).padStart(6)} req/s (${r.ratio.toFixed(2)}x /healthz), ` +
        `p50 ${ms1(r.latency.p50)}, p99 ${ms1(r.latency.p99)}, ${r.cpuUsPerRequest.toFixed(0)} µs CPU/request, body ${r.bodyBytes} B, n=${r.requests}`,
    ),
  );
  const [healthz, html, json] = results;
  const worst = Math.min(html.ratio, json.ratio);
  const verdict = worst >= STATUS_TARGET_RATIO ? `status page >= ${STATUS_TARGET_RATIO}x /healthz` : `status page < ${STATUS_TARGET_RATIO}x /healthz`;
  say(`  ${verdict} (worst of /status and /v1/status: ${worst.toFixed(2)}x)`);
  return { seconds, healthz, html, json, conditional: results[3], worst, verdict };
}

/** The HTML page's ETag (HttpApi.request does not return headers): one plain request. */
function htmlEtag(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/status', agent: false }, (res) => {
        res.resume();
        if (res.statusCode === 200 && res.headers.etag) resolve(res.headers.etag);
        else reject(new Error(`GET /status: HTTP ${res.statusCode}, ETag ${res.headers.etag ?? 'missing'}`));
      })
      .on('error', reject);
  });
}

export type StatusPageResult = Awaited<ReturnType<typeof statusPage>>;

export const statusJson = (r: StatusPageResult) => {
  const one = (p: PathResult) => ({
    perSec: round(p.perSec),
    ratio: round(p.ratio, 3),
    p50Ms: round(p.latency.p50, 2),
    p99Ms: round(p.latency.p99, 2),
    cpuUsPerRequest: round(p.cpuUsPerRequest, 0),
    bodyBytes: p.bodyBytes,
    requests: p.requests,
  });
  return {
    seconds: r.seconds,
    healthz: one(r.healthz),
    status: one(r.html),
    v1Status: one(r.json),
    statusConditional: one(r.conditional),
    worstRatio: round(r.worst, 3),
    targetRatio: STATUS_TARGET_RATIO,
    ok: r.worst >= STATUS_TARGET_RATIO,
  };
};
