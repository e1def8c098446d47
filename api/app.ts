// The express application, built from its dependencies so tests run it against a real Temporal and
// PostgreSQL without a listening process of its own.
import { randomUUID } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import pinoHttp from 'pino-http';
import type { Client } from '@temporalio/client';
import type { Logger } from '../config/logger';
import type { Db } from '../db/client';
import { authenticate, parseApiKeys } from './auth';
import type { BookingWorkflowConfig } from '../services/bookings';
import type { Services } from '../services/context';
import { TemporalGateway } from '../services/temporal';
import { createStatusPageCache } from '../services/status-page-cache';
import { countWorkflowStart } from './metrics';
import { errorHandler, notFoundRoute } from './errors';
import { refuseNulCharacters } from './validation';
import { openApiDocument } from './openapi';
import { methodNotAllowed } from './method-not-allowed';
import { docsRouter } from './docs';
import { bookingsRouter } from './routes/bookings';
import { consoleRouter } from './routes/console';
import { healthRouter } from './routes/health';
import { incidentsRouter } from './routes/incidents';
import { dashboardRouter } from './routes/dashboard';
import { statusRouter } from './routes/status';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import type { CampaignSettings } from '../workflows/campaign';
import { campaignSubmitBody, campaignsRouter } from './routes/campaigns';
import { promoPoolsRouter } from './routes/promo-pools';
import { usersRouter } from './routes/users';
import { reportsRouter } from './routes/reports';
import { stuckRouter } from './routes/stuck';
import type { WatchdogSettings } from '../domain/watchdog';
import { REDACT } from '../config/logger';
import { httpMetricsMiddleware, metricsHandler } from './metrics';
import { logLevelRouter } from './routes/log-level';
import { playbooksRouter } from './routes/playbooks';
import type { PlaybookRunner } from '../db/playbook-runner';

export interface AppDeps {
  db: Db;
  client: Client;
  logger: Logger;
  apiKeys: string;
  bodyLimit?: string;
  workflows: BookingWorkflowConfig;
  incidents: { components: string[]; runbooks: Map<Severity, RunbookSnapshot>; historyEventsLimit?: number };
  campaigns: CampaignSettings;
  /** Counts responses for the "recent API error rate" check (api/request-stats.ts). */
  requestStats?: RequestHandler;
  /** The dashboard's business time zone (KEEL_BUSINESS_TIME_ZONE; default Europe/Paris). */
  dashboard?: { timeZone?: string };
  /** Emergency log levels: a shorter "minute" (tests) and how recent a live process's ack is. */
  logLevels?: { minuteMs?: number; liveWithinMs?: number };
  /** Other metrics endpoints (e.g. the worker's) appended to GET /metrics; see README "Metrics". */
  metricsScrapeUrls?: string[];
  /** Playbook queries (db/playbook-runner.ts, its own small pool); without it /v1/playbooks is not served. */
  playbooks?: PlaybookRunner;
  /** Stuck-work watchdog thresholds for GET /v1/health/stuck?fresh=true (KEEL_WATCHDOG_*). */
  watchdog?: Partial<WatchdogSettings>;
  /** Deadline of an action's update (KEEL_UPDATE_TIMEOUT, default 5 s): then 503 WORKER_UNAVAILABLE. */
  updateTimeoutMs?: number;
  /** How long POST /v1/dashboard/reconcile waits for the result before answering 202 (default 20 s). */
  reconcileWaitMs?: number;
  /** The status page cache's version poll (default 1 s: the page's staleness bound; tests shorten it). */
  statusPage?: { refreshMs?: number };
}

/** The command layer's dependencies, built once per app from its deps. */
export function appServices(deps: AppDeps): Services {
  return {
    db: deps.db,
    temporal: new TemporalGateway({
      client: deps.client,
      taskQueuePrefix: deps.workflows.taskQueuePrefix,
      updateTimeoutMs: deps.updateTimeoutMs,
      onStart: countWorkflowStart,
    }),
    settings: {
      bookings: deps.workflows.settings,
      campaigns: deps.campaigns,
      incidents: deps.incidents,
      timeZone: deps.dashboard?.timeZone ?? 'Europe/Paris',
      logLevels: { minuteMs: deps.logLevels?.minuteMs ?? 60_000, liveWithinMs: deps.logLevels?.liveWithinMs ?? 30_000 },
      watchdog: deps.watchdog,
      reconcileWaitMs: deps.reconcileWaitMs ?? 20_000,
    },
    playbooks: deps.playbooks,
    logger: deps.logger,
  };
}

