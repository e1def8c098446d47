// Benchmark (not a test): how fast a notification campaign reaches a whole user base, how well it keeps
// to a rate, and whether it disturbs bookings meanwhile. Prints its figures (a summary block and one JSON
// line); exits non-zero if anything failed (a wrong count is a failure, a missed target is not).
//
//   npx tsx bench/campaigns.ts [--users 100000] [--rate 500] [--configs 500x4,1000x4,1000x8] ...
//   npx tsx bench/campaigns.ts --help
//
// 1. Throughput: `users` users (bulk insert), a promo pool of as many codes, a campaign {all: true} on
//    email through the outbox provider, no rate limit, submitted through the real API (createApp on a
//    local port, HTTP) and run by a notifications worker in its own process (`node --import tsx
//    workers/main.ts`, KEEL_WORKERS=notifications: the production shape). Total = submit -> COMPLETED.
//    Once per page-size x concurrency setting (what KEEL_CAMPAIGN_PAGE_SIZE / KEEL_CAMPAIGN_CONCURRENCY
//    give the API, which passes them to the workflow), each with a fresh pool of codes. Then the naive
//    baseline: the same sends one at a time (one transaction per user: claim a code, insert the outbox
//    message, mark the delivery sent) on a second campaign over the same tables; on a sample when asked
//    (--naive-n), extrapolated linearly and said so.
//    Where the time goes: page timings from the workflow histories (schedule-to-start, execution, the
//    lane idle time between pages), CPU per process from /proc, and a sampling profile of the database
//    (pg_stat_activity every 50 ms: which statement each connection is in, or idle inside a transaction),
//    auto_explain's plans of any statement over 1 s, and deliverPage's statements EXPLAINed with and
//    without fresh statistics (the "Plans" section).
// 2. Rate: a campaign with ratePerSecond R over R x --rate-seconds users; achieved = sent / (last sent_at
//    - first sent_at), as a fraction of R. And the provider limit (KEEL_RATE_LIMIT_EMAIL=R on the worker
//    process, campaign without its own rate) unless --rate-mode campaign.
// 3. Isolation: a second worker process with KEEL_WORKERS=bookings; --bookings bookings created through
//    the API before a users-sized campaign is submitted, their start times spread over the campaign's
//    expected run. Lateness = booking_events.occurred_at - scheduled_at of each 'start'. Also measured
//    without a campaign (idle baseline) unless --skip-baseline.
//
// Services: TEMPORAL_ADDRESS / DATABASE_URL when given, otherwise the test harness's own code path
// (test/global-setup.ts: a headless in-memory `temporal server start-dev` and a throwaway PostgreSQL
// cluster with fsync=off, synchronous_commit=off). A fresh database is created, migrated and dropped.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import pino from 'pino';
import { createApp } from '../api/app';
import { createRequestStats } from '../api/request-stats';
import { loadEnv, type Env } from '../config/env';
import { createCampaign, snapshotAudience } from '../db/campaign-store';
import { createDb, type Db } from '../db/client';
import { createPromoPool } from '../db/promo-store';
import { upsertUsers, type UserInput } from '../db/user-store';
import { workflowIdForBooking } from '../domain/booking';
import { deliveryKey, render, workflowIdForCampaign, type CampaignTemplate } from '../domain/campaign';
import { taskQueue, type TaskQueueName } from '../domain/task-queues';
import { loadRunbooks } from '../runbooks/load';
import { resolveTemporalCli } from '../scripts/temporal-cli';
import globalSetup, { stopTestServices, testServices } from '../test/global-setup';
import { createTestDatabase } from '../test/helpers/database';
import type { CampaignSettings } from '../workflows/campaign';
import { CpuMeter, dist, fmtCpu, fmtDist, ms, procStat, round, sleep, treeTicks, type CpuUsage, type Dist } from './common';

const ROOT = path.resolve(__dirname, '..');

const USAGE = `usage: npx tsx bench/campaigns.ts [options]
  --users N             users (bulk insert) and the size of each throughput campaign (default 100000)
  --configs LIST        page size x concurrency settings to try, e.g. 500x4,1000x4,1000x8 (default)
  --warmup N            uncounted warm-up campaign over the first N users before the measurements
                        (default 5000; 0 = none)
  --naive-n N           recipients the naive one-at-a-time loop sends (default 10000; extrapolated to
                        --users when smaller; 0 = skip)
  --rate R              ratePerSecond for the rate test (default 500)
  --rate-seconds S      the rate campaign's audience is R x S users (default 20)
  --rate-mode M         campaign (the campaign's ratePerSecond), provider (KEEL_RATE_LIMIT_EMAIL on the
                        worker process, campaign without a rate) or both (default)
  --bookings N          bookings starting during the isolation campaign (default 300)
  --iso-rate R          give the isolation campaign ratePerSecond R (default: none, full speed)
  --iso-window S        their starts are spread over S seconds from 3 s after the submit (default: 70 % of
                        the throughput phase's time for --settings, else 40)
  --settings PxC        settings for the rate and isolation campaigns (default: KEEL_CAMPAIGN_PAGE_SIZE x
                        KEEL_CAMPAIGN_CONCURRENCY from the environment, 500x4 unset)
  --worker-pool-size P  DATABASE_POOL_SIZE of the worker processes (default: environment, else 10)
  --timeout S           give up on one campaign after S seconds (default 900)
  --skip-throughput --skip-naive --skip-plans --skip-rate --skip-isolation --skip-baseline --skip-profile
  --keep-logs           keep the worker processes' logs (their path is printed)
  --wait-quiet S        first wait up to S seconds for the machine to be quiet (< 0.3 cores busy over 5 s;
                        on a shared host other people's jobs skew every figure) (default 0)
Experiments (printed as such; not for the reference figures):
  --experiment LIST     free-codes-index: CREATE INDEX ON promo_codes (pool_id, code) WHERE assigned_at IS NULL
                        (what a migration would add)
  --worker-node-args A  extra node flags for the worker processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
Env: TEMPORAL_ADDRESS (else a dev server is started), DATABASE_URL (else a throwaway PostgreSQL).`;

