// Worker process entry. KEEL_WORKERS chooses which task queues this process serves (default: all).
// SIGINT/SIGTERM drain in-flight tasks before exit (the SDK's Runtime handles the signals).
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { loadEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { temporalSettings } from '../config/temporal';
import { createDb } from '../db/client';
import { TASK_QUEUES, type TaskQueueName } from '../domain/task-queues';
import { createWorker } from './create';
import { ensureSchedules } from './schedules';
import { closeProviders, createProviders, rateLimits } from '../providers';
import { startLogLevelWatcher } from '../config/log-level-watch';
import { PinoSdkLogger } from '../config/sdk-logger';
import { workerMetrics } from '../activities/metrics';
import { startMetricsServer } from './metrics-server';
import path from 'node:path';
import { loadRunbooks } from '../runbooks/load';
import { watchdogSettingsFromEnv } from '../services/watchdog';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'keel-worker' });
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is required (npm run dev sets it for you)');
  // The SDK logs (workflow.log, activity.log, its own) through pino, so the emergency log level reaches
  // them; its INFO lines (webpack statistics, one per activity) show from `debug` on, as before.
  const sdkLogger = new PinoSdkLogger(logger.child({ source: 'temporal-sdk' }));
  let metricsOn = env.KEEL_WORKER_METRICS_PORT > 0;
  const installRuntime = (withMetrics: boolean) => Runtime.install({
    logger: sdkLogger,
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(withMetrics ? { metrics: { prometheus: { bindAddress: `127.0.0.1:${env.KEEL_TEMPORAL_METRICS_PORT}` } } } : {}),
    },
  });
  try {
    installRuntime(metricsOn);
  } catch (err) {
    // A busy metrics port must never stop booking transitions: run without metrics, loudly.
    if (!metricsOn) throw err;
    logger.error({ err: (err as Error).message, port: env.KEEL_TEMPORAL_METRICS_PORT }, 'Temporal SDK metrics exporter failed to start; worker metrics disabled');
    metricsOn = false;
    installRuntime(false);
  }
  const names = env.KEEL_WORKERS.split(',').map((s) => s.trim()).filter(Boolean) as TaskQueueName[];
  const unknown = names.filter((n) => !TASK_QUEUES.includes(n));
  if (unknown.length) throw new Error(`KEEL_WORKERS: unknown worker(s) ${unknown.join(', ')}; known: ${TASK_QUEUES.join(', ')}`);

  const t = temporalSettings(env);
  const connection = await NativeConnection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  const clientConnection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  const db = createDb(env.DATABASE_URL, { poolSize: env.DATABASE_POOL_SIZE });
  const logLevels = startLogLevelWatcher({
    db, component: 'worker', defaultLevel: env.LOG_LEVEL, pollMs: env.KEEL_LOG_LEVEL_POLL,
    loggers: () => [logger, sdkLogger.pino],
    onError: (err) => logger.warn({ err }, 'cannot read the log level; keeping the current one'),
  });
  const metricsServer = metricsOn
    ? await startMetricsServer({
      registry: workerMetrics().registry, port: env.KEEL_WORKER_METRICS_PORT, host: env.KEEL_WORKER_METRICS_HOST,
      sdkUrl: `http://127.0.0.1:${env.KEEL_TEMPORAL_METRICS_PORT}/metrics`,
    }).catch((err) => {
      logger.error({ err: (err as Error).message, port: env.KEEL_WORKER_METRICS_PORT }, 'metrics endpoint failed to start; worker metrics disabled');
      return undefined;
    })
    : undefined;
  const providers = createProviders(env, db);
  // The watchdog (ops) opens incidents with the same runbooks the API validates at start-up.
  const watchdogRunbooks = names.includes('ops') ? loadRunbooks(path.resolve(env.KEEL_RUNBOOKS_DIR)) : undefined;
  const workers = await Promise.all(
    names.map((name) =>
      createWorker(name, {
        connection, clientConnection, namespace: t.namespace, db, taskQueuePrefix: env.KEEL_TASK_QUEUE_PREFIX,
        statusComponents: env.KEEL_STATUS_COMPONENTS,
        providers,
        channelRates: rateLimits(env),
        operationsAddresses: env.KEEL_OPS_ALERT_EMAILS,
        runbooks: watchdogRunbooks,
        watchdog: watchdogSettingsFromEnv(env),
        logger,
      }),
    ),
  );
  if (names.includes('ops')) {
    const created = await ensureSchedules(new Client({ connection: clientConnection, namespace: t.namespace }), env.KEEL_TASK_QUEUE_PREFIX);
    if (created.length) logger.info({ schedules: created }, 'schedules created');
  }
  logger.info({ taskQueues: workers.map((w) => w.options.taskQueue), address: t.address, metricsPort: metricsServer?.port }, 'workers running');
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await logLevels.stop();
    await metricsServer?.close();
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
