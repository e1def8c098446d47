// Benchmark (not a test): the dashboard at constant cost. GET /v1/dashboard (the real express app over
// HTTP, served from the summary rows) against the naive COUNT/SUM/DISTINCT query the old admin page ran,
// with 10,000 and then 1,000,000 bookings in the same database, in the same run.
//
//   npm run bench:dashboard -- [--small 10000] [--large 1000000] [--reads 500] [--naive-reads 100]
//
// Services: KEEL_BENCH_DATABASE_URL (a server on which a fresh database may be created; dropped at
// the end), otherwise a throwaway PostgreSQL cluster from the machine's binaries
// (scripts/postgres-server.ts, as the test harness starts one). No Temporal: the dashboard's reads do
// not touch it, so the app gets a lazy client that never connects.
// Bookings are bulk-inserted with generate_series (created over the past year, realistic status mix);
// the summary rows are then built by the reconciliation itself (reconcileDashboard with the whole
// revenue history), which also gives its duration: how long booking transitions wait while it runs.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import pino from 'pino';
import { createApp } from '../api/app';
import { campaignSettings, loadEnv } from '../config/env';
import { createDb, type Db } from '../db/client';
import { readDashboard, recomputeDashboard, reconcileDashboard, type Dashboard } from '../db/dashboard-store';
import { migrate } from '../db/migrate';
import { loadRunbooks } from '../runbooks/load';
import { freePort } from '../scripts/net';
import { findPostgresBinaries, startPostgresServer, stopPostgresServerSync } from '../scripts/postgres-server';

const say = (m: string) => console.log(m);
const note = (m: string) => process.stderr.write(`[bench] ${m}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      small: { type: 'string', default: '10000' },
      large: { type: 'string', default: '1000000' },
      reads: { type: 'string', default: '500' },
      'naive-reads': { type: 'string', default: '100' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    say('usage: npm run bench:dashboard -- [--small 10000] [--large 1000000] [--reads 500] [--naive-reads 100]\nEnv: KEEL_BENCH_DATABASE_URL (else a throwaway PostgreSQL), KEEL_BUSINESS_TIME_ZONE.');
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer >= ${min}`);
      process.exit(2);
    }
    return n;
  };
  const small = int('small', values.small, 1);
  const large = int('large', values.large, small);
  return { small, large, reads: int('reads', values.reads, 10), naiveReads: int('naive-reads', values['naive-reads'], 10), env: loadEnv() };
}

interface Dist { n: number; p50: number; p99: number; mean: number; max: number }
function dist(ms: number[]): Dist {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { n: s.length, p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, max: s[s.length - 1] };
}

async function timed(n: number, fn: () => Promise<unknown>, warmup = Math.min(50, Math.ceil(n / 10))): Promise<Dist> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return dist(ms);
}

/** Own throwaway server, or a fresh database on the given one. */
async function database(): Promise<{ url: string; stop(): Promise<void> }> {
  const given = process.env.KEEL_BENCH_DATABASE_URL;
  let adminUrl: string;
  let stopServer = async () => undefined as void;
  if (given) {
    adminUrl = given;
  } else {
    const bins = findPostgresBinaries();
    if (!bins) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql), or set KEEL_BENCH_DATABASE_URL');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-pg-'));
    const exitHook = () => {
      stopPostgresServerSync(dataDir, bins.pgCtl);
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
    process.once('exit', exitHook);
    const server = await startPostgresServer({ bins, dataDir, port: await freePort(), durable: false, log: note });
    adminUrl = server.url;
    stopServer = async () => {
      process.removeListener('exit', exitHook);
      await server.stop().catch(() => undefined);
      fs.rmSync(dataDir, { recursive: true, force: true });
    };
  }
  const name = `keel_bench_dashboard_${randomBytes(4).toString('hex')}`;
  const admin = new PgClient({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async stop() {
      if (given) {
        const c = new PgClient({ connectionString: adminUrl });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
        await c.end();
      }
      await stopServer();
    },
  };
}

/** Bookings from..to (inclusive) in one statement: created over the past year (so "today" holds about
 *  1/365 of them), 5,000 cars, a status mix like a running business (most of them done). */
