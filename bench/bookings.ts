// Benchmark (not a test): how fast Keel accepts bookings, and how punctually their workflows start
// them. Prints its figures; exits non-zero if anything failed.
//
//   npm run bench -- [--n 2000] [--concurrency 32] [--late-n 2000] [--workers child|inprocess] ...
//   npm run bench -- --help
//
// 1. Throughput: POST /v1/bookings (express app + PostgreSQL row + workflow start, over real HTTP with
//    keep-alive) vs the same workflow started directly with startBookingWorkflow, same options, same
//    concurrency, in the same run; segments run in ABBA order so drift (a growing history store,
//    a warming JIT) cannot favour one side. Bookings start 30 days out so no timer fires meanwhile.
// 2. Start lateness: many bookings created through the API, all starting within one minute; lateness
//    is booking_events.occurred_at - scheduled_at of each 'start' event, plus where it came from
//    (from the workflow histories).
//
// Services: TEMPORAL_ADDRESS / DATABASE_URL when given, otherwise the test harness's own code path
// (test/global-setup.ts: a headless in-memory `temporal server start-dev` and a throwaway PostgreSQL
// cluster). A fresh database is created and migrated (test/helpers/database.ts) and dropped at the end.
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import pino from 'pino';
import { createApp } from '../api/app';
import { bookingInput, startBookingWorkflow, type BookingWorkflowConfig } from '../services/bookings';
import { TemporalGateway } from '../services/temporal';
import { createRequestStats } from '../api/request-stats';
import { campaignSettings, loadEnv } from '../config/env';
import { createBooking } from '../db/booking-store';
import { createDb, type Db } from '../db/client';
import { workflowIdForBooking } from '../domain/booking';
import { loadRunbooks } from '../runbooks/load';
import { freePort } from '../scripts/net';
import { resolveTemporalCli, startDevServer, type DevServer } from '../scripts/temporal-cli';
import globalSetup, { stopTestServices, testServices } from '../test/global-setup';
import { createTestDatabase } from '../test/helpers/database';
import type { BenchWorkerConfig, BenchWorkers } from './worker-process';
import { CpuMeter, dist, fmtCpu, fmtDist, ms, procStat, round, sleep, treeTicks, type CpuUsage, type Dist } from './common';

const USAGE = `usage: npm run bench -- [options]
  --n N                 bookings per side for the throughput comparison (default 2000)
  --concurrency C       requests / starts in flight (default 32)
  --warmup W            uncounted warm-up bookings per side (default 100)
  --rounds R            segments per side, run in ABBA order (default 2)
  --late-n N            bookings for the lateness measurement (default 2000)
  --late-window S       their start times are spread over S seconds (default 60)
  --late-margin S       lead time beyond the estimated creation time (default 15)
  --late-timeout S      how long after the window to wait for stragglers (default 120)
  --workers MODE        child (default) or inprocess
  --api-pool-size P     API database pool (default DATABASE_POOL_SIZE or 10, as api/main.ts)
  --worker-pool-size P  worker database pool (default DATABASE_POOL_SIZE or 10, as workers/main.ts)
  --api-log-level L     API pino level, written to /dev/null (default info, as production)
  --worker-overrides J  experiment: JSON WorkerOptions laid over workers/create.ts's, e.g.
                        '{"nonStickyToStickyPollRatio":1}' (printed; not for the reference figures)
  --temporal-db-file    experiment: own dev server on a SQLite file (WAL) instead of in-memory
  --skip-throughput --skip-lateness --skip-diagnostics --skip-history
Env: TEMPORAL_ADDRESS (else a dev server is started), DATABASE_URL (else a throwaway PostgreSQL).`;

