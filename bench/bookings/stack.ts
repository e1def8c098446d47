// bench/bookings.ts's stack: the services, a fresh database, the real workers (a child process by
// default), the express app driven over HTTP keep-alive, and the run's state (class Bench).
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { bookingInput, startBookingWorkflow, type BookingWorkflowConfig } from '../../services/bookings';
import { TemporalGateway } from '../../services/temporal';
import { campaignSettings } from '../../config/env';
import { workflowIdForBooking } from '../../domain/booking';
import { freePort } from '../../scripts/net';
import { startDevServer, type DevServer } from '../../scripts/temporal-cli';
import { CpuMeter, procStat, sleep, treeTicks } from '../common';
import { bookingBody, postBooking, type BookingBody } from '../harness/booking-starts';
import { BenchRun, note, type Cleanups } from '../harness/run';
import { bookingWorkflows, requestStats, startApi, startServices, type HttpApi, type Services } from '../harness/services';
import type { BenchWorkerConfig, BenchWorkers } from '../worker-process';
import type { Options } from './options';

export interface Stack extends Services {
  workflows: BookingWorkflowConfig;
  apiPort: number;
  /** The API's service token, for a driver with its own connections (the duplicate storm). */
  token: string;
  apiConnections: () => number;
  /** The API's error-level log lines (JSON), for explaining 5xx answers. */
  errorLog: string;
  driver: HttpApi;
  metricsPort: number;
  cpu: CpuMeter;
  workerPid?: number;
}

async function startWorkersChild(cfg: BenchWorkerConfig, cleanups: Cleanups): Promise<ChildProcess> {
  const file = path.join(__dirname, '..', 'worker-process.ts');
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
  cleanups.push(async () => {
    if (exited) return;
    child.send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exitP;
    clearTimeout(timer);
  });
  return child;
}

export async function startStack(opts: Options, tag: string, cleanups: Cleanups): Promise<Stack> {
  // The test harness's own code path: TEMPORAL_ADDRESS / DATABASE_URL if set, else throwaway servers.
  let fileServer: DevServer | undefined;
  if (opts.temporalDbFile && !process.env.TEMPORAL_ADDRESS) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-bench-temporal-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fileServer = await startDevServer({ port: await freePort(), headless: true, dbFile: path.join(dir, 'temporal.db'), log: note });
    cleanups.push(() => fileServer!.stop());
    process.env.TEMPORAL_ADDRESS = fileServer.address; // globalSetup then only checks the search attributes
  }
  const services = await startServices(cleanups, {
    poolSize: opts.apiPoolSize,
    ownTemporalStorage: `${fileServer ? 'SQLite FILE' : 'in-memory SQLite'}, journal_mode=WAL, synchronous=OFF`,
    ownServer: fileServer?.process,
  });
  const { address, namespace, db, client } = services;

  // Workers: same task queue prefix as the API, so an external server's other work never mixes in.
  const metricsPort = await freePort();
  const workerCfg: BenchWorkerConfig = {
    address, namespace, databaseUrl: services.databaseUrl, taskQueuePrefix: tag, poolSize: opts.workerPoolSize, metricsPort,
    workerOverrides: opts.workerOverrides,
  };
  let workerPid: number | undefined;
  if (opts.workers === 'child') {
    workerPid = (await startWorkersChild(workerCfg, cleanups)).pid;
  } else {
    const { runBenchWorkers } = await import('../worker-process');
    const w: BenchWorkers = await runBenchWorkers(workerCfg);
    cleanups.push(() => w.stop());
  }

  // The real express app (createApp, as api/main.ts builds it) on a local port.
  const token = `svc-${randomBytes(16).toString('hex')}`;
  const workflows = bookingWorkflows(opts.env, tag);
  // Every line is serialised at the chosen level (the production cost) and thrown away; errors are
  // also kept in a file so a 500 can be explained at the end (summarizeErrorLog()).
  const errorLog = path.join(os.tmpdir(), `keel-bench-api-errors-${tag}.log`);
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const level = levels.indexOf(opts.apiLogLevel) > levels.indexOf('error') ? 'error' : opts.apiLogLevel;
  const logger = pino(
    { level, name: 'keel-api' },
    pino.multistream([
      { level: level, stream: pino.destination({ dest: '/dev/null', sync: true }) },
      { level: 'error', stream: pino.destination({ dest: errorLog, sync: true }) },
    ]),
  );
  // As api/main.ts builds it, request statistics middleware included.
  const { api: driver, server } = await startApi(
    cleanups,
    opts.env,
    { db, client, logger, bodyLimit: opts.env.KEEL_BODY_LIMIT, workflows, campaigns: campaignSettings(opts.env), requestStats: requestStats(cleanups, db) },
    { token, sockets: opts.concurrency }, // one socket per load loop
  );
  let connections = 0;
  server.on('connection', () => connections++);

  const groups: Record<string, () => number> = {
    [opts.workers === 'child' ? 'api+driver' : 'api+driver+workers']: () => procStat(process.pid)?.ticks ?? 0,
  };
  if (workerPid) groups.workers = () => treeTicks(workerPid);
  return {
    ...services, workflows, apiPort: driver.port, token, apiConnections: () => connections, errorLog, driver, metricsPort,
    cpu: new CpuMeter({ ...groups, ...services.serverCpu }), workerPid,
  };
}

// ---------------------------------------------------------------------------------------------
// The workers' Prometheus endpoint (Core's metrics).

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

/** Each metric summed over its label sets. */
export async function scrape(port: number): Promise<Map<string, number>> {
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
export const WFT_S2S: Metric = ['temporal_workflow_task_schedule_to_start_latency_sum', 'temporal_workflow_task_schedule_to_start_latency_count'];
export const ACT_S2S: Metric = ['temporal_activity_schedule_to_start_latency_sum', 'temporal_activity_schedule_to_start_latency_count'];
export const ACT_EXEC: Metric = ['temporal_activity_execution_latency_sum', 'temporal_activity_execution_latency_count'];
type Metric = [sum: string, count: string];
const delta = (a: Map<string, number>, b: Map<string, number>, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
/** A latency metric's mean between two scrapes. */
export const meanOf = (a: Map<string, number>, b: Map<string, number>, [sum, count]: Metric) => {
  const c = delta(a, b, count);
  return c > 0 ? delta(a, b, sum) / c : NaN;
};

// ---------------------------------------------------------------------------------------------
// Bookings.

const FAR_START = Date.now() + 30 * 86_400_000; // nothing of these fires during the run

export function booking(id: string, i: number, startsAtMs = FAR_START + (i % 1000) * 3_600_000, durationMs = 2 * 3_600_000): BookingBody {
  return bookingBody(id, `cust-${i % 997}`, startsAtMs, durationMs);
}

export class Bench extends BenchRun {
  /** Workflow tasks the workers should have completed by now (first task of every started workflow). */
  expectedWft = 0;
  wftBase = 0;

  constructor(readonly s: Stack, readonly opts: Options) {
    super();
  }

  async viaApi(body: BookingBody): Promise<void> {
    this.workflowIds.push(await postBooking(this.s.driver, body));
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
