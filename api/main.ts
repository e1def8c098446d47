// API process entry: one express app over a Temporal client and a Prisma client.
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { campaignSettings, loadEnv } from '../config/env';
import { createLogger } from '../config/logger';
import { temporalSettings } from '../config/temporal';
import { createDb } from '../db/client';
import { appLoggers, closeApp, createApp } from './app';
import { startLogLevelWatcher } from '../config/log-level-watch';
import { loadRunbooks } from '../runbooks/load';
import { loadPlaybooks } from '../playbooks/load';
import { createPlaybookRunner } from '../db/playbook-runner';
import { createRequestStats } from './request-stats';
import { watchdogSettingsFromEnv } from '../services/watchdog';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'keel-api' });
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is required (npm run dev sets it for you)');
  if (!env.KEEL_API_KEYS) throw new Error('KEEL_API_KEYS is required (npm run dev generates keys for you)');
  // Validated at start-up: a broken runbook stops the API here, not in the middle of an incident.
  const runbooks = loadRunbooks(path.resolve(env.KEEL_RUNBOOKS_DIR));
  // Likewise every playbook: one error lists every problem of every file.
  const playbookCatalog = loadPlaybooks(path.resolve(env.KEEL_PLAYBOOKS_DIR), { maxRows: env.KEEL_PLAYBOOK_MAX_ROWS });
  const t = temporalSettings(env);
  const connection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey });
  const client = new Client({ connection, namespace: t.namespace });
  const db = createDb(env.DATABASE_URL, { poolSize: env.DATABASE_POOL_SIZE });
  const stats = createRequestStats(db, { instance: `${os.hostname()}:${process.pid}` });
  const playbooks = createPlaybookRunner({
    databaseUrl: env.DATABASE_URL, catalog: playbookCatalog, timeoutMs: env.KEEL_PLAYBOOK_TIMEOUT,
    maxRows: env.KEEL_PLAYBOOK_MAX_ROWS, poolSize: env.KEEL_PLAYBOOK_POOL_SIZE,
    onAuditError: (err) => logger.error({ err }, 'cannot write the audit row of a failed playbook run'),
  });
  const app = createApp({
    db,
    client,
    logger,
    apiKeys: env.KEEL_API_KEYS,
    bodyLimit: env.KEEL_BODY_LIMIT,
    incidents: { components: env.KEEL_STATUS_COMPONENTS, runbooks },
    campaigns: campaignSettings(env),
    requestStats: stats.middleware,
    playbooks,
    metricsScrapeUrls: env.KEEL_METRICS_SCRAPE_URLS,
    dashboard: { timeZone: env.KEEL_BUSINESS_TIME_ZONE },
    watchdog: watchdogSettingsFromEnv(env),
    updateTimeoutMs: env.KEEL_UPDATE_TIMEOUT,
    workflows: {
      taskQueuePrefix: env.KEEL_TASK_QUEUE_PREFIX,
      settings: {
        noShowGraceMs: env.KEEL_NO_SHOW_GRACE,
        remindersBeforeStartMs: env.KEEL_REMINDERS_BEFORE_START,
        remindersBeforeEndMs: env.KEEL_REMINDERS_BEFORE_END,
        earlyWakeMs: env.KEEL_TIMER_EARLY_WAKE,
      },
    },
  });
  const logLevels = startLogLevelWatcher({
    db, component: 'api', defaultLevel: env.LOG_LEVEL, pollMs: env.KEEL_LOG_LEVEL_POLL,
    loggers: () => appLoggers(app),
    onError: (err) => logger.warn({ err }, 'cannot read the log level; keeping the current one'),
  });
  const server = app.listen(env.PORT, env.HOST, () => {
    logger.info({ port: env.PORT }, `API listening on http://localhost:${env.PORT}`);
  });
  const stop = () => {
    logger.info('API shutting down');
    server.close(() => {
      void (async () => {
        await closeApp(app);
        await stats.stop().catch(() => undefined);
        await logLevels.stop();
        await playbooks.close().catch(() => undefined);
        await db.$disconnect();
        await connection.close();
      })().finally(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error(`keel-api: ${(err as Error).message}`);
  process.exit(1);
});