function options() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '2000' },
      concurrency: { type: 'string', short: 'c', default: '32' },
      warmup: { type: 'string', default: '100' },
      rounds: { type: 'string', default: '2' },
      'late-n': { type: 'string', default: '2000' },
      'late-window': { type: 'string', default: '60' },
      'late-margin': { type: 'string', default: '15' },
      'late-timeout': { type: 'string', default: '120' },
      workers: { type: 'string', default: 'child' },
      'api-pool-size': { type: 'string' },
      'worker-pool-size': { type: 'string' },
      'api-log-level': { type: 'string', default: 'info' },
      'worker-overrides': { type: 'string', default: '' },
      'temporal-db-file': { type: 'boolean', default: false },
      'skip-throughput': { type: 'boolean', default: false },
      'skip-lateness': { type: 'boolean', default: false },
      'skip-diagnostics': { type: 'boolean', default: false },
      'skip-history': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be an integer >= ${min}\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  const env = loadEnv();
  if (values.workers !== 'child' && values.workers !== 'inprocess') {
    console.error(`--workers must be child or inprocess\n${USAGE}`);
    process.exit(2);
  }
  return {
    n: int('n', values.n, 1),
    concurrency: int('concurrency', values.concurrency, 1),
    warmup: int('warmup', values.warmup, 0),
    rounds: int('rounds', values.rounds, 1),
    lateN: int('late-n', values['late-n'], 1),
    lateWindowS: int('late-window', values['late-window'], 1),
    lateMarginS: int('late-margin', values['late-margin'], 0),
    lateTimeoutS: int('late-timeout', values['late-timeout'], 1),
    workers: values.workers as 'child' | 'inprocess',
    apiPoolSize: values['api-pool-size'] ? int('api-pool-size', values['api-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    workerPoolSize: values['worker-pool-size'] ? int('worker-pool-size', values['worker-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    apiLogLevel: values['api-log-level']!,
    workerOverrides: (() => {
      try {
        return values['worker-overrides'] ? (JSON.parse(values['worker-overrides']) as Record<string, unknown>) : {};
      } catch (err) {
        console.error(`--worker-overrides: ${(err as Error).message}`);
        return process.exit(2);
      }
    })(),
    temporalDbFile: values['temporal-db-file']!,
    skipThroughput: values['skip-throughput']!,
    skipLateness: values['skip-lateness']!,
    skipDiagnostics: values['skip-diagnostics']!,
    skipHistory: values['skip-history']!,
    env,
  };
}
type Options = ReturnType<typeof options>;

// ---------------------------------------------------------------------------------------------
// Small helpers: statistics, formatting, CPU accounting from /proc, Prometheus scraping.

const say = (m: string) => console.log(m);
const note = (m: string) => process.stderr.write(`[bench] ${m}\n`);


function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString()));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The workers' Prometheus endpoint, each metric summed over its label sets. */
async function scrape(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await httpGet(`http://127.0.0.1:${port}/metrics`)).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[3]));
  }
  return out;
}
const WFT_DONE = 'temporal_workflow_task_execution_latency_count';
const WFT_S2S_SUM = 'temporal_workflow_task_schedule_to_start_latency_sum';
const WFT_S2S_COUNT = 'temporal_workflow_task_schedule_to_start_latency_count';
const ACT_S2S_SUM = 'temporal_activity_schedule_to_start_latency_sum';
const ACT_S2S_COUNT = 'temporal_activity_schedule_to_start_latency_count';
const ACT_EXEC_SUM = 'temporal_activity_execution_latency_sum';
const ACT_EXEC_COUNT = 'temporal_activity_execution_latency_count';
const delta = (a: Map<string, number>, b: Map<string, number>, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
const meanOf = (a: Map<string, number>, b: Map<string, number>, sum: string, count: string) => {
  const c = delta(a, b, count);
  return c > 0 ? delta(a, b, sum) / c : NaN;
};

// ---------------------------------------------------------------------------------------------
// The load driver: a fixed number of loops, each keeping one request in flight.

interface PoolResult {
  ok: number;
  wallMs: number;
  latencies: number[];
  errors: string[];
}

async function runPool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<PoolResult> {
  let next = 0;
  const latencies: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        try {
          await fn(i);
          latencies.push(performance.now() - s);
        } catch (err) {
          errors.push(String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300));
        }
      }
    }),
  );
  return { ok: latencies.length, wallMs: performance.now() - t0, latencies, errors };
}

