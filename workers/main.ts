// Worker process entry. KEEL_WORKERS chooses which task queues this process serves (default: all).
// SIGINT/SIGTERM drain in-flight tasks before exit (the SDK's Runtime handles the signals).
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { temporalSettings } from '../config/temporal';
import { createDb } from '../db/client';
import { TASK_QUEUES, type TaskQueueName } from '../domain/task-queues';
import { createWorker } from './create';
import { ensureSchedules } from './schedules';
import { closeProviders, createProviders, rateLimits } from '../providers';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'keel-worker' });
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is required (npm run dev sets it for you)');
  Runtime.install({
    // WARN: the SDK's INFO output is mostly webpack bundle statistics on every start.
    logger: new DefaultLogger(env.LOG_LEVEL === 'debug' || env.LOG_LEVEL === 'trace' ? 'INFO' : 'WARN'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
  const names = env.KEEL_WORKERS.split(',').map((s) => s.trim()).filter(Boolean) as TaskQueueName[];
  const unknown = names.filter((n) => !TASK_QUEUES.includes(n));
  if (unknown.length) throw new Error(`KEEL_WORKERS: unknown worker(s) ${unknown.join(', ')}; known: ${TASK_QUEUES.join(', ')}`);

  const t = temporalSettings(env);
  const connection = await NativeConnection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  const clientConnection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  const db = createDb(env.DATABASE_URL, { poolSize: env.DATABASE_POOL_SIZE });
  const providers = createProviders(env, db);
  const workers = await Promise.all(
    names.map((name) =>
      createWorker(name, {
        connection, clientConnection, namespace: t.namespace, db, taskQueuePrefix: env.KEEL_TASK_QUEUE_PREFIX,
        statusComponents: env.KEEL_STATUS_COMPONENTS,
        providers,
        channelRates: rateLimits(env),
      }),
    ),
  );
  if (names.includes('ops')) {
    const created = await ensureSchedules(new Client({ connection: clientConnection, namespace: t.namespace }), env.KEEL_TASK_QUEUE_PREFIX);
    if (created.length) logger.info({ schedules: created }, 'schedules created');
  }
  logger.info({ taskQueues: workers.map((w) => w.options.taskQueue), address: t.address }, 'workers running');
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await closeProviders(providers);
    await db.$disconnect();
    await clientConnection.close();
    await connection.close();
    logger.info('workers stopped');
  }
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error(`keel-worker: ${(err as Error).message}`);
  process.exit(1);
});
