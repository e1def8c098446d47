// `npm run dev`: the whole Keel system in the foreground, for a laptop.
//
//   Temporal   TEMPORAL_ADDRESS if set (Keel's search attributes are registered there), otherwise a
//              `temporal server start-dev` on TEMPORAL_PORT / TEMPORAL_UI_PORT, state in .data/temporal.db
//   Database   DATABASE_URL if set, otherwise a project-local PostgreSQL server from the machine's own
//              binaries (Debian's postgresql package, installed when missing and running as root) with
//              its cluster in .data/postgres, on KEEL_DB_PORT (5433); only where PostgreSQL cannot be
//              had at all, embedded PGlite in .data/pglite (single session: fine for a look, not for
//              load). Migrations applied either way
//   API keys   KEEL_API_KEYS if set, otherwise one generated key per role, kept in .data/api-keys.json
//   Processes  the workers (`workers/main.ts`) and the API (`api/main.ts`) as child processes, their
//              output prefixed with [bookings] (booking transitions, alone in their process),
//              [notify] (campaigns and reminders), [ops] (incidents and housekeeping) and [api]
//
// Ctrl-C (or SIGTERM) stops everything in reverse order: API, worker, Temporal, database. Everything
// under .data (KEEL_DATA_DIR) survives, so bookings and their running workflows are there on the next
// start. If any part dies on its own, the rest is stopped and the exit code is 1.
//
// The script runs as two processes. The launcher (what the terminal starts) re-executes this file
// in a process group of its own and forwards signals to it. The reason: Ctrl-C sends SIGINT to the
// whole foreground process group, so without this every child (the Temporal server, the worker, the
// API) would get it at the same moment and the Temporal server could be gone while the worker is
// still draining. With it, only the launcher hears Ctrl-C and the stack stops in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Connection } from '@temporalio/client';
import { ROLES, parseApiKeys, type Role } from '../api/auth';
import { loadEnv, type Env } from '../config/env';
import { temporalSettings } from '../config/temporal';
import { writeDevDatabaseUrl } from '../config/dev-database';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded';
import { ensurePostgresInstalled, postgresCanUse, startPostgresServer, stopStalePostgres, type PostgresServer } from './postgres-server';
import { migrate } from '../db/migrate';
import { TASK_QUEUES, taskQueue, type TaskQueueName } from '../domain/task-queues';
import { isPortFree } from './net';
import { ensureSearchAttributes, resolveTemporalCli, startDevServer, type DevServer } from './temporal-cli';

const ROOT = path.resolve(__dirname, '..');
/** Set in the supervised (inner) process; the launcher never sets it for anything else. */
const SUPERVISED_FLAG = 'KEEL_DEV_SUPERVISED';
const DEFAULT_DB_PORT = 5433;
/** PGlite is a single backend session: more connections only queue, so small pools are enough. */
const EMBEDDED_POOL_SIZE = '5';

const STOP_TIMEOUT_MS = { api: 15_000, worker: 30_000 };

/**
 * The worker processes, as in production (docker-compose.yml, README "Production"). Task queues served
 * by one process share its event loop, so a CPU-heavy campaign page next to booking workflows would
 * delay every start (the frozen job server of the crisis): booking transitions run in a process that
 * hosts nothing else. Incidents and Keel's housekeeping (watchdog, dashboard reconciliation, log-level
 * windows) share the third, so the commander's checklist and the watchdog keep working when either
 * business worker is swamped or stopped (`kill -STOP <pid>` is a way to try it; `kill -CONT` resumes).
 */
const WORKER_PROCESSES: Array<{ tag: string; label: string; queues: TaskQueueName[]; metrics?: boolean }> = [
  { tag: 'bookings', label: 'bookings worker', queues: ['bookings'], metrics: true },
  { tag: 'notify', label: 'notifications worker', queues: ['notifications'] },
  { tag: 'ops', label: 'ops worker', queues: ['incidents', 'ops'] },
];
const READY_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------------------------------------
// Output: every line prefixed with where it comes from; children's pino JSON made readable on a TTY.