/** HTTP/1.1 with keep-alive: one socket per concurrent loop, reused for every request. */
class HttpDriver {
  private readonly agent: http.Agent;
  constructor(private readonly port: number, private readonly token: string, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }
  post(path: string, body: unknown): Promise<{ status: number; text: string }> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': data.length, authorization: `Bearer ${this.token}` },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The stack: services, a fresh database, the workers, the express app.

interface Stack {
  /** The benchmark started the Temporal server itself (its state is thrown away at the end). */
  ownTemporal: boolean;
  address: string;
  namespace: string;
  temporalMode: string;
  postgresMode: string;
  postgresVersion: string;
  databaseUrl: string;
  db: Db;
  client: Client;
  workflows: BookingWorkflowConfig;
  apiPort: number;
  apiConnections: () => number;
  /** The API's error-level log lines (JSON), for explaining 5xx answers. */
  errorLog: string;
  driver: HttpDriver;
  metricsPort: number;
  cpu: CpuMeter;
  workerPid?: number;
  cleanup: () => Promise<void>;
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
let cleaning: Promise<void> | undefined;
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const f = cleanups.pop()!;
      try {
        await f();
      } catch (err) {
        note(`cleanup step failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

async function startWorkersChild(cfg: BenchWorkerConfig): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const file = path.join(__dirname, 'worker-process.ts');
  // The parent runs under tsx, whose loader flags are in execArgv and are inherited by fork().
  const execArgv = process.execArgv.some((a) => a.includes('tsx')) ? process.execArgv : ['--import', 'tsx'];
  const child = fork(file, [], {
    execArgv,
    env: { ...process.env, KEEL_BENCH_WORKER_CONFIG: JSON.stringify(cfg) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited = false;
  const exitP = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker process not ready within 120 s')), 120_000);
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker process exited before it was ready (${signal ?? `exit ${code}`})`));
    });
  });
  const stop = async () => {
    if (exited) return;
    child.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exitP;
    clearTimeout(timer);
  };
  return { child, stop };
}