async function insertBookings(db: Db, from: number, to: number): Promise<void> {
  await db.$executeRawUnsafe(`
    INSERT INTO "bookings" ("id", "customer_id", "car_id", "starts_at", "ends_at", "amount_cents", "currency", "status",
                            "version", "request_hash", "workflow_id", "created_at", "updated_at")
    SELECT 'bench-' || g, 'cust-' || (g % 50000), 'car-' || (g % 5000), c + interval '2 days', c + interval '2 days 3 hours',
           500 + ((g::bigint * 7919) % 20000)::int,
           CASE WHEN g % 10 < 8 THEN 'EUR' WHEN g % 10 = 8 THEN 'GBP' ELSE 'CHF' END,
           (CASE WHEN g % 100 < 78 THEN 'COMPLETED' WHEN g % 100 < 88 THEN 'CANCELLED' WHEN g % 100 < 92 THEN 'NO_SHOW'
                 WHEN g % 100 < 97 THEN 'CONFIRMED' WHEN g % 100 < 99 THEN 'ONGOING' ELSE 'OVERDUE' END)::"BookingStatus",
           2, rpad(md5(g::text), 64, '0'), 'booking-bench-' || g, c, c
    FROM generate_series(${from}, ${to}) AS g,
         LATERAL (SELECT now() - ((g * 2654435761::bigint) % 31536000000) * interval '1 millisecond' AS c) t`);
}

