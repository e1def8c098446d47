// Keel's real workers (bookings + notifications, workers/create.ts) for the benchmark, either in the
// benchmark's own process (runBenchWorkers) or as a child process forked by bench/bookings/stack.ts,
// which talks to it over IPC: {type:'ready'} once polling, {type:'stop'} to drain and exit.
import { Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, makeTelemetryFilterString, type WorkerOptions } from '@temporalio/worker';
import { loadEnv } from '../config/env';
import { createDb } from '../db/client';
import { closeProviders, createProviders, rateLimits } from '../providers';
import { createWorker } from '../workers/create';
import { createFloorActivities } from './floor/activities';

/** The floor workflow's task queue (bench/floor/): its own, so it never shares slots with bookings. */
export const floorTaskQueue = (prefix: string) => `${prefix}-floor`;

export interface BenchWorkerConfig {
  address: string;
  namespace: string;
  databaseUrl: string;
  taskQueuePrefix: string;
  poolSize: number;
  /** Core's Prometheus exporter listens here (127.0.0.1): the benchmark counts finished tasks with it. */
  metricsPort: number;
  /**
   * Experiments only (--worker-overrides): WorkerOptions laid over what workers/create.ts passes, to
   * try a tuning (pollers, cache, slots) before proposing it there. Empty for the real figures.
   */
  workerOverrides?: Partial<WorkerOptions>;
}

export interface BenchWorkers {
  stop(): Promise<void>;
  /** Rejects if a worker stops on its own (a crash) before stop() is called. */
  done: Promise<void>;
}

let runtimeInstalled = false;

export async function runBenchWorkers(cfg: BenchWorkerConfig): Promise<BenchWorkers> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    // WARN and above only: the benchmark's output must stay readable. (workers/main.ts logs each
    // recorded change at INFO; that cost is not included here.)
    Runtime.install({
      logger: new DefaultLogger('WARN'),
      telemetryOptions: {
        logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
        metrics: { prometheus: { bindAddress: `127.0.0.1:${cfg.metricsPort}` } },
      },
    });
  }
  if (cfg.workerOverrides && Object.keys(cfg.workerOverrides).length > 0) {
    const create = Worker.create.bind(Worker);
    const overrides = cfg.workerOverrides;
    (Worker as { create: typeof Worker.create }).create = (options: WorkerOptions) => create({ ...options, ...overrides });
  }
  const connection = await NativeConnection.connect({ address: cfg.address });
  const clientConnection = await Connection.connect({ address: cfg.address });
  const db = createDb(cfg.databaseUrl, { poolSize: cfg.poolSize });
  // The same dependencies workers/main.ts passes (providers from the environment: the outbox by default).
  const env = loadEnv();
  const providers = createProviders(env, db);
  const deps = {
    connection, clientConnection, namespace: cfg.namespace, db, taskQueuePrefix: cfg.taskQueuePrefix,
    statusComponents: env.KEEL_STATUS_COMPONENTS, providers, channelRates: rateLimits(env),
    identity: `keel-bench-worker@${process.pid}`,
  };
  // Without workflowBundle the bookings worker bundles workflows/ itself, as workers/main.ts does.
  const workers: Worker[] = [await createWorker('bookings', deps), await createWorker('notifications', deps)];
  // The floor (bench/floor/): a minimal workflow on its own queue, same process, same Temporal options
  // Worker.create defaults to (plus any --worker-overrides), so Keel's figures have a same-run baseline.
  workers.push(await Worker.create({
    connection, namespace: cfg.namespace, taskQueue: floorTaskQueue(cfg.taskQueuePrefix),
    workflowsPath: require.resolve('./floor/workflow'), activities: createFloorActivities(db),
    identity: `keel-bench-floor@${process.pid}`,
  }));
  let stopping = false;
  const running = Promise.all(workers.map((w) => w.run()));
  const done = running.then(() => {
    if (!stopping) throw new Error('a worker stopped on its own');
  });
  done.catch(() => undefined);
  return {
    done,
    async stop() {
      stopping = true;
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running.catch(() => undefined);
      await closeProviders(providers);
      await db.$disconnect();
      await clientConnection.close();
      await connection.close();
    },
  };
}

async function childMain(): Promise<void> {
  const cfg = JSON.parse(process.env.KEEL_BENCH_WORKER_CONFIG ?? 'null') as BenchWorkerConfig | null;
  if (!cfg || !process.send) throw new Error('bench/worker-process.ts is started by bench/bookings.ts (bench/bookings/stack.ts forks it with IPC)');
  const workers = await runBenchWorkers(cfg);
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    await workers.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') void exit(0);
  });
  // The parent died (or closed the channel): never outlive it.
  process.on('disconnect', () => void exit(0));
  workers.done.catch((err: unknown) => {
    process.stderr.write(`keel-bench-worker: ${(err as Error).message}\n`);
    void exit(1);
  });
  process.send({ type: 'ready', pid: process.pid });
}

if (require.main === module) {
  childMain().catch((err: unknown) => {
    process.stderr.write(`keel-bench-worker: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