async function startStack(opts: Options, tag: string): Promise<Stack> {
  // The test harness's own code path: TEMPORAL_ADDRESS / DATABASE_URL if set, else throwaway servers.
  let fileServer: DevServer | undefined;
  if (opts.temporalDbFile && !process.env.TEMPORAL_ADDRESS) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-temporal-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fileServer = await startDevServer({ port: await freePort(), headless: true, dbFile: path.join(dir, 'temporal.db'), log: note });
    cleanups.push(() => fileServer!.stop());
    process.env.TEMPORAL_ADDRESS = fileServer.address; // globalSetup then only checks the search attributes
  }
  await globalSetup();
  cleanups.push(() => stopTestServices());
  const services = testServices();
  const address = process.env.KEEL_TEST_TEMPORAL_ADDRESS!;
  const namespace = 'default'; // the namespace globalSetup prepares (search attributes)
  const temporalProcess = services.temporal?.process ?? fileServer?.process;
  let temporalMode = `external Temporal at ${address} (TEMPORAL_ADDRESS)`;
  if (temporalProcess) {
    let version = '';
    try {
      version = execFileSync(await resolveTemporalCli({ install: false }), ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // informative only
    }
    const storage = fileServer ? 'SQLite FILE' : 'in-memory SQLite';
    temporalMode = `own dev server (temporal server start-dev, headless, ${storage}, journal_mode=WAL, synchronous=OFF)${version ? `, ${version}` : ''}`;
  }
  const postgresMode = services.postgres
    ? 'own throwaway cluster (test/global-setup.ts: fsync=off, synchronous_commit=off, full_page_writes=off)'
    : 'external (DATABASE_URL)';

  const database = await createTestDatabase(); // fresh database + prisma/migrations applied
  cleanups.push(() => database.drop());
  const db = createDb(database.url, { poolSize: opts.apiPoolSize });
  cleanups.push(() => db.$disconnect());
  const postgresVersion = ((await db.$queryRawUnsafe('SHOW server_version')) as Array<{ server_version: string }>)[0].server_version;

  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace });

  // Workers: same task queue prefix as the API, so an external server's other work never mixes in.
  const metricsPort = await freePort();
  const workerCfg: BenchWorkerConfig = {
    address, namespace, databaseUrl: database.url, taskQueuePrefix: tag, poolSize: opts.workerPoolSize, metricsPort,
    workerOverrides: opts.workerOverrides,
  };
  let workerPid: number | undefined;
  if (opts.workers === 'child') {
    const w = await startWorkersChild(workerCfg);
    workerPid = w.child.pid;
    cleanups.push(() => w.stop());
  } else {
    const { runBenchWorkers } = await import('./worker-process');
    const w: BenchWorkers = await runBenchWorkers(workerCfg);
    cleanups.push(() => w.stop());
  }

  // The real express app (createApp, as api/main.ts builds it) on a local port.
  const token = `svc-${randomBytes(16).toString('hex')}`;
  const workflows: BookingWorkflowConfig = {
    taskQueuePrefix: tag,
    settings: {
      noShowGraceMs: opts.env.KEEL_NO_SHOW_GRACE,
      remindersBeforeStartMs: opts.env.KEEL_REMINDERS_BEFORE_START,
      remindersBeforeEndMs: opts.env.KEEL_REMINDERS_BEFORE_END,
      earlyWakeMs: opts.env.KEEL_TIMER_EARLY_WAKE,
    },
  };
  // Every line is serialised at the chosen level (the production cost) and thrown away; errors are
  // also kept in a file so a 500 can be explained at the end (apiErrors()).
  const errorLog = path.join(os.tmpdir(), `keel-bench-api-errors-${tag}.log`);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const level = levels.indexOf(opts.apiLogLevel) > levels.indexOf('error') ? 'error' : opts.apiLogLevel;
  const logger = pino(
    { level, name: 'keel-api' },
    pino.multistream([
      { level: level as pino.Level, stream: pino.destination({ dest: '/dev/null', sync: true }) },
      { level: 'error', stream: pino.destination({ dest: errorLog, sync: true }) },
    ]),
  );
  // As api/main.ts builds it, request statistics middleware included.
  const stats = createRequestStats(db, { instance: `bench:${process.pid}` });
  cleanups.push(() => stats.stop());
  const app = createApp({
    db, client, logger, apiKeys: `service:${token}`, bodyLimit: opts.env.KEEL_BODY_LIMIT, workflows,
    incidents: { components: opts.env.KEEL_STATUS_COMPONENTS, runbooks: loadRunbooks() },
    campaigns: campaignSettings(opts.env),
    requestStats: stats.middleware,
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  let connections = 0;
  server.on('connection', () => connections++);
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const apiPort = (server.address() as AddressInfo).port;
  const driver = new HttpDriver(apiPort, token, opts.concurrency);
  cleanups.push(() => driver.close());

  const groups: Record<string, () => number> = {
    [opts.workers === 'child' ? 'api+driver' : 'api+driver+workers']: () => procStat(process.pid)?.ticks ?? 0,
  };
  if (workerPid) groups.workers = () => treeTicks(workerPid!);
  if (temporalProcess?.pid) {
    const pid = temporalProcess.pid;
    groups.temporal = () => treeTicks(pid);
  }
  if (services.postgres) {
    const postmaster = Number(fs.readFileSync(path.join(services.postgres.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    groups.postgres = () => treeTicks(postmaster);
  }
  return {
    ownTemporal: Boolean(temporalProcess), address, namespace, temporalMode, postgresMode, postgresVersion, databaseUrl: database.url, db, client, workflows,
    apiPort, apiConnections: () => connections, errorLog, driver, metricsPort, cpu: new CpuMeter(groups), workerPid,
    cleanup: cleanupAll,
  };
}

// ---------------------------------------------------------------------------------------------
// Bookings.

interface BookingBody {
  bookingId: string;
  customerId: string;
  carId: string;
  startsAt: string;
  endsAt: string;
  amountCents: number;
  currency: string;
}

const FAR_START = Date.now() + 30 * 86_400_000; // nothing of these fires during the run

function booking(id: string, i: number, startsAtMs = FAR_START + (i % 1000) * 3_600_000, durationMs = 2 * 3_600_000): BookingBody {
  return {
    bookingId: id,
    customerId: `cust-${i % 997}`,
    carId: `car-${id}`, // one car per booking: no two creations contend for one car's lock
    startsAt: new Date(startsAtMs).toISOString(),
    endsAt: new Date(startsAtMs + durationMs).toISOString(),
    amountCents: 4200,
    currency: 'EUR',
  };
}

class Bench {
  readonly failures: string[] = [];
  readonly workflowIds: string[] = [];
  /** Workflow tasks the workers should have completed by now (first task of every started workflow). */
  expectedWft = 0;
  wftBase = 0;

  constructor(readonly s: Stack, readonly opts: Options) {}

  async viaApi(body: BookingBody): Promise<void> {
    const res = await this.s.driver.post('/v1/bookings', body);
    if (res.status !== 201) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 200)}`);
    this.workflowIds.push(workflowIdForBooking(body.bookingId));
  }

  async raw(body: BookingBody): Promise<void> {
    const temporal = new TemporalGateway({ client: this.s.client, taskQueuePrefix: this.s.workflows.taskQueuePrefix });
    const input = bookingInput(body, temporal, this.s.workflows.settings, randomUUID()); // the API passes its request id
    await startBookingWorkflow(temporal, input);
    this.workflowIds.push(workflowIdForBooking(body.bookingId));
  }

  async wftCount(): Promise<number> {
    return (await scrape(this.s.metricsPort)).get(WFT_DONE) ?? 0;
  }

  /** Waits until the workers have finished the first task of every workflow started so far. */
  async drained(timeoutMs = 120_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const done = (await this.wftCount()) - this.wftBase;
      if (done >= this.expectedWft) return performance.now();
      if (performance.now() > deadline) {
        throw new Error(`workers did not catch up: ${done} of ${this.expectedWft} workflow tasks done after ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  }

  fail(what: string, errors: string[]): void {
    if (errors.length === 0) return;
    const distinct = [...new Set(errors)].slice(0, 3);
    this.failures.push(`${what}: ${errors.length} failed (${distinct.join(' | ')})`);
    note(`${what}: ${errors.length} failed, e.g. ${distinct.join(' | ')}`);
  }
}

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

interface SideResult {
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
    wftS2sMs: meanOf(m0, m1, WFT_S2S_SUM, WFT_S2S_COUNT),
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

async function throughput(b: Bench) {
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

  let diagnostics: Record<string, unknown> | undefined;
  if (!opts.skipDiagnostics) {
    // Where the API's time goes: the same pipeline without the database and Temporal (a request that
    // fails validation), and the database write alone (createBooking, no HTTP, no workflow).
    const floor = await runSegment(
      b,
      'http floor',
      opts.n,
      async () => {
        const res = await b.s.driver.post('/v1/bookings', {});
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
    say(`  db only    ${d.startsPerSec.toFixed(1).padStart(7)} tx/s   createBooking() transaction alone (pool ${opts.apiPoolSize}), no HTTP, no workflow`);
    say(`  ${''.padEnd(10)} latency ${fmtDist(d.latency)}; ${fmtCpu(d.cpu)}`);
    const perStart = (r: number) => 1000 / r;
    say(
      `  per booking (ms of wall time at c=${opts.concurrency}): API ${perStart(apiR.startsPerSec).toFixed(2)} ~ raw ${perStart(rawR.startsPerSec).toFixed(2)}` +
        ` + db ${perStart(d.startsPerSec).toFixed(2)} + http ${perStart(f.startsPerSec).toFixed(2)}` +
        ` = ${(perStart(rawR.startsPerSec) + perStart(d.startsPerSec) + perStart(f.startsPerSec)).toFixed(2)} if nothing overlapped`,
    );
    diagnostics = {
      httpFloorPerSec: round(f.startsPerSec), httpFloorLatencyP50Ms: round(f.latency.p50), dbOnlyPerSec: round(d.startsPerSec),
      dbOnlyLatencyP50Ms: round(d.latency.p50), cpu: { httpFloor: roundAll(f.cpu), dbOnly: roundAll(d.cpu) },
    };
  }
  return { api: apiR, raw: rawR, ratio, diagnostics };
}

function roundAll(u: CpuUsage): Record<string, number | null> {
  return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, round(v, 2)]));
}

// ---------------------------------------------------------------------------------------------
// Start lateness.

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

async function lateness(b: Bench, measured: { startsPerSec: number; sustainedPerSec: number } | undefined) {
  const { opts, s } = b;
  const tag = `${s.workflows.taskQueuePrefix}-late`;
  const n = opts.lateN;
  const windowMs = opts.lateWindowS * 1000;
  // Rates from the throughput phase (conservative guesses when it was skipped): the API accepts at
  // `rate`, and the workers finish the creations' first workflow tasks at `sustained` (the slower).
  const rate = measured?.startsPerSec ?? 40;
  const sustained = Math.min(rate, measured?.sustainedPerSec ?? 20);
  const estimateMs = (n / rate) * 1000;
  const settledMs = (n / sustained) * 1000;
  say(`\n== Start lateness: ${n} bookings starting within ${opts.lateWindowS} s ==`);
  await b.drained();
  const createStart = Date.now();
  // Lead: 1.6x the time the throughput phase predicts for creating them AND for the workers to finish
  // their first workflow tasks, plus a margin, so the window opens on an idle system; on a whole
  // second so the window is easy to find in logs.
  const windowStart = Math.ceil((createStart + settledMs * 1.6 + opts.lateMarginS * 1000) / 1000) * 1000;
  const startsAt = (i: number) => windowStart + Math.floor((i * windowMs) / n);
  say(
    `  creating ${n} through the API (expected ~${(estimateMs / 1000).toFixed(1)} s at ${rate.toFixed(0)}/s, workers done after ` +
      `~${(settledMs / 1000).toFixed(1)} s at ${sustained.toFixed(0)}/s); window opens ${new Date(windowStart).toISOString()}, ` +
      `${((windowStart - createStart) / 1000).toFixed(0)} s from now`,
  );
  const c0 = s.cpu.snap();
  const created = await runPool(n, opts.concurrency, (i) => b.viaApi(booking(`${tag}-${i}`, i, startsAt(i))));
  const c1 = s.cpu.snap();
  b.fail('lateness creation', created.errors);
  b.expectedWft += created.ok;
  const createdAt = Date.now();
  const t1 = performance.now();
  await b.drained();
  const drainedAt = Date.now();
  const createRate = (created.ok / created.wallMs) * 1000;
  say(`  created ${created.ok} in ${(created.wallMs / 1000).toFixed(1)} s (${createRate.toFixed(1)}/s); workers caught up ${((performance.now() - t1) / 1000).toFixed(1)} s later`);
  say(`  creation ${fmtCpu(s.cpu.usage(c0, c1, 'lateness creation'))}`);
  const leadMs = windowStart - drainedAt;
  let overlapMs = 0;
  if (leadMs < 0) {
    overlapMs = -leadMs;
    say(`  WARNING: creation (and its workflow tasks) ran ${(overlapMs / 1000).toFixed(1)} s into the window: early starts compete with creation load`);
  } else {
    say(`  idle lead before the window: ${(leadMs / 1000).toFixed(1)} s (creation finished ${((windowStart - createdAt) / 1000).toFixed(1)} s before it)`);
  }

  // Wait for every booking to be ONGOING: its 'start' event is in booking_events.
  const where = { action: 'start', bookingId: { startsWith: `${tag}-` } };
  const deadline = windowStart + windowMs + opts.lateTimeoutS * 1000;
  await sleep(Math.max(0, windowStart - Date.now()));
  const m0 = await scrape(s.metricsPort);
  const w0 = s.cpu.snap();
  let started = 0;
  let lastReport = Date.now();
  for (;;) {
    started = await s.db.bookingEvent.count({ where });
    if (started >= created.ok || Date.now() > deadline) break;
    if (Date.now() - lastReport >= 15_000) {
      lastReport = Date.now();
      note(`lateness: ${started}/${created.ok} started, ${((Date.now() - windowStart) / 1000).toFixed(0)} s into the window`);
    }
    await sleep(250);
  }
  const w1 = s.cpu.snap();
  const m1 = await scrape(s.metricsPort);
  const allStartedAt = Date.now();
  if (started < created.ok) {
    b.failures.push(`lateness: only ${started} of ${created.ok} bookings started by ${opts.lateTimeoutS} s after the window`);
  }
  const events = await s.db.bookingEvent.findMany({ where, select: { bookingId: true, scheduledAt: true, occurredAt: true } });
  const startsOf = new Map(
    (await s.db.booking.findMany({ where: { id: { startsWith: `${tag}-` } }, select: { id: true, startsAt: true, status: true } })).map((r) => [r.id, r]),
  );
  const late: number[] = [];
  const byBucket = new Map<number, number[]>();
  let mismatched = 0;
  for (const e of events) {
    if (!e.scheduledAt) continue;
    if (startsOf.get(e.bookingId)?.startsAt.getTime() !== e.scheduledAt.getTime()) mismatched++;
    const l = e.occurredAt.getTime() - e.scheduledAt.getTime();
    late.push(l);
    const bucket = Math.floor((e.scheduledAt.getTime() - windowStart) / 10_000);
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), l]);
  }
  if (mismatched) b.failures.push(`lateness: ${mismatched} start events whose scheduled_at differs from the booking's starts_at`);
  const notOngoing = [...startsOf.values()].filter((r) => r.status !== 'ONGOING').length;
  if (notOngoing) b.failures.push(`lateness: ${notOngoing} bookings not ONGOING at the end`);
  const d = dist(late);
  const over1s = late.filter((l) => l > 1000).length;
  const early = late.filter((l) => l < 0).length;
  if (early) b.failures.push(`lateness: ${early} bookings started before their startsAt`);
  say(`  started ${started}/${created.ok}; all ONGOING ${((allStartedAt - (windowStart + windowMs)) / 1000).toFixed(1)} s after the window closed`);
  say(`  lateness (booking_events.occurred_at - scheduled_at): ${fmtDist(d)}, mean ${ms(d.mean)}`);
  say(`  late by more than 1 s: ${over1s} of ${late.length}`);
  say(`  by 10 s slice of the window: ${[...byBucket.entries()].sort((x, y) => x[0] - y[0]).map(([k, v]) => {
    const bd = dist(v);
    return `${k * 10}s p50 ${Math.round(bd.p50)}/max ${Math.round(bd.max)}`;
  }).join(', ')} (ms)`);
  say(`  during the window ${fmtCpu(s.cpu.usage(w0, w1, 'lateness window'))}`);
  const actS2s = meanOf(m0, m1, ACT_S2S_SUM, ACT_S2S_COUNT);
  const actExec = meanOf(m0, m1, ACT_EXEC_SUM, ACT_EXEC_COUNT);
  const wftS2s = meanOf(m0, m1, WFT_S2S_SUM, WFT_S2S_COUNT);
  say(`  worker metrics (means): workflow task schedule-to-start ${ms(wftS2s)}, activity schedule-to-start ${ms(actS2s)}, recordBookingChange execution ${ms(actExec)}`);

  // Where the lateness comes from, as the workflow histories tell it.
  let stages: Record<string, Dist> | undefined;
  let noTimer = 0;
  if (!opts.skipHistory) {
    const h0 = performance.now();
    const col: Record<string, number[]> = { timerDue: [], timerFired: [], workflowSaw: [], activityScheduled: [], activityStarted: [] };
    const ids = [...startsOf.keys()];
    const hist = await runPool(ids.length, 16, async (i) => {
      const id = ids[i];
      const due = startsOf.get(id)!.startsAt.getTime();
      const events = (await s.client.workflow.getHandle(workflowIdForBooking(id)).fetchHistory()).events ?? [];
      if (i === 0 && process.env.BENCH_DEBUG) {
        for (const e of events) {
          const kind = Object.keys(e).find((k) => k.endsWith('EventAttributes') && (e as Record<string, unknown>)[k]);
          note(`${id} ${String(e.eventId)} ${new Date(tsMs(e.eventTime)).toISOString()} ${kind} ${kind === 'timerStartedEventAttributes' ? tsMs(e.timerStartedEventAttributes!.startToFireTimeout) : ''}`);
        }
        note(`${id} startsAt ${new Date(due).toISOString()}`);
      }
      const fired = events.findIndex((e) => e.timerFiredEventAttributes);
      let after = events;
      if (fired < 0) {
        // The booking's first workflow task ran after startsAt: the start was due at once, no timer.
        noTimer++;
      } else {
        const timerId = events[fired].timerFiredEventAttributes!.timerId;
        const startedEv = events.find((e) => e.timerStartedEventAttributes?.timerId === timerId);
        if (startedEv) {
          const a = startedEv.timerStartedEventAttributes!;
          col.timerDue.push(tsMs(startedEv.eventTime) + tsMs(a.startToFireTimeout) - due);
        }
        col.timerFired.push(tsMs(events[fired].eventTime) - due);
        after = events.slice(fired);
      }
      const wft = after.find((e) => e.workflowTaskStartedEventAttributes);
      if (wft) col.workflowSaw.push(tsMs(wft.eventTime) - due);
      const sched = after.find((e) => e.activityTaskScheduledEventAttributes);
      if (sched) col.activityScheduled.push(tsMs(sched.eventTime) - due);
      const st = after.find((e) => e.activityTaskStartedEventAttributes);
      if (st) col.activityStarted.push(tsMs(st.eventTime) - due);
    });
    b.fail('history fetch', hist.errors);
    stages = Object.fromEntries(Object.entries(col).map(([k, v]) => [k, dist(v)]));
    say(`  from ${hist.ok} histories (${((performance.now() - h0) / 1000).toFixed(1)} s to fetch), lateness vs startsAt at each step:`);
    if (noTimer) {
      say(`    ${noTimer} started without a timer: their first workflow task ran after startsAt (the creation backlog reached into the window)`);
    }
    say(`    timer due as set (TimerStarted + startToFireTimeout) ${fmtDist(stages.timerDue)}`);
    say(`    TimerFired                                            ${fmtDist(stages.timerFired)}`);
    say(`    WorkflowTaskStarted (the workflow's own clock)        ${fmtDist(stages.workflowSaw)}`);
    say(`    ActivityTaskScheduled (transition decided)            ${fmtDist(stages.activityScheduled)}`);
    say(`    ActivityTaskStarted (worker picked the write)         ${fmtDist(stages.activityStarted)}`);
    say(`    booking_events.occurred_at (row written)              ${fmtDist(d)}`);
  }
  return {
    n: created.ok, started, noTimer, createRate, createMs: created.wallMs, leadMs, overlapMs, lateness: d, over1s, stages,
    workerMeans: { wftS2sMs: wftS2s, activityS2sMs: actS2s, activityExecMs: actExec },
  };
}