async function grow(db: Db, from: number, to: number): Promise<void> {
  const chunk = 100_000;
  const t = performance.now();
  for (let a = from; a <= to; a += chunk) {
    const b = Math.min(to, a + chunk - 1);
    await insertBookings(db, a, b);
    if (to - from >= chunk) note(`  inserted bookings ${b.toLocaleString('en-US')} / ${to.toLocaleString('en-US')}`);
  }
  await db.$executeRawUnsafe('ANALYZE "bookings"');
  note(`bookings ${from}..${to} inserted in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

function strip(d: Dashboard & { reconciliation?: unknown; lastReconciliation?: unknown }) {
  const { asOf: _a, reconciliation: _r, lastReconciliation: _l, ...rest } = d;
  return rest;
}

interface Phase { bookings: number; http: Dist; summary: Dist; naive: Dist; reconcileMs: number; summaryRows: number }

async function main(): Promise<void> {
  const opts = options();
  const timeZone = opts.env.KEEL_BUSINESS_TIME_ZONE;
  const cleanups: Array<() => Promise<unknown>> = [];
  const t0 = performance.now();
  try {
    const dbInfo = await database();
    cleanups.push(() => dbInfo.stop());
    await migrate(dbInfo.url);
    const db = createDb(dbInfo.url, { poolSize: 4 });
    cleanups.unshift(() => db.$disconnect());

    // The real app; Temporal is never contacted by these reads (a lazy connection never dials).
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const token = randomBytes(16).toString('hex');
    const app = createApp({
      db, client, logger: pino({ level: 'info' }, pino.destination('/dev/null')), apiKeys: `viewer:${token}`,
      workflows: { taskQueuePrefix: 'bench', settings: { noShowGraceMs: 60_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
      incidents: { components: opts.env.KEEL_STATUS_COMPONENTS, runbooks: loadRunbooks() },
      campaigns: campaignSettings(opts.env),
      dashboard: { timeZone },
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    cleanups.unshift(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
    const port = (server.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<Dashboard>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/v1/dashboard', agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body) as Dashboard) : reject(new Error(`GET /v1/dashboard: ${res.statusCode} ${body}`))));
        });
        req.on('error', reject);
      });

    const phases: Phase[] = [];
    const measure = async (bookings: number) => {
      note(`building the summary for ${bookings.toLocaleString('en-US')} bookings (reconcileDashboard, whole history)`);
      const rec = await reconcileDashboard(db, { revenueSince: new Date(0) });
      // A second run is the steady state (nothing to correct): the pause an hourly run imposes.
      const steady = await reconcileDashboard(db);
      if (steady.corrected !== 0) throw new Error(`second reconciliation corrected ${steady.corrected} rows`);
      await db.$executeRawUnsafe('VACUUM ANALYZE "dashboard_counters", "dashboard_revenue", "dashboard_car_activity"');
      const [check, truth] = await Promise.all([get(), recomputeDashboard(db, { timeZone })]);
      if (JSON.stringify(strip(check)) !== JSON.stringify(strip(truth))) throw new Error(`dashboard differs from the recount:\n${JSON.stringify(check)}\n${JSON.stringify(truth)}`);
      const [{ n: summaryRows }] = await db.$queryRawUnsafe<Array<{ n: number }>>(
        `SELECT ((SELECT count(*) FROM dashboard_counters) + (SELECT count(*) FROM dashboard_revenue WHERE bucket >= $1 AND bucket < $2))::int AS n`,
        new Date(truth.revenueToday.from), new Date(truth.revenueToday.to));
      note(`reading: ${opts.reads} x GET /v1/dashboard, ${opts.reads} x summary query, ${opts.naiveReads} x naive query`);
      const httpDist = await timed(opts.reads, get);
      const summary = await timed(opts.reads, () => readDashboard(db, { timeZone }));
      const naive = await timed(opts.naiveReads, () => recomputeDashboard(db, { timeZone }), 3);
      phases.push({ bookings, http: httpDist, summary, naive, reconcileMs: steady.durationMs, summaryRows });
      note(`  today: ${JSON.stringify(truth.revenueToday.byCurrency)}; ${truth.activeCars} active cars; full build ${rec.durationMs} ms (${rec.corrected} rows)`);
    };

    await grow(db, 1, opts.small);
    await measure(opts.small);
    await grow(db, opts.small + 1, opts.large);
    await measure(opts.large);

    const [a, b] = phases;
    const f = (x: number) => x.toFixed(2).padStart(9);
    const r = (x: number, y: number) => (y / x).toFixed(2).padStart(7);
    const n = (x: number) => x.toLocaleString('en-US');
    say('');
    say(`Dashboard read latency (ms), business time zone ${timeZone}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    say(`${''.padEnd(34)}${`${n(a.bookings)} bookings`.padStart(20)}${`${n(b.bookings)} bookings`.padStart(20)}   ratio ${n(b.bookings)}/${n(a.bookings)}`);
    say(`${''.padEnd(34)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'p50'.padStart(9)}${'p99'.padStart(8)}`);
    const row = (label: string, x: Dist, y: Dist) => say(`${label.padEnd(34)} ${f(x.p50)}${f(x.p99)} ${f(y.p50)}${f(y.p99)}  ${r(x.p50, y.p50)} ${r(x.p99, y.p99)}`);
    row(`GET /v1/dashboard (HTTP, n=${a.http.n})`, a.http, b.http);
    row(`  summary query alone (n=${a.summary.n})`, a.summary, b.summary);
    row(`naive COUNT/SUM query (n=${a.naive.n})`, a.naive, b.naive);
    say('');
    say(`dashboard ${n(b.bookings)}/${n(a.bookings)}: p50 x${(b.http.p50 / a.http.p50).toFixed(2)}, p99 x${(b.http.p99 / a.http.p99).toFixed(2)} (target <= 1.5)`);
    say(`naive     ${n(b.bookings)}/${n(a.bookings)}: p50 x${(b.naive.p50 / a.naive.p50).toFixed(1)}, p99 x${(b.naive.p99 / a.naive.p99).toFixed(1)}`);
    say(`at ${n(b.bookings)}: naive / dashboard over HTTP: p50 x${(b.naive.p50 / b.http.p50).toFixed(0)}, p99 x${(b.naive.p99 / b.http.p99).toFixed(0)}`);
    say(`summary rows read per dashboard: ${a.summaryRows} and ${b.summaryRows}`);
    say(`hourly reconciliation (48 h of revenue, nothing to correct), during which booking transitions wait: ${a.reconcileMs} ms and ${b.reconcileMs} ms`);
    say(JSON.stringify({ bench: 'dashboard', timeZone, phases, elapsedS: Math.round((performance.now() - t0) / 1000) }));
  } finally {
    for (const c of cleanups) await c().catch((err) => note(`cleanup: ${(err as Error).message}`));
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