interface Settings {
  pageSize: number;
  concurrency: number;
}
const settingsName = (s: Settings) => `${s.pageSize}x${s.concurrency}`;

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        users: { type: 'string', default: '100000' },
        configs: { type: 'string', default: '500x4,1000x4,1000x8' },
        warmup: { type: 'string', default: '5000' },
        'naive-n': { type: 'string', default: '10000' },
        rate: { type: 'string', default: '500' },
        'rate-seconds': { type: 'string', default: '20' },
        'rate-mode': { type: 'string', default: 'both' },
        bookings: { type: 'string', default: '300' },
        'iso-window': { type: 'string' },
        'iso-rate': { type: 'string' },
        settings: { type: 'string' },
        'worker-pool-size': { type: 'string' },
        timeout: { type: 'string', default: '900' },
        'skip-throughput': { type: 'boolean', default: false },
        'skip-naive': { type: 'boolean', default: false },
        'skip-rate': { type: 'boolean', default: false },
        'skip-isolation': { type: 'boolean', default: false },
        'skip-baseline': { type: 'boolean', default: false },
        'skip-profile': { type: 'boolean', default: false },
        'skip-plans': { type: 'boolean', default: false },
        experiment: { type: 'string', default: '' },
        'worker-node-args': { type: 'string', default: '' },
        'keep-logs': { type: 'boolean', default: false },
        'wait-quiet': { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const fail = (m: string): never => {
    console.error(`${m}\n${USAGE}`);
    process.exit(2);
  };
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(String(v).replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const setting = (s: string, what: string): Settings => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 5000 || Number(m[2]) < 1 || Number(m[2]) > 64) {
      return fail(`${what}: "${s}" is not PAGExCONCURRENCY (page 1-5000, concurrency 1-64), e.g. 500x4`);
    }
    return { pageSize: Number(m[1]), concurrency: Number(m[2]) };
  };
  let env: Env;
  try {
    env = loadEnv();
  } catch (err) {
    return fail((err as Error).message);
  }
  const rateMode = values['rate-mode'];
  if (rateMode !== 'campaign' && rateMode !== 'provider' && rateMode !== 'both') fail('--rate-mode must be campaign, provider or both');
  const users = int('users', values.users, 1);
  const EXPERIMENTS = ['free-codes-index'] as const;
  const experiments = values.experiment!.split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of experiments) if (!(EXPERIMENTS as readonly string[]).includes(e)) fail(`--experiment: unknown "${e}"; known: ${EXPERIMENTS.join(', ')}`);
  return {
    users,
    configs: values.configs!.split(',').filter(Boolean).map((c) => setting(c, '--configs')),
    warmup: Math.min(users, int('warmup', values.warmup, 0)),
    naiveN: Math.min(users, int('naive-n', values['naive-n'], 0)),
    rate: int('rate', values.rate, 1),
    rateSeconds: int('rate-seconds', values['rate-seconds'], 1),
    rateModes: (rateMode === 'both' ? ['campaign', 'provider'] : [rateMode]) as Array<'campaign' | 'provider'>,
    bookings: int('bookings', values.bookings, 1),
    isoRate: values['iso-rate'] ? int('iso-rate', values['iso-rate'], 1) : undefined,
    isoWindowMs: values['iso-window'] ? int('iso-window', values['iso-window'], 5) * 1000 : undefined,
    settings: values.settings
      ? setting(values.settings, '--settings')
      : { pageSize: env.KEEL_CAMPAIGN_PAGE_SIZE, concurrency: env.KEEL_CAMPAIGN_CONCURRENCY },
    workerPoolSize: values['worker-pool-size'] ? int('worker-pool-size', values['worker-pool-size'], 1) : env.DATABASE_POOL_SIZE,
    timeoutMs: int('timeout', values.timeout, 10) * 1000,
    skipThroughput: values['skip-throughput']!,
    skipNaive: values['skip-naive']!,
    skipRate: values['skip-rate']!,
    skipIsolation: values['skip-isolation']!,
    skipBaseline: values['skip-baseline']!,
    profile: !values['skip-profile'],
    skipPlans: values['skip-plans']!,
    experiments: new Set(experiments as Array<(typeof EXPERIMENTS)[number]>),
    workerNodeArgs: values['worker-node-args']!.split(/\s+/).filter(Boolean),
    keepLogs: values['keep-logs']!,
    waitQuietMs: int('wait-quiet', values['wait-quiet'], 0) * 1000,
    env,
  };
}
type Options = ReturnType<typeof options>;

// ---------------------------------------------------------------------------------------------
// Small helpers: statistics, formatting, CPU accounting from /proc.

const say = (m: string) => console.log(m);
const note = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const secs = (v: number) => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} s` : 'n/a');
const distJson = (d: Dist) => ({ n: d.n, p50: round(d.p50), p90: round(d.p90), p99: round(d.p99), max: round(d.max), mean: round(d.mean) });

const cpuJson = (u: CpuUsage) => Object.fromEntries(Object.entries(u).map(([k, v]) => [k, round(v, 2)]));

async function runPool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<{ ok: number; wallMs: number; errors: string[] }> {
  let next = 0;
  let ok = 0;
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        try {
          await fn(i);
          ok++;
        } catch (err) {
          errors.push(String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300));
        }
      }
    }),
  );
  return { ok, wallMs: performance.now() - t0, errors };
}

/** Long (protobufjs) or number -> number. */
const num = (v: unknown): number =>
  v && typeof v === 'object' && 'toNumber' in v ? (v as { toNumber(): number }).toNumber() : Number(v ?? 0);
const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? num(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

// ---------------------------------------------------------------------------------------------
// HTTP: the real API over keep-alive connections.

class Api {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 32 });
  constructor(readonly port: number, private readonly token: string) {}
  request(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1', port: this.port, path: p, method, agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
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
// Cleanup, in reverse order of setup, also on SIGINT/SIGTERM.

const cleanups: Array<() => Promise<unknown> | unknown> = [];
let cleaning: Promise<void> | undefined;
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const f = cleanups.pop()!;
      try {
        // A step never holds up the rest (a query stuck on a connection, a server that will not close).
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.resolve().then(f),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 30 s')), 30_000))),
        ]).finally(() => clearTimeout(timer));
      } catch (err) {
        note(`cleanup step failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------------------------
// Worker processes: `node --import tsx workers/main.ts`, as the kill test and production run them.

interface WorkerProc {
  kind: TaskQueueName;
  pid: number;
  logFile: string;
  extraEnv: Record<string, string>;
  exited: boolean;
  stop(): Promise<void>;
}

interface Stack {
  tag: string;
  ownTemporal: boolean;
  address: string;
  namespace: string;
  temporalMode: string;
  postgresMode: string;
  postgresVersion: string;
  databaseUrl: string;
  dbName: string;
  db: Db;
  client: Client;
  token: string;
  logDir: string;
  workers: Partial<Record<TaskQueueName, WorkerProc>>;
  /** PostgreSQL's server log (own cluster only): auto_explain writes the plans of slow statements there. */
  pgLog?: string;
  api(settings: Settings): Promise<Api>;
  cpu: CpuMeter;
}

function logTail(file: string, chars = 3000): string {
  try {
    const t = fs.readFileSync(file, 'utf8');
    return t.slice(-chars);
  } catch {
    return '';
  }
}

async function waitForPollers(s: Stack, kind: TaskQueueName, pid: number, isExited: () => boolean, logFile: string): Promise<void> {
  const name = taskQueue(kind, s.tag);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (isExited()) throw new Error(`worker process ${kind} exited before it was polling:\n${logTail(logFile)}`);
    let ready = true;
    for (const taskQueueType of [1, 2] as const) {
      const r = await s.client.workflowService.describeTaskQueue({ namespace: s.namespace, taskQueue: { name, kind: 1 }, taskQueueType });
      if (!(r.pollers ?? []).some((p) => (p.identity ?? '').startsWith(`${pid}@`))) ready = false;
    }
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`worker process ${kind} not polling ${name} within 120 s:\n${logTail(logFile)}`);
    await sleep(250);
  }
}

let workerNodeArgs: string[] = [];