/**
 * The pino loggers the app logs through: the one it was given and pino-http's (a child made once,
 * which keeps its own level). The log-level watcher switches all of them.
 */
export function appLoggers(app: Express): Logger[] {
  return (app.locals.loggers as Logger[] | undefined) ?? [];
}

/**
 * Stops what the app runs in the background (the status page's version poll). The caller still
 * closes its server and the dependencies it passed in (database, Temporal connection).
 */
export async function closeApp(app: Express): Promise<void> {
  const closers = (app.locals.closers as Array<() => Promise<void>> | undefined) ?? [];
  app.locals.closers = [];
  await Promise.all(closers.map((close) => close()));
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', true);
  app.use(httpMetricsMiddleware());
  const httpLogger = pinoHttp({
    logger: deps.logger,
    // A caller's X-Request-Id is kept (it follows the request into the workflow's memo and events).
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    redact: REDACT,
  });
  app.locals.loggers = [deps.logger, httpLogger.logger];
  app.use(httpLogger);
  if (deps.requestStats) app.use(deps.requestStats);
  const keys = parseApiKeys(deps.apiKeys);
  const services = appServices(deps);
  const openapi = openApiDocument(deps.incidents.components);
  // 405 (with Allow) for a method a documented path does not have; 204 + Allow for OPTIONS.
  app.use(methodNotAllowed(openapi));
  // Public, no key and no body: health, metrics, the status page, the consoles, the API document.
  // They come before the body parsers, which only /v1 (authenticated) routes need.
  app.use(healthRouter(services));
  // Prometheus scrapes without a key: protect it at the network level (README, Metrics).
  app.get('/metrics', metricsHandler({ scrapeUrls: deps.metricsScrapeUrls }));
  // Public, no key: the status page and the consoles (which ask for a key and call the API with it).
  const statusPage = createStatusPageCache(services, {
    components: services.settings.incidents.components,
    refreshMs: deps.statusPage?.refreshMs,
    onError: (err) => deps.logger.warn({ err }, 'status page: cannot check for a new document; serving the last one read'),
  });
  app.locals.closers = [async () => statusPage.stop()];
  app.use(statusRouter(statusPage));
  app.use(consoleRouter());
  // Interactive docs of the document below (Swagger UI from node_modules, nothing from elsewhere).
  app.use(docsRouter());
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  // Authentication before any body is read: a request without a valid key is answered 401 whatever
  // it carries (a 9 MB or gzip body is never buffered, inflated or parsed for a stranger).
  app.use('/v1', authenticate(keys));
  // Bulk uploads read their own, larger bodies (after the role check), so they are mounted before
  // the global JSON parser and its KEEL_BODY_LIMIT.
  app.use('/v1/users', usersRouter(services));
  app.use('/v1/promo-pools', promoPoolsRouter(services));
  // A campaign's explicit audience may list up to 1,000,000 user ids (POST /v1/campaigns only).
  app.use('/v1/campaigns', campaignSubmitBody());
  app.use(express.json({ limit: deps.bodyLimit ?? '100kb', strict: true }));
  app.use(refuseNulCharacters);

  app.use('/v1/bookings', bookingsRouter(services));
  app.use('/v1/admin/log-level', logLevelRouter(services));
  app.use('/v1/campaigns', campaignsRouter(services));
  app.use('/v1/incidents', incidentsRouter(services));
  app.use('/v1/dashboard', dashboardRouter(services));
  app.use('/v1/health', stuckRouter(services));
  app.use('/v1/reports', reportsRouter(services));

  if (services.playbooks) app.use('/v1/playbooks', playbooksRouter(services));

  app.use(notFoundRoute);
  app.use(errorHandler((err, req) => deps.logger.error({ err, reqId: (req as { id?: unknown }).id }, 'unhandled error')));
  return app;
}
