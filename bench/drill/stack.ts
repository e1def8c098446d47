// The drill's stack: the services through the benchmark harness (own Temporal dev server and PostgreSQL,
// or TEMPORAL_ADDRESS / DATABASE_URL), a fresh database, a TCP proxy the drill owns in front of it (Keel's
// processes connect through it, so the drill can make the database unreachable to them), the three worker
// processes as `npm run dev` runs them (KEEL_WORKERS=bookings | notifications | incidents,ops: the ops one
// creates the watchdog schedule) and two API processes (`api/main.ts`), all child processes it can kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { taskQueue, type TaskQueueName } from '../../domain/task-queues';
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy';
import { WATCHDOG_SCHEDULE_ID, scheduleDefinitions } from '../../workers/schedules';
import { sleep } from '../common';
import { note, type Cleanups } from '../harness/run';
import { HttpApi, startServices, type Services } from '../harness/services';

const ROOT = path.resolve(__dirname, '..', '..');

export interface KeelProcess {
  name: string;
  pid: number;
  logFile: string;
  exited: boolean;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface DrillStackOptions {
  /** KEEL_WATCHDOG_GRACE / _CAMPAIGN_STALL for the drill's processes (ms). */
  watchdogGraceMs: number;
  campaignStallMs: number;
  keepLogs: boolean;
}

export interface DrillStack extends Services {
  tag: string;
  token: string;
  logDir: string;
  proxy: TcpProxy;
  /** The database as Keel's processes see it: through the proxy. */
  keelDatabaseUrl: string;
  apis: HttpApi[];
  workers: Record<string, KeelProcess>;
  watchdogScheduleId: string;
  startWorker(kinds: string): Promise<KeelProcess>;
  cleanups: Cleanups;
}

function logTail(file: string, chars = 3000): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-chars);
  } catch {
    return '';
  }
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function startDrillStack(o: DrillStackOptions, cleanups: Cleanups): Promise<DrillStack> {
  const services = await startServices(cleanups, { poolSize: 10, ownTemporalStorage: 'in-memory SQLite' });
  const target = new URL(services.databaseUrl);
  const proxy = await startTcpProxy(target.hostname === 'localhost' ? '127.0.0.1' : target.hostname, Number(target.port || 5432));
  cleanups.push(() => proxy.close());
  const tag = `drill${randomBytes(3).toString('hex')}`;
  // Runs after the workers stopped (last-in first-out): the ops worker created these schedules.
  cleanups.push(async () => {
    for (const d of scheduleDefinitions(tag)) await services.client.schedule.getHandle(d.options.scheduleId).delete().catch(() => undefined);
  });
  const keelUrl = new URL(services.databaseUrl);
  keelUrl.hostname = '127.0.0.1';
  keelUrl.port = String(proxy.port);
  const token = `svc-${randomBytes(16).toString('hex')}`;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-drill-'));
  if (!o.keepLogs) cleanups.push(() => fs.rmSync(logDir, { recursive: true, force: true }));

  const baseEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The outbox provider (recorded sends) and the default campaign settings, whatever the caller's shell says.
    for (const k of Object.keys(env)) if (/^KEEL_(RATE_LIMIT|PROVIDER|CAMPAIGN)_/.test(k)) delete env[k];
    return Object.assign(env, {
      DATABASE_URL: keelUrl.toString(),
      DATABASE_POOL_SIZE: '10',
      TEMPORAL_ADDRESS: services.address,
      TEMPORAL_NAMESPACE: services.namespace,
      KEEL_TASK_QUEUE_PREFIX: tag,
      KEEL_API_KEYS: `service:${token}`,
      KEEL_WATCHDOG_GRACE: `${o.watchdogGraceMs}ms`,
      KEEL_WATCHDOG_CAMPAIGN_STALL: `${o.campaignStallMs}ms`,
      KEEL_WATCHDOG_MAX_ATTEMPTS: '3',
      KEEL_WATCHDOG_DRILL: '1',
      KEEL_WORKER_METRICS_PORT: '0',
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
    });
  };

  const spawnKeel = (name: string, script: string, env: NodeJS.ProcessEnv): KeelProcess => {
    const logFile = path.join(logDir, `${name.replace(/,/g, '+')}-${Date.now()}.log`);
    const fd = fs.openSync(logFile, 'a');
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const exit = new Promise<void>((r) => child.once('exit', () => r()));
    const p: KeelProcess = {
      name, pid: child.pid!, logFile, exited: false,
      kill: async (signal) => {
        if (p.exited) return;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exit;
        clearTimeout(timer);
      },
    };
    void exit.then(() => (p.exited = true));
    cleanups.push(() => p.kill('SIGTERM'));
    return p;
  };

  const waitPolling = async (p: KeelProcess, kinds: TaskQueueName[]) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (p.exited) throw new Error(`${p.name} exited before it was polling:\n${logTail(p.logFile)}`);
      let ready = true;
      for (const kind of kinds) {
        for (const taskQueueType of [1, 2] as const) {
          const r = await services.client.workflowService.describeTaskQueue({ namespace: services.namespace, taskQueue: { name: taskQueue(kind, tag), kind: 1 }, taskQueueType });
          if (!(r.pollers ?? []).some((x) => (x.identity ?? '').startsWith(`${p.pid}@`))) ready = false;
        }
      }
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`${p.name} not polling within 120 s:\n${logTail(p.logFile)}`);
      await sleep(250);
    }
  };

  const workers: Record<string, KeelProcess> = {};
  const startWorker = async (kinds: string): Promise<KeelProcess> => {
    const p = spawnKeel(`worker-${kinds}`, 'workers/main.ts', { ...baseEnv(), KEEL_WORKERS: kinds });
    workers[kinds] = p;
    await waitPolling(p, kinds.split(',') as TaskQueueName[]);
    note(`worker process ${kinds} (pid ${p.pid}) polling`);
    return p;
  };

  const startApiProcess = async (i: number): Promise<HttpApi> => {
    const port = await freePort();
    const p = spawnKeel(`api-${i}`, 'api/main.ts', { ...baseEnv(), PORT: String(port), HOST: '127.0.0.1' });
    const api = new HttpApi(port, token, 64);
    cleanups.push(() => api.close());
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (p.exited) throw new Error(`API ${i} exited:\n${logTail(p.logFile)}`);
      const ok = await api.request('GET', '/healthz').then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`API ${i} not answering within 120 s:\n${logTail(p.logFile)}`);
      await sleep(250);
    }
    note(`API process ${i} (pid ${p.pid}) on 127.0.0.1:${port}`);
    return api;
  };

  await Promise.all([startWorker('bookings'), startWorker('notifications'), startWorker('incidents,ops')]);
  const apis = await Promise.all([startApiProcess(1), startApiProcess(2)]);
  return {
    ...services, tag, token, logDir, proxy, keelDatabaseUrl: keelUrl.toString(), apis, workers,
    watchdogScheduleId: `${tag}-${WATCHDOG_SCHEDULE_ID}`, startWorker, cleanups,
  };
}