const tty = Boolean(process.stdout.isTTY);
const COLORS: Record<string, number> = { dev: 32, temporal: 33, api: 36, bookings: 31, notify: 35, ops: 34 };
const TAG_WIDTH = '[bookings]'.length;

function tag(name: string): string {
  const text = `[${name}]`.padEnd(TAG_WIDTH);
  return tty ? `\x1b[${COLORS[name] ?? 37}m${text}\x1b[0m` : text;
}

function emit(name: string, text: string): void {
  for (const line of text.replace(/\n+$/, '').split('\n')) process.stdout.write(`${tag(name)} ${line}\n`);
}

const log = (msg: string) => emit('dev', msg);

type Pretty = (line: string) => string;
/** pino-pretty (a devDependency) for children's JSON logs when a human watches; raw lines otherwise. */
function prettyPrinter(): Pretty | undefined {
  if (!tty || process.env.NODE_ENV === 'production') return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty');
    const format = prettyFactory({
      colorize: true,
      translateTime: 'HH:MM:ss.l',
      // pino-http's request lines as one line: "request completed GET /v1/bookings/x -> 200 (12 ms)".
      ignore: 'pid,hostname,name,req,res,responseTime',
      messageFormat: '{msg}{if req.method} {req.method} {req.url}{end}{if res.statusCode} -> {res.statusCode}{end}{if responseTime} ({responseTime} ms){end}',
    });
    return (line) => {
      if (!line.startsWith('{')) return line;
      try {
        return format(line);
      } catch {
        return line;
      }
    };
  } catch {
    return undefined;
  }
}

function fail(message: string): never {
  throw Object.assign(new Error(message), { expected: true });
}

function errorText(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: Array<{ message?: string }> };
  // Node's happy-eyeballs connect throws an AggregateError with an empty message.
  return e?.message || e?.errors?.map((x) => x.message).join('; ') || e?.code || String(err);
}

/** For printing: a URL without its password. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function shortPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// API keys: KEEL_API_KEYS, or one generated token per role persisted in .data/api-keys.json.

export interface DevApiKeys {
  /** The KEEL_API_KEYS value handed to the API. */
  spec: string;
  /** Token per role (those present). */
  tokens: Partial<Record<Role, string>>;
  source: 'environment' | 'file' | 'generated';
  file?: string;
}

export function devApiKeys(fromEnv: string | undefined, file: string): DevApiKeys {
  if (fromEnv) {
    parseApiKeys(fromEnv); // throws a precise message for a malformed value
    const tokens: Partial<Record<Role, string>> = {};
    for (const pair of fromEnv.split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = pair.indexOf(':');
      tokens[pair.slice(0, i) as Role] ??= pair.slice(i + 1);
    }
    return { spec: fromEnv, tokens, source: 'environment' };
  }
  let stored: Partial<Record<Role, unknown>> = {};
  let source: DevApiKeys['source'] = 'file';
  if (fs.existsSync(file)) {
    try {
      stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Record<Role, unknown>>;
    } catch (err) {
      fail(`${file} is not valid JSON (${(err as Error).message}); fix it or delete it to get new keys`);
    }
  }
  const tokens: Partial<Record<Role, string>> = {};
  let changed = false;
  for (const role of ROLES) {
    const token = stored[role];
    if (typeof token === 'string' && /^[A-Za-z0-9_-]{16,}$/.test(token)) {
      tokens[role] = token;
    } else {
      tokens[role] = `${role}-${randomBytes(20).toString('hex')}`;
      changed = true;
    }
  }
  if (changed) {
    source = Object.keys(stored).length ? 'file' : 'generated';
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  }
  const spec = ROLES.map((role) => `${role}:${tokens[role]}`).join(',');
  return { spec, tokens, source, file };
}

