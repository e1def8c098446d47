// bench/campaigns.ts's stack: the services, a fresh database, one express app per campaign setting, the
// worker processes (`node --import tsx workers/main.ts`, as the kill test and production run them), the
// users and promo pools, and the run's state (class Bench).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createPromoPool } from '../../db/promo-store';
import { upsertUsers, type UserInput } from '../../db/user-store';
import type { CampaignTemplate } from '../../domain/campaign';
import { taskQueue, type TaskQueueName } from '../../domain/task-queues';
import type { CampaignSettings } from '../../workflows/campaign';
import { CpuMeter, procStat, secs, sleep, treeTicks } from '../common';
import { BenchRun, note, type Cleanups } from '../harness/run';
import { bookingWorkflows, requestStats, startApi, startServices, type HttpApi, type Services } from '../harness/services';
import { settingsName, type Options, type Settings } from './options';

const ROOT = path.resolve(__dirname, '..', '..');

interface WorkerProc {
  kind: TaskQueueName;
  pid: number;
  logFile: string;
  extraEnv: Record<string, string>;
  exited: boolean;
  stop(): Promise<void>;
}

export interface Stack extends Services {
  tag: string;
  token: string;
  logDir: string;
  workers: Partial<Record<TaskQueueName, WorkerProc>>;
  /** Extra node flags for the worker processes (--worker-node-args). */
  workerNodeArgs: string[];
  /** PostgreSQL's server log (own cluster only): auto_explain writes the plans of slow statements there. */
  pgLog?: string;
  api(settings: Settings): Promise<HttpApi>;
  cpu: CpuMeter;
  cleanups: Cleanups;
}

export async function startStack(opts: Options, tag: string, cleanups: Cleanups): Promise<Stack> {
  const services = await startServices(cleanups, { poolSize: opts.env.DATABASE_POOL_SIZE, ownTemporalStorage: 'in-memory SQLite' });
  const { db, client, dbName } = services;
  let pgLog: string | undefined;
  if (services.pgDataDir && opts.profile) {
    // Every session of this database (the workers' too, which connect later) logs the plan of any
    // statement slower than 1 s. Plans only (log_analyze off): no timing overhead on the fast ones.
    await db.$executeRawUnsafe(`ALTER DATABASE "${dbName}" SET session_preload_libraries = 'auto_explain'`);
    await db.$executeRawUnsafe(`ALTER DATABASE "${dbName}" SET auto_explain.log_min_duration = '1s'`);
    pgLog = path.join(services.pgDataDir, 'server.log');
  }

  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-campaigns-'));
  if (!opts.keepLogs) cleanups.push(() => fs.rmSync(logDir, { recursive: true, force: true }));

  // The real express app (createApp, as api/main.ts builds it), one per campaign setting: the settings
  // are what the API hands the workflow (KEEL_CAMPAIGN_PAGE_SIZE / _CONCURRENCY in production).
  const token = `svc-${randomBytes(16).toString('hex')}`;
  const logger = pino({ level: 'info', name: 'keel-api' }, pino.destination({ dest: '/dev/null', sync: true }));
  const stats = requestStats(cleanups, db);
  const apis = new Map<string, Promise<HttpApi>>();
  const api = (settings: Settings): Promise<HttpApi> => {
    const key = settingsName(settings);
    let p = apis.get(key);
    if (!p) {
      const campaigns: CampaignSettings = {
        pageSize: settings.pageSize, concurrency: settings.concurrency,
        pagesPerRun: opts.env.KEEL_CAMPAIGN_PAGES_PER_RUN, quietHours: opts.env.KEEL_QUIET_HOURS,
      };
      p = startApi(
        cleanups,
        opts.env,
        // The rate campaign's audience is a list of user ids (R x S of them): more than the 100 kB default.
        { db, client, logger, bodyLimit: '10mb', workflows: bookingWorkflows(opts.env, tag), campaigns, requestStats: stats },
        { token, sockets: 32 },
      ).then((a) => a.api);
      apis.set(key, p);
    }
    return p;
  };

  const s: Stack = {
    ...services, tag, token, logDir, workers: {}, workerNodeArgs: opts.workerNodeArgs, api, pgLog, cpu: new CpuMeter({}), cleanups,
  };
  const groups: Record<string, () => number> = {
    'bench+api': () => procStat(process.pid)?.ticks ?? 0,
    'worker:notifications': () => treeTicks(s.workers.notifications?.pid),
  };
  if (!opts.skipIsolation) groups['worker:bookings'] = () => treeTicks(s.workers.bookings?.pid);
  s.cpu = new CpuMeter({ ...groups, ...services.serverCpu });
  return s;
}

// ---------------------------------------------------------------------------------------------
// Worker processes.

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

export async function startWorker(s: Stack, kind: TaskQueueName, poolSize: number, extraEnv: Record<string, string> = {}): Promise<WorkerProc> {
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
  const child: ChildProcess = spawn(process.execPath, [...s.workerNodeArgs, '--import', 'tsx', 'workers/main.ts'], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
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
  s.cleanups.push(() => w.stop());
  const t0 = performance.now();
  await waitForPollers(s, kind, w.pid, () => w.exited, logFile);
  note(`worker process ${kind} (pid ${w.pid}${Object.keys(extraEnv).length ? `, ${JSON.stringify(extraEnv)}` : ''}) polling after ${secs(performance.now() - t0)}`);
  return w;
}

export async function restartWorker(s: Stack, kind: TaskQueueName, poolSize: number, extraEnv: Record<string, string> = {}): Promise<void> {
  await s.workers[kind]?.stop();
  s.workers[kind] = await startWorker(s, kind, poolSize, extraEnv);
}

// ---------------------------------------------------------------------------------------------
// Data: users, promo pools.

const FIRST_NAMES = ['Ada', 'Max', 'Lea', 'Tom', 'Mia', 'Ben', 'Eva', 'Jan', 'Zoe', 'Noah', 'Lina', 'Paul'];
export const userId = (i: number) => `u${String(i).padStart(7, '0')}`;

export async function insertUsers(s: Stack, n: number): Promise<number> {
  const t0 = performance.now();
  const users: UserInput[] = Array.from({ length: n }, (_, i) => ({
    userId: userId(i + 1), email: `${userId(i + 1)}@example.test`, firstName: FIRST_NAMES[i % FIRST_NAMES.length], timezone: 'Europe/Paris', locale: 'fr-FR',
  }));
  await upsertUsers(s.db, users);
  return performance.now() - t0;
}

export async function makePool(s: Stack, label: string, n: number): Promise<{ poolId: string; ms: number }> {
  const t0 = performance.now();
  const codes = Array.from({ length: n }, (_, i) => `${label.toUpperCase()}-${String(i).padStart(7, '0')}`);
  const r = await createPromoPool(s.db, { idempotencyKey: `${s.tag}-${label}`, name: `bench ${label}`, codes });
  if (r.kind !== 'created') throw new Error(`promo pool ${label}: ${r.kind}`);
  return { poolId: r.pool.poolId, ms: performance.now() - t0 };
}

export const PROMO_TEMPLATE: CampaignTemplate = { subject: 'A ride on us, {{firstName}}', body: 'Hi {{firstName}}, your code is {{promoCode}}. Drive safe!' };
export const PLAIN_TEMPLATE: CampaignTemplate = { subject: 'News for you, {{firstName}}', body: 'Hi {{firstName}}, new cars near you this week.' };

export class Bench extends BenchRun {
  constructor(readonly s: Stack, readonly opts: Options) {
    super();
  }
  fail(what: string): void {
    this.failures.push(what);
    note(`FAILURE: ${what}`);
  }
}
