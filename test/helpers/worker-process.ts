// A real worker process (workers/main.ts through tsx) for tests that need what only a separate
// process has: its own Runtime (SDK metrics exporter), its own loggers and log-level watcher.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../scripts/net';
import { eventually } from './stack';
import { testTemporalAddress } from './temporal';

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** The JSON log lines it has written so far (parsed). */
  logs: Array<Record<string, unknown>>;
  metricsPort: number;
  stop(): Promise<void>;
}

export async function startWorkerProcess(opts: {
  databaseUrl: string;
  taskQueuePrefix: string;
  workers?: string;
  env?: Record<string, string>;
}): Promise<WorkerProcess> {
  const root = path.resolve(__dirname, '..', '..');
  const metricsPort = await freePort();
  const sdkPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      KEEL_TASK_QUEUE_PREFIX: opts.taskQueuePrefix,
      KEEL_WORKERS: opts.workers ?? 'bookings',
      KEEL_WORKER_METRICS_PORT: String(metricsPort),
      KEEL_WORKER_METRICS_HOST: '127.0.0.1',
      KEEL_TEMPORAL_METRICS_PORT: String(sdkPort),
      LOG_LEVEL: 'info',
      NODE_ENV: 'test',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const stop = async () => {
    if (!exited) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(timer);
  };
  try {
    await eventually(async () => {
      if (exited) throw new Error(`worker process exited: ${stderr}`);
      return logs.some((l) => l.msg === 'workers running');
    }, 90_000, 200);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nstderr: ${stderr}`, { cause: err });
  }
  return { child, pid: child.pid!, logs, metricsPort, stop };
}