// ---------------------------------------------------------------------------------------------
// Child processes (worker, API).

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnChild(name: string, script: string, env: NodeJS.ProcessEnv, pretty: Pretty | undefined): Child {
  // `node --import tsx` runs the TypeScript in this very process (the tsx CLI would add a relay
  // process), so the pid we signal is the pid that serves.
  const proc = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onLine = (line: string) => emit(name, pretty ? pretty(line) : line);
  readline.createInterface({ input: proc.stdout }).on('line', onLine);
  readline.createInterface({ input: proc.stderr }).on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (err) => {
      onLine(`failed to start: ${err.message}`);
      resolve({ code: 1, signal: null });
    });
  });
  return { name, proc, exited };
}

async function stopChild(child: Child, timeoutMs: number): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    log(`${child.name} did not stop within ${timeoutMs / 1000} s; killing it`);
    child.proc.kill('SIGKILL');
  }, timeoutMs);
  await child.exited;
  clearTimeout(timer);
}

function describeExit({ code, signal }: { code: number | null; signal: NodeJS.Signals | null }): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

// ---------------------------------------------------------------------------------------------
// Readiness.

/** Resolves once GET /readyz answers 200; rejects at the deadline with the last answer. */
async function waitForApi(baseUrl: string, isAborted: () => boolean): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: string; // every pass of the loop sets it before the deadline check reads it
  while (!isAborted()) {
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(3_000) });
      if (res.ok) return;
      last = `HTTP ${res.status} ${await res.text()}`;
    } catch (err) {
      last = errorText((err as { cause?: unknown }).cause ?? err);
    }
    if (Date.now() > deadline) fail(`the API at ${baseUrl} was not ready after ${READY_TIMEOUT_MS / 1000} s (last /readyz: ${last})`);
    await sleep(300);
  }
}

/**
 * Resolves once the worker process with this pid polls every task queue it hosts. Its identity is
 * the SDK default `<pid>@<hostname>`, which tells it apart from pollers a previous run left behind.
 */
async function waitForWorker(env: Env, pid: number, isAborted: () => boolean): Promise<void> {
  const names = env.KEEL_WORKERS.split(',').map((s) => s.trim()).filter((n): n is TaskQueueName => TASK_QUEUES.includes(n as TaskQueueName));
  const queues = names.map((n) => taskQueue(n, env.KEEL_TASK_QUEUE_PREFIX));
  const t = temporalSettings(env);
  const connection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey, connectTimeout: '10s' });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const waiting = new Set(queues);
    while (waiting.size && !isAborted()) {
      for (const name of [...waiting]) {
        // Activity pollers: both the bookings and the notifications worker run activities.
        const res = await connection.workflowService.describeTaskQueue({
          namespace: t.namespace,
          taskQueue: { name },
          taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
        });
        if (res.pollers?.some((p) => p.identity?.startsWith(`${pid}@`))) waiting.delete(name);
      }
      if (!waiting.size) return;
      if (Date.now() > deadline) fail(`the worker was not polling ${[...waiting].join(', ')} after ${READY_TIMEOUT_MS / 1000} s`);
      await sleep(300);
    }
  } finally {
    await connection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The stack (supervised process).

function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'dev.pid');
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    if (pid > 0 && pid !== process.pid) {
      if (isAlive(pid)) fail(`another \`npm run dev\` (pid ${pid}) is using ${dataDir}; stop it first, or set KEEL_DATA_DIR to another directory`);
    }
  } catch (err) {
    if ((err as { expected?: boolean }).expected) throw err;
  }
  fs.writeFileSync(file, String(process.pid));
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file);
    } catch {
      // already gone
    }
  };
}