// ---------------------------------------------------------------------------------------------

/** Distinct error messages in the API's error log, with counts. */
function summarizeErrorLog(file: string): string[] {
  let text = '';
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

async function terminateAll(s: Stack, ids: string[]): Promise<void> {
  const r = await runPool(ids.length, 32, async (i) => {
    try {
      await s.client.workflow.getHandle(ids[i]).terminate('benchmark finished');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) && !/already completed/i.test((err as Error).message)) throw err;
    }
  });
  note(`terminated ${r.ok} workflows in ${(r.wallMs / 1000).toFixed(1)} s${r.errors.length ? `, ${r.errors.length} errors: ${r.errors[0]}` : ''}`);
}

async function main(): Promise<number> {
  const opts = options();
  const t0 = performance.now();
  const tag = `bench-${randomBytes(3).toString('hex')}`;
  const cpus = os.cpus();
  const env = {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memGiB: round(os.totalmem() / 2 ** 30),
    node: process.version,
    sdk: (() => {
      try {
        return JSON.parse(fs.readFileSync(path.resolve(__dirname, '../node_modules/@temporalio/client/package.json'), 'utf8')).version as string;
      } catch {
        return 'unknown';
      }
    })(),
    temporal: '',
    postgres: '',
    workers: opts.workers === 'child' ? 'child process (bench/worker-process.ts)' : 'in the benchmark process',
    backgroundCores: NaN as number | null,
  };
  // What the machine is doing before we add anything: on a shared host this is the noise floor.
  const idle = new CpuMeter({});
  const i0 = idle.snap();
  await sleep(2000);
  const background = idle.usage(i0, idle.snap()).machine;
  if (background > 0.2) note(`WARNING: the machine is already busy (${background.toFixed(2)} of ${cpus.length} cores) before the benchmark starts; figures will be noisy`);
  note(`setting up (task queue prefix ${tag}) ...`);
  const s = await startStack(opts, tag);
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
  let lt: Awaited<ReturnType<typeof lateness>> | undefined;
  try {
    if (!opts.skipThroughput) tp = await throughput(b);
    if (!opts.skipLateness) lt = await lateness(b, tp?.api);
  } catch (err) {
    b.failures.push(`aborted: ${(err as Error).stack ?? err}`);
  }

  // Raw-started workflows have no row, and nothing may fire later: an own dev server is in-memory
  // and goes away with its namespace; on a given server every workflow of this run is terminated.
  if (!s.ownTemporal && b.workflowIds.length) await terminateAll(s, b.workflowIds).catch((e) => b.failures.push(`terminate: ${e}`));
  await s.cleanup();
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
  if (lt) {
    say(`  lateness (n=${lt.n} over ${opts.lateWindowS} s, created at ${lt.createRate.toFixed(1)}/s): p50 ${ms(lt.lateness.p50)}, p99 ${ms(lt.lateness.p99)}, max ${ms(lt.lateness.max)}, late > 1 s: ${lt.over1s}`);
  }
  const noisiest = s.cpu.noise.reduce((m, x) => (x.others > m.others ? x : m), { phase: 'none', others: 0 });
  const noisy = background > 0.2 || noisiest.others > 0.2;
  say(
    `  noise: other processes took ${background.toFixed(2)} cores before the run and up to ${noisiest.others.toFixed(2)} during ` +
      `${noisiest.phase}${noisy ? ' -> NOISY RUN: these figures understate this stack, re-run on a quiet machine' : ' (quiet run)'}`,
  );
  say(`  total ${totalS.toFixed(0)} s; ${b.failures.length ? `FAILED:\n    ${b.failures.join('\n    ')}` : 'no failures'}`);
  const json = {
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
      cpu: { api: roundAll(tp.api.cpu), raw: roundAll(tp.raw.cpu) },
      catchUpCpu: { api: tp.api.drainCpu && roundAll(tp.api.drainCpu), raw: tp.raw.drainCpu && roundAll(tp.raw.drainCpu) },
      diagnostics: tp.diagnostics,
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
      stagesP99Ms: lt.stages && Object.fromEntries(Object.entries(lt.stages).map(([k, v]) => [k, round(v.p99)])),
      workerMeansMs: Object.fromEntries(Object.entries(lt.workerMeans).map(([k, v]) => [k, round(v)])),
    },
    noise: { backgroundCores: round(background, 2), maxOthersCores: round(noisiest.others, 2), phase: noisiest.phase, noisy },
    failures: b.failures,
    totalSeconds: round(totalS),
  };
  console.log(JSON.stringify(json));
  return b.failures.length ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    note(`${sig}: cleaning up`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  async (err: unknown) => {
    console.error(`bench failed: ${(err as Error)?.stack ?? err}`);
    await cleanupAll();
    process.exit(1);
  },
);