async function startWorker(s: Stack, kind: TaskQueueName, poolSize: number, extraEnv: Record<string, string> = {}): Promise<WorkerProc> {
  const logFile = path.join(s.logDir, `worker-${kind}-${Date.now()}.log`);
  const fd = fs.openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (/^KEEL_(RATE_LIMIT|PROVIDER|CAMPAIGN)_/.test(k)) delete env[k];
  Object.assign(env, {
    DATABASE_URL: s.databaseUrl,
    DATABASE_POOL_SIZE: String(poolSize),
    TEMPORAL_ADDRESS: s.address,
    TEMPORAL_NAMESPACE: s.namespace,
    KEEL_TASK_QUEUE_PREFIX: s.tag,
    KEEL_WORKERS: kind,
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    ...extraEnv,
  });
  const child: ChildProcess = spawn(process.execPath, [...workerNodeArgs, '--import', 'tsx', 'workers/main.ts'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const w: WorkerProc = {
    kind, pid: child.pid!, logFile, extraEnv, exited: false,
    stop: async () => {
      if (w.exited) return;
      const exitP = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM'); // the SDK's Runtime drains the worker and exits
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitP;
      clearTimeout(timer);
    },
  };
  child.once('exit', () => (w.exited = true));
  cleanups.push(() => w.stop());
  const t0 = performance.now();
  await waitForPollers(s, kind, w.pid, () => w.exited, logFile);
  note(`worker process ${kind} (pid ${w.pid}${Object.keys(extraEnv).length ? `, ${JSON.stringify(extraEnv)}` : ''}) polling after ${secs(performance.now() - t0)}`);
  return w;
}

async function restartWorker(s: Stack, kind: TaskQueueName, poolSize: number, extraEnv: Record<string, string> = {}): Promise<void> {
  await s.workers[kind]?.stop();
  s.workers[kind] = await startWorker(s, kind, poolSize, extraEnv);
}

// ---------------------------------------------------------------------------------------------
// The stack.

async function startStack(opts: Options, tag: string): Promise<Stack> {
  await globalSetup();
  cleanups.push(() => stopTestServices());
  const services = testServices();
  const address = process.env.KEEL_TEST_TEMPORAL_ADDRESS!;
  const namespace = 'default';
  const temporalProcess = services.temporal?.process;
  let temporalMode = `external Temporal at ${address} (TEMPORAL_ADDRESS)`;
  if (temporalProcess) {
    let version = '';
    try {
      version = execFileSync(await resolveTemporalCli({ install: false }), ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // informative only
    }
    temporalMode = `own dev server (temporal server start-dev, headless, in-memory SQLite)${version ? `, ${version}` : ''}`;
  }
  const postgresMode = services.postgres
    ? 'own throwaway cluster (test/global-setup.ts: fsync=off, synchronous_commit=off, full_page_writes=off)'
    : 'external (DATABASE_URL)';

  const database = await createTestDatabase();
  const db = createDb(database.url, { poolSize: opts.env.DATABASE_POOL_SIZE });
  cleanups.push(() => db.$disconnect());
  // Before the disconnect (cleanups run last-in first-out): dropping terminates every session, so the
  // disconnect never waits for a query still running.
  cleanups.push(() => database.drop());
  const postgresVersion = ((await db.$queryRawUnsafe('SHOW server_version')) as Array<{ server_version: string }>)[0].server_version;
  const dbName = new URL(database.url).pathname.slice(1);
  let pgLog: string | undefined;
  if (services.postgres && opts.profile) {
    // Every session of this database (the workers' too, which connect later) logs the plan of any
    // statement slower than 1 s. Plans only (log_analyze off): no timing overhead on the fast ones.
    await db.$executeRawUnsafe(`ALTER DATABASE "${dbName}" SET session_preload_libraries = 'auto_explain'`);
    await db.$executeRawUnsafe(`ALTER DATABASE "${dbName}" SET auto_explain.log_min_duration = '1s'`);
    pgLog = path.join(services.postgres.dataDir, 'server.log');
  }

  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace });

  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-campaigns-'));
  if (!opts.keepLogs) cleanups.push(() => fs.rmSync(logDir, { recursive: true, force: true }));

  // The real express app (createApp, as api/main.ts builds it), one per campaign setting: the settings
  // are what the API hands the workflow (KEEL_CAMPAIGN_PAGE_SIZE / _CONCURRENCY in production).
  const token = `svc-${randomBytes(16).toString('hex')}`;
  const logger = pino({ level: 'info', name: 'keel-api' }, pino.destination({ dest: '/dev/null', sync: true }));
  const stats = createRequestStats(db, { instance: `bench:${process.pid}` });
  cleanups.push(() => stats.stop());
  const apis = new Map<string, Promise<Api>>();
  const api = (settings: Settings): Promise<Api> => {
    const key = settingsName(settings);
    let p = apis.get(key);
    if (!p) {
      p = (async () => {
        const campaigns: CampaignSettings = {
          pageSize: settings.pageSize, concurrency: settings.concurrency,
          pagesPerRun: opts.env.KEEL_CAMPAIGN_PAGES_PER_RUN, quietHours: opts.env.KEEL_QUIET_HOURS,
        };
        const app = createApp({
          db, client, logger, apiKeys: `service:${token}`,
          // The rate campaign's audience is a list of user ids (R x S of them): more than the 100 kB default.
          bodyLimit: '10mb',
          workflows: {
            taskQueuePrefix: tag,
            settings: {
              noShowGraceMs: opts.env.KEEL_NO_SHOW_GRACE,
              remindersBeforeStartMs: opts.env.KEEL_REMINDERS_BEFORE_START,
              remindersBeforeEndMs: opts.env.KEEL_REMINDERS_BEFORE_END,
              earlyWakeMs: opts.env.KEEL_TIMER_EARLY_WAKE,
            },
          },
          incidents: { components: opts.env.KEEL_STATUS_COMPONENTS, runbooks: loadRunbooks() },
          campaigns,
          requestStats: stats.middleware,
        });
        const server = app.listen(0, '127.0.0.1');
        await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
        cleanups.push(() => new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }));
        const a = new Api((server.address() as AddressInfo).port, token);
        cleanups.push(() => a.close());
        return a;
      })();
      apis.set(key, p);
    }
    return p;
  };

  const s: Stack = {
    tag, ownTemporal: Boolean(temporalProcess), address, namespace, temporalMode, postgresMode, postgresVersion,
    databaseUrl: database.url, dbName, db, client, token, logDir, workers: {}, api, pgLog,
    cpu: new CpuMeter({}),
  };
  const postmaster = services.postgres
    ? Number(fs.readFileSync(path.join(services.postgres.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    : undefined;
  const groups: Record<string, () => number> = {
    'bench+api': () => procStat(process.pid)?.ticks ?? 0,
    'worker:notifications': () => treeTicks(s.workers.notifications?.pid),
  };
  if (!opts.skipIsolation) groups['worker:bookings'] = () => treeTicks(s.workers.bookings?.pid);
  if (temporalProcess?.pid) groups.temporal = () => treeTicks(temporalProcess.pid);
  if (postmaster) groups.postgres = () => treeTicks(postmaster);
  s.cpu = new CpuMeter(groups);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Data: users, promo pools.

const FIRST_NAMES = ['Ada', 'Max', 'Lea', 'Tom', 'Mia', 'Ben', 'Eva', 'Jan', 'Zoe', 'Noah', 'Lina', 'Paul'];
const userId = (i: number) => `u${String(i).padStart(7, '0')}`;

async function insertUsers(s: Stack, n: number): Promise<number> {
  const t0 = performance.now();
  const users: UserInput[] = Array.from({ length: n }, (_, i) => ({
    userId: userId(i + 1), email: `${userId(i + 1)}@example.test`, firstName: FIRST_NAMES[i % FIRST_NAMES.length], timezone: 'Europe/Paris', locale: 'fr-FR',
  }));
  await upsertUsers(s.db, users);
  return performance.now() - t0;
}

async function makePool(s: Stack, label: string, n: number): Promise<{ poolId: string; ms: number }> {
  const t0 = performance.now();
  const codes = Array.from({ length: n }, (_, i) => `${label.toUpperCase()}-${String(i).padStart(7, '0')}`);
  const r = await createPromoPool(s.db, { idempotencyKey: `${s.tag}-${label}`, name: `bench ${label}`, codes });
  if (r.kind !== 'created') throw new Error(`promo pool ${label}: ${r.kind}`);
  return { poolId: r.pool.poolId, ms: performance.now() - t0 };
}

const PROMO_TEMPLATE: CampaignTemplate = { subject: 'A ride on us, {{firstName}}', body: 'Hi {{firstName}}, your code is {{promoCode}}. Drive safe!' };
const PLAIN_TEMPLATE: CampaignTemplate = { subject: 'News for you, {{firstName}}', body: 'Hi {{firstName}}, new cars near you this week.' };

// ---------------------------------------------------------------------------------------------
// Database sampling profile: which statement each connection of the benchmark's database is in.

const STATEMENTS: Array<[RegExp, string]> = [
  [/INSERT INTO "outbox_messages"/, 'outbox INSERT (provider sendMany)'],
  [/SELECT code FROM "promo_codes"/, 'claim free codes (SELECT .. FOR UPDATE SKIP LOCKED)'],
  [/UPDATE "promo_codes"/, 'assign codes (UPDATE promo_codes)'],
  [/UPDATE "deliveries" d SET promo_pool_id/, 'codes onto deliveries (UPDATE deliveries)'],
  [/SELECT user_id, promo_code FROM "deliveries"/, 'codes already held (SELECT deliveries)'],
  [/UPDATE "deliveries" d SET status/, 'record outcomes (UPDATE deliveries)'],
  [/UPDATE "campaigns" SET sent/, 'counters (UPDATE campaigns)'],
  [/FROM "deliveries" d JOIN "users"/, 'pending page (SELECT deliveries JOIN users)'],
  [/INSERT INTO "deliveries"/, 'audience snapshot (INSERT deliveries)'],
  [/FROM "deliveries" WHERE "campaign_id"/, 'snapshot count'],
  [/^\s*BEGIN/i, 'BEGIN'],
  [/^\s*COMMIT/i, 'COMMIT'],
  [/^\s*ROLLBACK/i, 'ROLLBACK'],
  [/booking/i, 'bookings (any)'],
  [/request_stats|"api_request/i, 'request stats'],
  [/"campaigns"/, 'campaign row (other)'],
];
const statementOf = (q: string) => STATEMENTS.find(([re]) => re.test(q))?.[1] ?? `other: ${q.replace(/\s+/g, ' ').slice(0, 60)}`;

interface DbProfile {
  ticks: number;
  intervalMs: number;
  /** key -> samples */
  counts: Map<string, number>;
  connections: number;
}

class DbSampler {
  private client: PgClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private profile: DbProfile = { ticks: 0, intervalMs: 50, counts: new Map(), connections: 0 };
  constructor(private readonly s: Stack) {}
  async start(): Promise<void> {
    this.client = new PgClient({ connectionString: this.s.databaseUrl });
    this.client.on('error', () => undefined);
    await this.client.connect();
    this.running = true;
    const sql = `SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`;
    this.loop = (async () => {
      while (this.running) {
        const t = performance.now();
        try {
          const r = await this.client!.query<{ state: string | null; wait_event_type: string | null; wait_event: string | null; query: string }>(sql, [this.s.dbName]);
          this.profile.ticks++;
          this.profile.connections += r.rows.length;
          for (const row of r.rows) {
            if (row.state === 'idle') continue;
            const st = statementOf(row.query ?? '');
            const key =
              row.state === 'active'
                ? `active      ${st}${row.wait_event_type ? ` [waits ${row.wait_event_type}:${row.wait_event}]` : ''}`
                : `${row.state === 'idle in transaction' ? 'idle in tx' : row.state}  after ${st}`;
            this.profile.counts.set(key, (this.profile.counts.get(key) ?? 0) + 1);
          }
        } catch {
          // a sample lost is fine
        }
        await sleep(Math.max(0, this.profile.intervalMs - (performance.now() - t)));
      }
    })();
  }
  async stop(): Promise<DbProfile> {
    this.running = false;
    await this.loop;
    await this.client?.end().catch(() => undefined);
    return this.profile;
  }
}

function printDbProfile(p: DbProfile, top = 14): Record<string, number> {
  if (!p.ticks) return {};
  const rows = [...p.counts.entries()].sort((a, b) => b[1] - a[1]);
  const busy = rows.reduce((a, [, v]) => a + v, 0) / p.ticks;
  say(`    database (pg_stat_activity every ${p.intervalMs} ms, ${p.ticks} samples): ${(p.connections / p.ticks).toFixed(1)} connections open, ` +
    `${busy.toFixed(2)} not idle on average; by statement (average connections in that state):`);
  for (const [k, v] of rows.slice(0, top)) say(`      ${(v / p.ticks).toFixed(2).padStart(5)}  ${k}`);
  return Object.fromEntries(rows.slice(0, top).map(([k, v]) => [k.replace(/\s+/g, ' '), round(v / p.ticks, 3)!]));
}

// ---------------------------------------------------------------------------------------------
// Slow statements: auto_explain's plans in the server log (statements over 1 s, any session).

interface SlowStatements {
  count: number;
  byStatement: Map<string, { n: number; maxMs: number; totalMs: number; plan: string[] }>;
}

function logSize(file: string | undefined): number {
  try {
    return file ? fs.statSync(file).size : 0;
  } catch {
    return 0;
  }
}

function slowStatements(file: string | undefined, from: number): SlowStatements | undefined {
  if (!file) return undefined;
  let text = '';
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    text = buf.toString('utf8');
  } catch {
    return undefined;
  }
  const out: SlowStatements = { count: 0, byStatement: new Map() };
  const entries: Array<{ ms: number; lines: string[] }> = [];
  for (const line of text.split('\n')) {
    const m = /LOG:\s+duration: ([\d.]+) ms\s+plan:/.exec(line);
    if (m) entries.push({ ms: Number(m[1]), lines: [] });
    else if (line.startsWith('\t') && entries.length) entries[entries.length - 1].lines.push(line.slice(1));
  }
  for (const e of entries) {
    const sql = e.lines.join('\n').replace(/^Query Text:\s*/, '');
    const label = statementOf(sql);
    const start = e.lines.findIndex((l) => /^(Update on|Insert on|Delete on|Limit|LockRows|Hash Join|Nested Loop|Sort|Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Aggregate|Result|Merge Join)/.test(l.trim()) && !/^Query Text/.test(l));
    const plan = start >= 0 ? e.lines.slice(start).map((l) => l.replace(/\s+\(cost=[^)]*\)/g, '').trimEnd()).filter((l) => l.trim()) : [];
    const cur = out.byStatement.get(label) ?? { n: 0, maxMs: 0, totalMs: 0, plan };
    cur.n++;
    cur.totalMs += e.ms;
    if (e.ms > cur.maxMs) {
      cur.maxMs = e.ms;
      cur.plan = plan;
    }
    out.byStatement.set(label, cur);
    out.count++;
  }
  return out;
}

function printSlow(sl: SlowStatements | undefined): void {
  if (!sl) return;
  if (!sl.count) {
    say('    statements slower than 1 s (auto_explain): none');
    return;
  }
  say(`    statements slower than 1 s (auto_explain, any session of this database): ${sl.count}`);
  for (const [k, v] of [...sl.byStatement.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs)) {
    say(`      ${String(v.n).padStart(4)} x ${k}: max ${ms(v.maxMs)}, plan of the slowest: ${v.plan.slice(0, 7).map((l) => l.trim()).join(' / ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Page timings from the workflow histories (every run of the continue-as-new chain).

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

interface PageStats {
  runs: number;
  pages: number;
  retriedPages: number;
  /** Last failure before the successful attempt, per retried page. */
  retryReasons: string[];
  pageSizes: Dist;
  scheduleToStart: Dist;
  execution: Dist;
  perRecipientMs: Dist;
  /** Page completed -> the next page scheduled by the workflow (workflow task turnaround). */
  turnaround: Dist;
  /** Last page of a run completed -> first page of the next run scheduled. */
  continueAsNew: Dist;
  snapshotMs: number;
  /** From the first page scheduled to the last page completed. */
  sendPhaseMs: number;
  /** sum(page execution) / (concurrency x send phase). */
  laneBusy: number;
  timeline: { workflowStarted: number; snapshotDone: number; firstPageScheduled: number; lastPageDone: number; workflowClosed: number };
}

async function pageStats(s: Stack, workflowId: string, firstRunId: string, concurrency: number, submitAt: number): Promise<PageStats> {
  const s2s: number[] = [];
  const exec: number[] = [];
  const perRecipient: number[] = [];
  const sizes: number[] = [];
  const turnaround: number[] = [];
  const can: number[] = [];
  let retried = 0;
  const retryReasons: string[] = [];
  let snapshotMs = NaN;
  let firstScheduled = Infinity;
  let lastDone = 0;
  let workflowStarted = NaN;
  let snapshotDone = NaN;
  let workflowClosed = NaN;
  let prevRunLastDone = NaN;
  let runs = 0;
  let runId: string | undefined = firstRunId;
  while (runId) {
    runs++;
    const history: History = await s.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runId = undefined;
    const scheduled = new Map<number, { t: number; type: string; size: number }>();
    const started = new Map<number, { t: number; attempt: number; lastFailure?: string }>();
    const completions: number[] = []; // times of deliverPage completions in this run, in order
    let firstInRun = true;
    for (const e of events) {
      const t = tsMs(e.eventTime);
      if (e.workflowExecutionStartedEventAttributes && runs === 1) workflowStarted = t;
      if (e.activityTaskScheduledEventAttributes) {
        const a = e.activityTaskScheduledEventAttributes;
        const type = a.activityType?.name ?? '';
        let size = 0;
        if (type === 'deliverPage') {
          try {
            const arg = JSON.parse(Buffer.from(a.input!.payloads![0].data!).toString('utf8')) as { fromSeq: number; toSeq: number };
            size = arg.toSeq - arg.fromSeq + 1;
          } catch {
            size = NaN;
          }
          firstScheduled = Math.min(firstScheduled, t);
          if (firstInRun && Number.isFinite(prevRunLastDone)) can.push(t - prevRunLastDone);
          // The workflow scheduled this page in reaction to the latest completion (after the first lanes).
          if (!firstInRun && completions.length) turnaround.push(t - completions[completions.length - 1]);
          firstInRun = false;
        }
        scheduled.set(num(e.eventId), { t, type, size });
      }
      if (e.activityTaskStartedEventAttributes) {
        const a = e.activityTaskStartedEventAttributes;
        const f = a.lastFailure;
        started.set(num(a.scheduledEventId), {
          t, attempt: a.attempt ?? 1,
          lastFailure: f ? `${f.message ?? ''}${f.timeoutFailureInfo ? ` (timeout type ${f.timeoutFailureInfo.timeoutType})` : ''}` : undefined,
        });
      }
      const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
      if (closed) {
        const sch = scheduled.get(num(closed.scheduledEventId));
        const st = started.get(num(closed.scheduledEventId));
        if (sch?.type === 'snapshotAudience') {
          snapshotMs = st ? t - st.t : t - sch.t;
          snapshotDone = t;
        }
        if (sch?.type === 'deliverPage') {
          completions.push(t);
          lastDone = Math.max(lastDone, t);
          if (st) {
            s2s.push(st.t - sch.t);
            exec.push(t - st.t);
            if (sch.size > 0) perRecipient.push((t - st.t) / sch.size);
            if (st.attempt > 1) {
              retried++;
              retryReasons.push(`attempt ${st.attempt} after: ${st.lastFailure ?? 'unknown'}`);
            }
          }
          sizes.push(sch.size);
        }
      }
      if (e.workflowExecutionContinuedAsNewEventAttributes) runId = e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
      if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes || e.workflowExecutionTerminatedEventAttributes || e.workflowExecutionCanceledEventAttributes) {
        workflowClosed = t;
      }
    }
    if (completions.length) prevRunLastDone = completions[completions.length - 1];
  }
  const sendPhaseMs = lastDone - firstScheduled;
  const execSum = exec.reduce((a, b) => a + b, 0);
  return {
    runs, pages: exec.length, retriedPages: retried, retryReasons, pageSizes: dist(sizes), scheduleToStart: dist(s2s), execution: dist(exec),
    perRecipientMs: dist(perRecipient), turnaround: dist(turnaround), continueAsNew: dist(can), snapshotMs, sendPhaseMs,
    laneBusy: execSum / (concurrency * sendPhaseMs),
    timeline: {
      workflowStarted: workflowStarted - submitAt, snapshotDone: snapshotDone - submitAt, firstPageScheduled: firstScheduled - submitAt,
      lastPageDone: lastDone - submitAt, workflowClosed: workflowClosed - submitAt,
    },
  };
}

function printPageStats(p: PageStats, concurrency: number): void {
  const t = p.timeline;
  say(`    timeline from submit: workflow started +${ms(t.workflowStarted)}, audience snapshot done +${ms(t.snapshotDone)} ` +
    `(activity ${ms(p.snapshotMs)}), first page +${ms(t.firstPageScheduled)}, last page done +${ms(t.lastPageDone)}, workflow closed +${ms(t.workflowClosed)}`);
  say(`    pages (workflow histories, ${p.runs} run(s)): ${p.pages} pages, size p50 ${p.pageSizes.p50}, ${p.retriedPages} retried; ` +
    `lanes busy ${(p.laneBusy * 100).toFixed(0)} % of ${concurrency} x send phase ${secs(p.sendPhaseMs)}`);
  say(`      page execution     ${fmtDist(p.execution)}; per recipient p50 ${p.perRecipientMs.p50.toFixed(2)} ms`);
  say(`      schedule-to-start  ${fmtDist(p.scheduleToStart)}`);
  say(`      workflow turnaround (page done -> next page scheduled) ${fmtDist(p.turnaround)}`);
  if (p.retryReasons.length) {
    const counts = new Map<string, number>();
    for (const r of p.retryReasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    say(`      retried pages: ${[...counts.entries()].map(([k, v]) => `${v} x ${k}`).join('; ')}`);
  }
  if (p.continueAsNew.n) say(`      continue-as-new gap (last page of a run -> first of the next) ${fmtDist(p.continueAsNew)}`);
}

// ---------------------------------------------------------------------------------------------
// One campaign through the API, watched until it ends.

interface CampaignSpec {
  label: string;
  settings: Settings;
  audience: { all: true } | { userIds: string[] };
  expected: number;
  poolId?: string;
  ratePerSecond?: number;
  profile: boolean;
}

interface CampaignResult {
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

class Bench {
  readonly failures: string[] = [];
  readonly workflowIds: string[] = [];
  constructor(readonly s: Stack, readonly opts: Options) {}
  fail(what: string): void {
    this.failures.push(what);
    note(`FAILURE: ${what}`);
  }
}

async function runCampaign(b: Bench, spec: CampaignSpec): Promise<CampaignResult> {
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
      pages = await pageStats(s, workflowId, firstRunId, spec.settings.concurrency, submitAt);
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

function printCampaign(r: CampaignResult): void {
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

function campaignJson(r: CampaignResult) {
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
    db: r.db && printDbProfileJson(r.db),
    slowStatements: r.slow && Object.fromEntries([...r.slow.byStatement.entries()].map(([k, v]) => [k, { n: v.n, maxMs: round(v.maxMs), totalMs: round(v.totalMs) }])),
  };
}

function printDbProfileJson(p: DbProfile): Record<string, number> {
  if (!p.ticks) return {};
  return Object.fromEntries([...p.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => [k.replace(/\s+/g, ' '), round(v / p.ticks, 3)!]));
}

// ---------------------------------------------------------------------------------------------
// 1. Throughput.

async function throughput(b: Bench) {
  const { s, opts } = b;
  say(`\n== 1. Throughput: ${opts.users} recipients, promo codes, email via the outbox provider, no rate limit ==`);
  say(`  API in this process (createApp, HTTP); notifications worker: separate process (node --import tsx workers/main.ts, ` +
    `KEEL_WORKERS=notifications, DATABASE_POOL_SIZE=${opts.workerPoolSize}, LOG_LEVEL=info)`);
  const results: CampaignResult[] = [];
  for (const [i, settings] of opts.configs.entries()) {
    const pool = await makePool(s, `tp${i}-${settingsName(settings)}`, opts.users);
    await s.db.$executeRawUnsafe('ANALYZE promo_codes');
    note(`pool of ${opts.users} codes for ${settingsName(settings)} in ${secs(pool.ms)}`);
    await sleep(1000);
    const r = await runCampaign(b, { label: `tp-${settingsName(settings)}`, settings, audience: { all: true }, expected: opts.users, poolId: pool.poolId, profile: opts.profile });
    printCampaign(r);
    results.push(r);
    await s.db.$executeRawUnsafe('VACUUM ANALYZE promo_codes, deliveries, outbox_messages'); // start the next one from a tidy table, as autovacuum would
  }
  const best = results.filter((r) => r.ok).sort((x, y) => x.totalMs - y.totalMs)[0];
  if (best) say(`  best: ${settingsName(best.settings)} in ${secs(best.totalMs)} (${best.perSec.toFixed(0)}/s); target < 60 s: ${best.totalMs < 60_000 ? 'MET' : 'MISSED'}`);
  return { results, best };
}

// ---------------------------------------------------------------------------------------------
// Naive baseline: one transaction per recipient, in a loop, on the same tables.

interface NaiveResult {
  n: number;
  wallMs: number;
  perSec: number;
  projectedMs: number;
  latency: Dist;
  firstK: number;
  lastK: number;
  cpu: CpuUsage;
}

async function naive(b: Bench): Promise<NaiveResult> {
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
  await snapshotAudience(s.db, id, 'email', { all: true });
  // Fresh statistics for its per-user statements (snapshotAudience analyzes deliveries; promo_codes too
  // here): the baseline gets its best case, never a plan that scans the whole campaign.
  await s.db.$executeRawUnsafe('ANALYZE deliveries, promo_codes');
  await s.db.campaign.update({ where: { id }, data: { status: 'RUNNING', startedAt: new Date() } });
  // The job list, read once (generous to the loop: a job server would read each job's user on its own).
  const jobs = await s.db.$queryRaw<Array<{ user_id: string; email: string; first_name: string | null }>>`
    SELECT d.user_id, u.email, u.first_name FROM deliveries d JOIN users u ON u.id = d.user_id
    WHERE d.campaign_id = ${id} AND d.status = 'PENDING' ORDER BY d.seq LIMIT ${n}`;
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
      const values = { firstName: j.first_name ?? '', promoCode: c.code };
      const [m] = await tx.$queryRaw<Array<{ id: string }>>`
        INSERT INTO outbox_messages (idempotency_key, channel, recipient, subject, body)
        VALUES (${deliveryKey(id, j.user_id)}, 'email', ${j.email}, ${render(PROMO_TEMPLATE.subject!, values)}, ${render(PROMO_TEMPLATE.body, values)})
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


// ---------------------------------------------------------------------------------------------
// Plans: deliverPage's own statements (SQL text copied from db/campaign-store.ts; keep in step),
// EXPLAIN ANALYZEd inside a transaction that is rolled back, for one chunk in the middle of a freshly
// snapshotted audience: first with statistics that do not know the new campaign's rows (the snapshot's
// INSERT alone), then after ANALYZE deliveries (what snapshotAudience does after its INSERT). And the
// free-code claim on a pool 0 %, 50 % and 90 % used, as it is and with the earlier ORDER BY code.

const PLAN_SQL = {
  /** snapshotAudience's INSERT for {all: true} on email, without the ANALYZE that follows it. */
  snapshot: `INSERT INTO "deliveries" ("campaign_id", "user_id", "seq", "status", "last_error")
    SELECT $1, u.id, (ROW_NUMBER() OVER (ORDER BY u.id))::int,
           (CASE WHEN u.opted_out OR u.email IS NULL THEN 'SKIPPED' ELSE 'PENDING' END)::"DeliveryStatus",
           CASE WHEN u.opted_out THEN 'opted out' WHEN u.email IS NULL THEN 'no address for this channel' END
    FROM "users" u WHERE TRUE
    ON CONFLICT ("campaign_id", "user_id") DO NOTHING`,
  pendingPage: `SELECT d.user_id AS "userId", d.seq, d.promo_code AS "promoCode", u.first_name AS "firstName", u.email AS address, u.timezone
    FROM "deliveries" d JOIN "users" u ON u.id = d.user_id
    WHERE d.campaign_id = $1 AND d.seq BETWEEN $2 AND $3 AND d.status = 'PENDING'
      AND (d.not_before IS NULL OR d.not_before <= $4) ORDER BY d.seq`,
  held: `SELECT user_id, promo_code FROM "deliveries"
    WHERE campaign_id = $1 AND user_id = ANY($2::text[]) AND promo_code IS NOT NULL`,
  claim: `SELECT code FROM "promo_codes" WHERE pool_id = $1 AND assigned_at IS NULL
    LIMIT $2 FOR UPDATE SKIP LOCKED`,
  /** The claim as it was before: an ordered scan that walks every code already used. */
  claimOrdered: `SELECT code FROM "promo_codes" WHERE pool_id = $1 AND assigned_at IS NULL
    ORDER BY code LIMIT $2 FOR UPDATE SKIP LOCKED`,
  assign: `UPDATE "promo_codes" c SET assigned_campaign_id = $1, assigned_user_id = x.user_id, assigned_at = now()
    FROM unnest($2::text[], $3::text[]) AS x(user_id, code)
    WHERE c.pool_id = $4 AND c.code = x.code AND c.assigned_at IS NULL`,
  codesOntoDeliveries: `UPDATE "deliveries" d SET promo_pool_id = $1, promo_code = x.code, updated_at = now()
    FROM unnest($2::text[], $3::text[]) AS x(user_id, code)
    WHERE d.campaign_id = $4 AND d.user_id = x.user_id AND d.promo_code IS NULL`,
  recordOutcomes: `UPDATE "deliveries" d SET status = x.status::"DeliveryStatus", provider_message_id = x.pid, last_error = x.err,
      attempts = d.attempts + 1, sent_at = CASE WHEN x.status = 'SENT' THEN now() END, updated_at = now()
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS x(user_id, status, pid, err)
    WHERE d.campaign_id = $1 AND d.user_id = x.user_id AND d.status = 'PENDING'
    RETURNING d.status::text AS status`,
};

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

interface Explained {
  ms: number;
  rowsVisited: number;
  plan: string[];
}

function planLines(n: PlanNode, depth = 0, out: string[] = []): string[] {
  const rows = (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1);
  out.push(`${'  '.repeat(depth)}${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] && !n['Index Name'] ? ` on ${n['Relation Name']}` : ''}` +
    ` (rows ${rows}${n['Actual Loops'] && n['Actual Loops'] > 1 ? ` over ${n['Actual Loops']} loops` : ''}${n['Rows Removed by Filter'] ? `, ${n['Rows Removed by Filter'] * (n['Actual Loops'] ?? 1)} removed by filter` : ''})`);
  for (const c of n.Plans ?? []) planLines(c, depth + 1, out);
  return out;
}

/** Rows the scans of deliveries / promo_codes produced or threw away: the work the statement did. */
function rowsVisited(n: PlanNode): number {
  const own = /Scan/.test(n['Node Type']) && n['Relation Name'] ? ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1) : 0;
  return own + (n.Plans ?? []).reduce((a, c) => a + rowsVisited(c), 0);
}

async function explain(pg: PgClient, sql: string, params: unknown[]): Promise<Explained> {
  await pg.query('BEGIN');
  try {
    const r = await pg.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
    const [top] = r.rows[0]['QUERY PLAN'];
    return { ms: top['Execution Time'], rowsVisited: rowsVisited(top.Plan), plan: planLines(top.Plan) };
  } finally {
    await pg.query('ROLLBACK');
  }
}

interface PlanProbe {
  n: number;
  analyzeMs: number;
  before: Record<string, Explained>;
  after: Record<string, Explained>;
  claim: Array<{ consumed: number; current: Explained; ordered: Explained }>;
}

async function planProbe(b: Bench): Promise<PlanProbe> {
  const { s, opts } = b;
  const n = opts.users;
  say(`\n== Plans: deliverPage's statements (db/campaign-store.ts SQL) for one chunk of 250 in the middle of a fresh ${n}-recipient audience ==`);
  say('  EXPLAIN (ANALYZE, BUFFERS) inside a rolled-back transaction; nothing is changed');
  const id = `${s.tag}-probe`;
  const pool = await makePool(s, 'probe', n);
  await s.db.$executeRawUnsafe('ANALYZE promo_codes');
  await createCampaign(s.db, {
    id, idempotencyKey: id, name: 'bench plan probe', channel: 'email', template: PROMO_TEMPLATE, audience: { all: true }, promoPoolId: pool.poolId,
    marketing: false, workflowId: `probe-${id}`,
  }, { actor: 'system:bench' });
  const pg = new PgClient({ connectionString: s.databaseUrl });
  pg.on('error', () => undefined);
  await pg.connect();
  try {
    await pg.query(PLAN_SQL.snapshot, [id]); // the audience snapshot's rows, statistics not refreshed yet
    const mid = Math.max(1, Math.floor(n / 2) - 125);
    const users = (await pg.query<{ user_id: string }>('SELECT user_id FROM deliveries WHERE campaign_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq', [id, mid, mid + 249])).rows.map((r) => r.user_id);
    const codes = (await pg.query<{ code: string }>('SELECT code FROM promo_codes WHERE pool_id = $1 ORDER BY code LIMIT $2', [pool.poolId, users.length])).rows.map((r) => r.code);
    const sent = users.map(() => 'SENT');
    const pids = users.map((_, i) => String(i + 1));
    const errs = users.map(() => null);
    const statements = async (): Promise<Record<string, Explained>> => ({
      'pending page (500 rows)': await explain(pg, PLAN_SQL.pendingPage, [id, mid, mid + 499, new Date()]),
      'codes already held': await explain(pg, PLAN_SQL.held, [id, users]),
      'codes onto deliveries': await explain(pg, PLAN_SQL.codesOntoDeliveries, [pool.poolId, users, codes, id]),
      'record outcomes': await explain(pg, PLAN_SQL.recordOutcomes, [id, users, sent, pids, errs]),
    });
    const before = await statements();
    const a0 = performance.now();
    await pg.query('ANALYZE deliveries');
    const analyzeMs = performance.now() - a0;
    const after = await statements();
    const pad = Math.max(...Object.keys(before).map((k) => k.length));
    say(`  ${'statement'.padEnd(pad)}  statistics without this campaign's rows    after ANALYZE deliveries (${ms(analyzeMs)}; snapshotAudience runs it)`);
    for (const k of Object.keys(before)) {
      say(`  ${k.padEnd(pad)}  ${ms(before[k].ms).padStart(9)}, ${String(before[k].rowsVisited).padStart(7)} rows visited       ${ms(after[k].ms).padStart(9)}, ${String(after[k].rowsVisited).padStart(7)} rows visited`);
    }
    for (const k of Object.keys(before)) {
      say(`  plan of ${k}, statistics without the campaign:`);
      for (const l of before[k].plan.slice(0, 8)) say(`      ${l}`);
      if (after[k].plan.join() !== before[k].plan.join()) {
        say('    after ANALYZE:');
        for (const l of after[k].plan.slice(0, 8)) say(`      ${l}`);
      }
    }
    // The claim of free codes as a pool is used up (in code order, as campaigns take them).
    const claim: PlanProbe['claim'] = [];
    let consumed = 0;
    for (const target of [0, 0.5, 0.9]) {
      const upto = Math.floor(n * target);
      if (upto > consumed) {
        await pg.query(`UPDATE promo_codes SET assigned_campaign_id = $1, assigned_at = now()
          WHERE pool_id = $2 AND code IN (SELECT code FROM promo_codes WHERE pool_id = $2 ORDER BY code OFFSET $3 LIMIT $4)`, [id, pool.poolId, consumed, upto - consumed]);
        consumed = upto;
      }
      claim.push({
        consumed: target,
        current: await explain(pg, PLAN_SQL.claim, [pool.poolId, 250]),
        ordered: await explain(pg, PLAN_SQL.claimOrdered, [pool.poolId, 250]),
      });
    }
    const fmtClaim = (pick: (c: PlanProbe['claim'][number]) => Explained) =>
      claim.map((c) => `${(c.consumed * 100).toFixed(0)} % used: ${ms(pick(c).ms)} (${pick(c).rowsVisited} rows visited)`).join('; ');
    say(`  claim 250 free codes of a pool of ${n} (SELECT .. LIMIT 250 FOR UPDATE SKIP LOCKED): ${fmtClaim((c) => c.current)}`);
    say(`    plan at 90 % used: ${claim[claim.length - 1].current.plan.join(' / ').replace(/\s+/g, ' ')}`);
    say(`  the same with ORDER BY code (as before): ${fmtClaim((c) => c.ordered)}`);
    say(`    plan at 90 % used: ${claim[claim.length - 1].ordered.plan.join(' / ').replace(/\s+/g, ' ')}`);
    return { n, analyzeMs, before, after, claim };
  } finally {
    await pg.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Rate.

interface RateResult {
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

async function rate(b: Bench, mode: 'campaign' | 'provider'): Promise<RateResult> {
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

// ---------------------------------------------------------------------------------------------
// 3. Isolation: booking start lateness while a campaign runs.

/** Where a booking start's lateness comes from, step by step, from the booking workflows' histories. */
async function latenessStages(s: Stack, bookings: Array<{ id: string; startsAt: number }>): Promise<{ stages: Record<string, Dist>; timerDue: Map<string, number> }> {
  const timerDue = new Map<string, number>();
  const col: Record<string, number[]> = {
    setterQueued: [], setterRan: [], timerDue: [], timerFired: [], workflowTaskStarted: [], activityScheduled: [], activityStarted: [], activityCompleted: [],
  };
  const r = await runPool(bookings.length, 16, async (i) => {
    const { id, startsAt: due } = bookings[i];
    const history: History = await s.client.workflow.getHandle(workflowIdForBooking(id)).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    const fired = events.findIndex((e) => e.timerFiredEventAttributes);
    if (fired < 0) throw new Error(`${id}: no TimerFired event`);
    const timerId = events[fired].timerFiredEventAttributes!.timerId;
    const startedEv = events.find((e) => e.timerStartedEventAttributes?.timerId === timerId);
    if (startedEv) {
      const dueAsSet = tsMs(startedEv.eventTime) + tsMs(startedEv.timerStartedEventAttributes!.startToFireTimeout) - due;
      col.timerDue.push(dueAsSet);
      timerDue.set(id, dueAsSet);
      // The workflow task that set the timer: its duration is measured from the workflow's clock (the
      // task's start), the server starts the timer when the task completes.
      const at = events.indexOf(startedEv);
      const before = events.slice(0, at).reverse();
      const done = before.find((e) => e.workflowTaskCompletedEventAttributes);
      const began = before.find((e) => e.workflowTaskStartedEventAttributes);
      const sched = before.find((e) => e.workflowTaskScheduledEventAttributes);
      if (done && began) col.setterRan.push(tsMs(done.eventTime) - tsMs(began.eventTime));
      if (began && sched) col.setterQueued.push(tsMs(began.eventTime) - tsMs(sched.eventTime));
    }
    col.timerFired.push(tsMs(events[fired].eventTime) - due);
    const after = events.slice(fired);
    const at = (pred: (e: HistoryEvent) => unknown) => {
      const e = after.find(pred);
      return e ? tsMs(e.eventTime) - due : NaN;
    };
    const push = (k: string, v: number) => Number.isFinite(v) && col[k].push(v);
    push('workflowTaskStarted', at((e) => e.workflowTaskStartedEventAttributes));
    push('activityScheduled', at((e) => e.activityTaskScheduledEventAttributes));
    push('activityStarted', at((e) => e.activityTaskStartedEventAttributes));
    push('activityCompleted', at((e) => e.activityTaskCompletedEventAttributes));
  });
  if (r.errors.length) note(`lateness stages: ${r.errors.length} histories unreadable (${r.errors[0]})`);
  return { stages: Object.fromEntries(Object.entries(col).map(([k, v]) => [k, dist(v)])), timerDue };
}

interface IsolationResult {
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
}

async function isolation(b: Bench, withCampaign: boolean, expectedCampaignMs: number): Promise<IsolationResult> {
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
    const id = `${prefix}${i}`;
    const st = startsAt(i);
    const r = await api.request('POST', '/v1/bookings', {
      bookingId: id, customerId: `cust-${i % 97}`, carId: `car-${id}`, startsAt: new Date(st).toISOString(),
      endsAt: new Date(st + 2 * 3_600_000).toISOString(), amountCents: 4200, currency: 'EUR',
    });
    if (r.status !== 201) throw new Error(`POST /v1/bookings HTTP ${r.status}: ${r.text.slice(0, 200)}`);
    b.workflowIds.push(workflowIdForBooking(id));
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
  const where = { action: 'start', bookingId: { startsWith: prefix } };
  const deadline = windowStart + windowMs + 120_000;
  let started = 0;
  await sleep(Math.max(0, windowStart - Date.now()));
  for (;;) {
    started = await s.db.bookingEvent.count({ where });
    if (started >= created.ok || Date.now() > deadline) break;
    await sleep(500);
  }
  const campaign = campaignP ? await campaignP : undefined;
  const cpu = s.cpu.usage(c0, s.cpu.snap());
  if (started < created.ok) b.fail(`${label}: only ${started} of ${created.ok} bookings started`);
  const events = await s.db.bookingEvent.findMany({ where, select: { bookingId: true, scheduledAt: true, occurredAt: true } });
  const late: number[] = [];
  const during: number[] = [];
  for (const e of events) {
    if (!e.scheduledAt) continue;
    const l = e.occurredAt.getTime() - e.scheduledAt.getTime();
    late.push(l);
    if (campaign && e.scheduledAt.getTime() >= campaign.firstSentAt && e.scheduledAt.getTime() <= campaign.lastSentAt) during.push(l);
  }
  const st = opts.profile
    ? await latenessStages(s, Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, startsAt: startsAt(i) }))).catch((err: Error) => {
      note(`lateness stages unavailable: ${err.message}`);
      return undefined;
    })
    : undefined;
  const stages = st?.stages;
  const afterDue = st
    ? dist(events.filter((e) => e.scheduledAt && st.timerDue.has(e.bookingId))
      .map((e) => e.occurredAt.getTime() - e.scheduledAt!.getTime() - st.timerDue.get(e.bookingId)!))
    : undefined;
  const r: IsolationResult = {
    withCampaign, n: created.ok, started, windowMs, lateness: dist(late), duringSend: dist(during), over1s: late.filter((l) => l > 1000).length, campaign, cpu,
    stages, afterDue,
  };
  if (campaign) printCampaign(campaign);
  say(`  started ${started}/${created.ok}; lateness (booking_events.occurred_at - scheduled_at, action 'start'): ${fmtDist(r.lateness)}`);
  if (campaign) {
    say(`  of which scheduled while the campaign was sending (first..last sent_at): ${fmtDist(r.duringSend)}`);
    const covered = r.duringSend.n / Math.max(1, r.lateness.n);
    if (covered < 0.8) note(`WARNING: only ${(covered * 100).toFixed(0)} % of the starts fell inside the campaign's send phase`);
  }
  say(`  late by more than 1 s: ${r.over1s}; target p99 < 1 s: ${r.lateness.p99 < 1000 ? 'MET' : 'MISSED'}`);
  if (stages) {
    say(`  the workflow task that set each start timer (before the campaign): queued ${fmtDist(stages.setterQueued)}; ran ${fmtDist(stages.setterRan)}`);
    say('  from the booking workflows\' histories, lateness vs startsAt at each step:');
    say(`    timer due as set (TimerStarted + startToFireTimeout) ${fmtDist(stages.timerDue)}`);
    say(`    TimerFired                                            ${fmtDist(stages.timerFired)}`);
    say(`    WorkflowTaskStarted (the worker took the wake-up)      ${fmtDist(stages.workflowTaskStarted)}`);
    say(`    ActivityTaskScheduled (transition decided)            ${fmtDist(stages.activityScheduled)}`);
    say(`    ActivityTaskStarted (worker picked the write)         ${fmtDist(stages.activityStarted)}`);
    say(`    ActivityTaskCompleted (row written)                   ${fmtDist(stages.activityCompleted)}`);
    if (afterDue) say(`  lateness counted from the timer's due time as set (the part that happens at start time): ${fmtDist(afterDue)}`);
  }
  say(`  over the window ${fmtCpu(cpu)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------

async function terminateAll(s: Stack, ids: string[]): Promise<void> {
  const r = await runPool(ids.length, 32, async (i) => {
    try {
      await s.client.workflow.getHandle(ids[i]).terminate('benchmark finished');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) && !/already completed/i.test((err as Error).message)) throw err;
    }
  });
  note(`terminated ${r.ok} workflows${r.errors.length ? `, ${r.errors.length} errors: ${r.errors[0]}` : ''}`);
}

async function main(): Promise<number> {
  const opts = options();
  const t0 = performance.now();
  const tag = `bc${randomBytes(3).toString('hex')}`;
  const cpus = os.cpus();
  const idle = new CpuMeter({});
  let background = NaN;
  const w0 = performance.now();
  const quietUntil = Date.now() + opts.waitQuietMs;
  for (;;) {
    const i0 = idle.snap();
    await sleep(opts.waitQuietMs ? 5000 : 2000);
    background = idle.usage(i0, idle.snap()).machine;
    if (background < 0.3 || Date.now() >= quietUntil) break;
    note(`waiting for a quiet machine: ${background.toFixed(2)} cores busy`);
  }
  const waitedS = (performance.now() - w0) / 1000;
  if (background > 0.2) note(`WARNING: the machine is already busy (${background.toFixed(2)} of ${cpus.length} cores) before the benchmark starts; figures will be noisy`);
  note(`setting up (task queue prefix ${tag}) ...`);
  workerNodeArgs = opts.workerNodeArgs;
  const s = await startStack(opts, tag);
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
    cores: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGiB: round(os.totalmem() / 2 ** 30), node: process.version,
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
    if (opts.warmup > 0) {
      say(`\n== Warm-up (not counted): ${opts.warmup} recipients, ${settingsName(opts.configs[0] ?? opts.settings)} ==`);
      const pool = await makePool(s, 'warmup', opts.warmup);
      warm = await runCampaign(b, {
        label: 'warmup', settings: opts.configs[0] ?? opts.settings, audience: { userIds: Array.from({ length: opts.warmup }, (_, i) => userId(i + 1)) },
        expected: opts.warmup, poolId: pool.poolId, profile: false,
      });
      say(`  warm-up: ${warm.sent} in ${secs(warm.totalMs)} (${warm.perSec.toFixed(0)}/s)`);
      if (!opts.skipIsolation) {
        // The bookings worker too: its first workflow tasks load the workflow bundle.
        const api = await s.api(opts.settings);
        const far = Date.now() + 30 * 86_400_000;
        const r = await runPool(50, 8, async (i) => {
          const id = `${s.tag}-warm-${i}`;
          const res = await api.request('POST', '/v1/bookings', {
            bookingId: id, customerId: `cust-${i}`, carId: `car-${id}`, startsAt: new Date(far + i * 3_600_000).toISOString(),
            endsAt: new Date(far + (i + 2) * 3_600_000).toISOString(), amountCents: 4200, currency: 'EUR',
          });
          if (res.status !== 201) throw new Error(`POST /v1/bookings HTTP ${res.status}: ${res.text.slice(0, 200)}`);
          b.workflowIds.push(workflowIdForBooking(id));
        });
        if (r.errors.length) b.fail(`warm-up bookings: ${r.errors.length} failed (${r.errors[0]})`);
        await sleep(2000);
        say(`  warm-up: ${r.ok} bookings (starting in 30 days) through the API in ${secs(r.wallMs)}`);
      }
    }
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
    b.failures.push(`aborted: ${(err as Error).stack ?? err}`);
    note(`aborted: ${(err as Error).stack ?? err}`);
  }

  if (!s.ownTemporal && b.workflowIds.length) await terminateAll(s, b.workflowIds).catch((e) => b.failures.push(`terminate: ${e}`));
  await cleanupAll();
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
  say(`  total ${totalS.toFixed(0)} s; ${b.failures.length ? `FAILED:\n    ${b.failures.join('\n    ')}` : 'no failures'}`);

  const json = {
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
        firstPages: round(plans!.before[k].ms, 2), firstPagesRowsVisited: plans!.before[k].rowsVisited,
        afterAnalyze: round(plans!.after[k].ms, 2), afterAnalyzeRowsVisited: plans!.after[k].rowsVisited,
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
      stagesP99Ms: iso.stages && Object.fromEntries(Object.entries(iso.stages).map(([k, v]) => [k, round(v.p99)])),
      afterTimerDueMs: iso.afterDue && distJson(iso.afterDue),
      baseline: base && {
        latenessMs: distJson(base.lateness), over1s: base.over1s, cpu: cpuJson(base.cpu),
        stagesP99Ms: base.stages && Object.fromEntries(Object.entries(base.stages).map(([k, v]) => [k, round(v.p99)])),
        afterTimerDueMs: base.afterDue && distJson(base.afterDue),
      },
    },
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