/** KEEL_DB_PORT (KEEL_PGLITE_PORT, its older name, still works). */
function dbPortFromEnv(): number {
  const name = process.env.KEEL_DB_PORT ? 'KEEL_DB_PORT' : 'KEEL_PGLITE_PORT';
  const raw = process.env[name];
  if (raw === undefined || raw === '') return DEFAULT_DB_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name} must be a TCP port (1-65535), got "${raw}"`);
  return port;
}

/**
 * Where the local cluster lives: .data/postgres, unless the postgres system user (root runs the server
 * as postgres) cannot reach it, e.g. a checkout under /root; then a directory of its own under /var/lib.
 */
function localClusterDir(dataDir: string): string {
  const preferred = path.join(dataDir, 'postgres');
  if (postgresCanUse(preferred)) return preferred;
  const id = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join('/var/lib/keel', `postgres-${id}`);
}

async function runStack(): Promise<void> {
  let env: Env;
  try {
    env = loadEnv();
  } catch (err) {
    process.stderr.write(`keel-dev: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const startedAt = Date.now();
  const pretty = prettyPrinter();
  const dataDir = path.resolve(ROOT, env.KEEL_DATA_DIR);
  const externalTemporal = Boolean(env.TEMPORAL_ADDRESS);
  const externalDb = Boolean(env.DATABASE_URL);

  let temporal: DevServer | undefined;
  let database: EmbeddedPostgres | PostgresServer | undefined;
  /** What serves the database when DATABASE_URL is unset, for the banner. */
  let localDb: string | undefined;
  /** The worker processes, in start order (WORKER_PROCESSES); stopped in reverse. */
  const workers: Array<{ label: string; child: Child }> = [];
  let api: Child | undefined;
  let unlock: (() => void) | undefined;
  let stopping: Promise<void> | undefined;
  /** Database and Temporal starting up: a stop meanwhile lets them finish first, to close them cleanly. */
  let starting: Promise<unknown> | undefined;

  const shutdown = (code: number, reason: string): Promise<void> =>
    (stopping ??= (async () => {
      log(reason);
      if (starting) await Promise.race([starting, sleep(20_000)]);
      const steps: Array<[string, (() => Promise<void>) | undefined]> = [
        ['API', api && (() => stopChild(api!, STOP_TIMEOUT_MS.api))],
        ...[...workers].reverse().map(({ label, child }): [string, () => Promise<void>] => [label, () => stopChild(child, STOP_TIMEOUT_MS.worker)]),
        ['Temporal dev server', temporal && (() => temporal!.stop())],
        ['local database', database && (() => database!.stop())],
      ];
      for (const [name, stop] of steps) {
        if (!stop) continue;
        log(`stopping ${name} ...`);
        try {
          await stop();
        } catch (err) {
          log(`stopping ${name} failed: ${errorText(err)}`);
          code = code || 1;
        }
      }
      unlock?.();
      log(code === 0 && (database || temporal) ? `stopped; state is kept in ${shortPath(dataDir)}` : 'stopped');
      process.exit(code);
    })());

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void shutdown(0, `received ${signal}, stopping everything`));
  }
  // The launcher went away without a signal reaching us (e.g. it was killed): do not linger.
  process.on('disconnect', () => void shutdown(1, 'the launcher process is gone, stopping everything'));
  process.on('uncaughtException', (err) => void shutdown(1, `internal error: ${err.stack ?? err.message}`));
  process.on('unhandledRejection', (err) => void shutdown(1, `internal error: ${errorText(err)}`));
  const aborted = () => stopping !== undefined;

  /** Watches a process that must live as long as the stack. */
  const supervise = (name: string, proc: ChildProcess) => {
    proc.once('exit', (code, signal) => {
      if (aborted()) return;
      void shutdown(1, `the ${name} exited unexpectedly (${describeExit({ code, signal })}); its last output is above. Stopping everything.`);
    });
  };

  try {
    fs.mkdirSync(dataDir, { recursive: true });
    unlock = lockDataDir(dataDir);

    // Fail fast, before the slow parts, when a port we are going to listen on is taken.
    const dbPort = externalDb ? 0 : dbPortFromEnv();
    const bins = externalDb ? undefined : ensurePostgresInstalled(log);
    const clusterDir = bins ? localClusterDir(dataDir) : undefined;
    // A server left running by a run that was killed outright would hold the port: stop it first.
    if (bins && clusterDir && (await stopStalePostgres(bins, clusterDir))) log(`stopped a PostgreSQL server an earlier run left in ${shortPath(clusterDir)}`);
    const ports: Array<[number, string]> = [[env.PORT, 'API (PORT)']];
    if (!externalTemporal) ports.push([env.TEMPORAL_PORT, 'Temporal (TEMPORAL_PORT)'], [env.TEMPORAL_UI_PORT, 'Temporal Web UI (TEMPORAL_UI_PORT)']);
    if (!externalDb) ports.push([dbPort, 'local database (KEEL_DB_PORT)']);
    for (const [port, what] of ports) {
      if (port !== 0 && !(await isPortFree(port))) {
        fail(`port ${port} for the ${what} is already in use; stop what uses it or choose another port with that variable`);
      }
    }

    const keys = devApiKeys(env.KEEL_API_KEYS, path.join(dataDir, 'api-keys.json'));

    // Database and Temporal are independent: start them side by side.
    const startDatabase = async (): Promise<string> => {
      let url = env.DATABASE_URL;
      if (!url) {
        if (bins && clusterDir) {
          database = await startPostgresServer({ bins, dataDir: clusterDir, port: dbPort, durable: true, log });
          localDb = `local PostgreSQL, cluster in ${shortPath(clusterDir)}`;
        } else {
          log('WARNING: no PostgreSQL server binaries here and none could be installed; falling back to PGlite, ' +
            'a single-session WebAssembly PostgreSQL: fine for a look, NOT for load (campaigns, benchmarks). ' +
            'Install PostgreSQL (apt-get install postgresql) or set DATABASE_URL.');
          database = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pglite'), port: dbPort, host: '127.0.0.1', log, maxConnections: 40 });
          localDb = `embedded PGlite in ${shortPath(path.join(dataDir, 'pglite'))}`;
        }
        url = database.url;
        // So `npm run seed`, `npm run playbook` etc. find this database without DATABASE_URL.
        writeDevDatabaseUrl(dataDir, url);
      }
      try {
        const { applied } = await migrate(url, { log });
        if (applied.length) log(`database migrated (${applied.length} migration(s) applied)`);
      } catch (err) {
        fail(`cannot migrate the database at ${maskUrl(url)}: ${errorText(err)}`);
      }
      return url;
    };
    const startTemporal = async (): Promise<string> => {
      if (env.TEMPORAL_ADDRESS) {
        const t = temporalSettings(env);
        if (t.tls || t.apiKey) {
          log(`using Temporal at ${t.address} (TLS); register Keel's search attributes there once, as README.md shows`);
        } else {
          try {
            const added = await ensureSearchAttributes(t.address, t.namespace, { log });
            log(`using Temporal at ${t.address}${added.length ? ` (registered ${added.join(', ')})` : ''}`);
          } catch (err) {
            fail(`cannot use Temporal at ${t.address} (TEMPORAL_ADDRESS): ${errorText(err)}`);
          }
        }
        return t.address;
      }
      const cli = await resolveTemporalCli({ install: true, log });
      log(`starting the Temporal dev server (${shortPath(cli)}) ...`);
      temporal = await startDevServer({
        cli,
        port: env.TEMPORAL_PORT,
        uiPort: env.TEMPORAL_UI_PORT,
        dbFile: path.join(dataDir, 'temporal.db'),
        namespace: env.TEMPORAL_NAMESPACE,
        log,
      });
      supervise('Temporal dev server', temporal.process);
      return temporal.address;
    };
    const startingBoth = Promise.allSettled([startDatabase(), startTemporal()]);
    starting = startingBoth;
    const [db, tmp] = await startingBoth;
    starting = undefined;
    if (db.status === 'rejected') throw db.reason;
    if (tmp.status === 'rejected') throw tmp.reason;
    const databaseUrl = db.value;
    const temporalAddress = tmp.value;
    if (aborted()) return;

    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE,
      KEEL_API_KEYS: keys.spec,
      KEEL_DATA_DIR: dataDir,
      PORT: String(env.PORT),
    };
    delete childEnv[SUPERVISED_FLAG];
    // One scrape of the API's /metrics shows the worker's metrics (Keel's and the Temporal SDK's) too.
    if (!process.env.KEEL_METRICS_SCRAPE_URLS && env.KEEL_WORKER_METRICS_PORT > 0) {
      childEnv.KEEL_METRICS_SCRAPE_URLS = `http://127.0.0.1:${env.KEEL_WORKER_METRICS_PORT}/metrics`;
    }
    if (localDb?.startsWith('embedded PGlite') && !process.env.DATABASE_POOL_SIZE) childEnv.DATABASE_POOL_SIZE = EMBEDDED_POOL_SIZE;
    const resolved = loadEnv(childEnv);

    // One process per worker role (WORKER_PROCESSES), each serving the hosted queues of its role.
    const hosted = resolved.KEEL_WORKERS.split(',').map((s) => s.trim()).filter(Boolean);
    for (const role of WORKER_PROCESSES) {
      const queues = role.queues.filter((q) => hosted.includes(q));
      if (!queues.length) continue;
      // Only the bookings process keeps the metrics ports the API's /metrics appends: two processes
      // cannot bind them, and transitions are what matters most.
      const roleEnv = { ...childEnv, KEEL_WORKERS: queues.join(','), ...(role.metrics ? {} : { KEEL_WORKER_METRICS_PORT: '0' }) };
      log(`starting the ${role.label} (${queues.join(', ')}) ...`);
      const child = spawnChild(role.tag, 'workers/main.ts', roleEnv, pretty);
      workers.push({ label: role.label, child });
      supervise(role.label, child.proc);
      await waitForWorker(loadEnv(roleEnv), child.proc.pid!, aborted);
      if (aborted()) return;
    }

    log('starting the API ...');
    api = spawnChild('api', 'api/main.ts', childEnv, pretty);
    supervise('API', api.proc);
    const probeHost = ['0.0.0.0', '::', ''].includes(env.HOST) ? '127.0.0.1' : env.HOST;
    await waitForApi(`http://${probeHost.includes(':') ? `[${probeHost}]` : probeHost}:${env.PORT}`, aborted);
    if (aborted()) return;

    const processes = [...workers.map((w) => `${w.label} pid ${w.child.proc.pid}`), api && `API pid ${api.proc.pid}`];
    printBanner({ env, dataDir, keys, temporalAddress, databaseUrl, localDb, devServer: temporal, processes: processes.filter(Boolean).join(', ') });
    log(`ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
  } catch (err) {
    const message = (err as { expected?: boolean }).expected ? (err as Error).message : errorText(err);
    await shutdown(1, `cannot start: ${message}`);
  }
}

function printBanner(o: {
  env: Env;
  dataDir: string;
  keys: DevApiKeys;
  temporalAddress: string;
  databaseUrl: string;
  /** Set when this script serves the database (DATABASE_URL unset). */
  localDb?: string;
  processes?: string;
  devServer?: DevServer;
}): void {
  const { env, keys } = o;
  const apiUrl = `http://localhost:${env.PORT}`;
  const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
  const show = (token: string | undefined) =>
    !token ? undefined : keys.source === 'environment' ? `${token.slice(0, 4)}...` : token;
  const service = keys.source === 'environment' ? '<your service key>' : keys.tokens.service;
  const viewer = keys.source === 'environment' ? '<your viewer key>' : keys.tokens.viewer;

  // A booking starting in two minutes, so the CONFIRMED -> ONGOING transition is watchable.
  const at = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const bookingId = `demo-${Date.now().toString(36)}`;
  const body = JSON.stringify({
    bookingId,
    customerId: 'customer-42',
    carId: `car-${randomBytes(3).toString('hex')}`,
    startsAt: at(2 * 60_000),
    endsAt: at(62 * 60_000),
    amountCents: 4500,
    currency: 'EUR',
  });

  const lines = [
    '',
    bold('Keel is running'),
    `  API              ${apiUrl}   (OpenAPI: ${apiUrl}/v1/openapi.json, health: ${apiUrl}/readyz)`,
    `  Temporal Web UI  ${o.devServer ? `http://localhost:${env.TEMPORAL_UI_PORT}` : "your Temporal server's own UI"}`,
    `  Temporal         ${o.temporalAddress}, namespace ${env.TEMPORAL_NAMESPACE}` +
      (o.devServer ? ` (dev server, state in ${shortPath(path.join(o.dataDir, 'temporal.db'))})` : ' (TEMPORAL_ADDRESS)'),
    `  Database         ${o.localDb ? `${o.localDb}, ` : ''}${maskUrl(o.databaseUrl)}`,
    ...(o.processes ? [`  Processes        ${o.processes}`] : []),
    `  API keys         ${keys.source === 'environment' ? 'from KEEL_API_KEYS' : `kept in ${shortPath(keys.file!)} (KEEL_API_KEYS overrides)`}`,
    ...ROLES.filter((r) => keys.tokens[r]).map((r) => `    ${r.padEnd(10)} ${show(keys.tokens[r])}`),
    '',
    bold('Try it'),
    `  curl -s -X POST ${apiUrl}/v1/bookings \\`,
    `    -H 'Authorization: Bearer ${service}' -H 'Content-Type: application/json' \\`,
    `    -d '${body}'`,
    `  curl -s ${apiUrl}/v1/bookings/${bookingId} -H 'Authorization: Bearer ${viewer}'`,
    '',
    `  Its workflow is booking-${bookingId}` + (o.devServer ? ` in the Web UI, e.g. query: BookingStatus = "CONFIRMED"` : ''),
    '',
    o.localDb || o.devServer
      ? `Press Ctrl-C to stop everything; state stays in ${shortPath(o.dataDir)}.`
      : 'Press Ctrl-C to stop the workers and the API.',
    '',
  ];
  emit('dev', lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// The launcher: runs the stack in its own process group and forwards signals to it.

/** Parent pid of `pid`, from /proc (Linux only; undefined elsewhere). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces or parentheses, so count from the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

/**
 * The processes between the terminal and this launcher that `npm run dev` adds (npm, `sh -c`, the tsx
 * CLI), or just our parent when not started through npm. `kill <npm pid>` makes npm exit without
 * signalling its script, which would orphan the whole stack; watching these catches that.
 */
function launchAncestors(): number[] {
  const chain: number[] = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    chain.push(pid);
    if (/^npm(\s|$)|\/npm-cli\.js\b/.test(commandOf(pid))) return chain; // npm titles itself "npm run dev"
    pid = parentOf(pid) ?? 0;
  }
  return [process.ppid];
}

/** An exited process its parent has not reaped yet still answers kill(pid, 0). */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function runLauncher(): void {
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    detached: true, // own process group: a terminal's Ctrl-C reaches only this launcher
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [SUPERVISED_FLAG]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => forward(signal));
  const ancestors = launchAncestors().map((pid) => ({ pid, command: commandOf(pid) || 'the parent process' }));
  const watchdog = setInterval(() => {
    const gone = ancestors.find(({ pid }) => !isAlive(pid) || isZombie(pid));
    if (gone === undefined) return;
    clearInterval(watchdog);
    process.stdout.write(`${tag('dev')} \`${gone.command}\` (pid ${gone.pid}) exited without stopping us; stopping everything\n`);
    forward('SIGTERM');
  }, 1_000);
  watchdog.unref();
  child.once('error', (err) => {
    process.stderr.write(`keel-dev: cannot start: ${err.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    process.exit(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 1));
  });
}

if (require.main === module) {
  if (process.env[SUPERVISED_FLAG]) void runStack();
  else runLauncher();
}
