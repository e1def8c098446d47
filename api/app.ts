// The express application, built from its dependencies so tests run it against a real Temporal and
// PostgreSQL without a listening process of its own.
import { randomUUID } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import pinoHttp from 'pino-http';
import type { Client } from '@temporalio/client';
import type { Logger } from '../config/logger';
import type { Db } from '../db/client';
import { authenticate, parseApiKeys } from './auth';
import type { BookingWorkflowConfig } from './booking-workflows';
import { errorHandler, notFoundRoute } from './errors';
import { openApiDocument } from './openapi';
import { bookingsRouter } from './routes/bookings';
import { consoleRouter } from './routes/console';
import { healthRouter } from './routes/health';
import { incidentsRouter } from './routes/incidents';
import { statusRouter } from './routes/status';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import type { CampaignSettings } from '../workflows/campaign';
import { campaignsRouter } from './routes/campaigns';
import { promoPoolsRouter } from './routes/promo-pools';
import { usersRouter } from './routes/users';

export interface AppDeps {
  db: Db;
  client: Client;
  logger: Logger;
  apiKeys: string;
  bodyLimit?: string;
  workflows: BookingWorkflowConfig;
  incidents: { components: string[]; runbooks: Map<Severity, RunbookSnapshot> };
  campaigns: CampaignSettings;
  /** Counts responses for the "recent API error rate" check (api/request-stats.ts). */
  requestStats?: RequestHandler;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', true);
  app.use(
    pinoHttp({
      logger: deps.logger,
      // A caller's X-Request-Id is kept (it follows the request into the workflow's memo and events).
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      redact: ['req.headers.authorization'],
    }),
  );
  if (deps.requestStats) app.use(deps.requestStats);
  const keys = parseApiKeys(deps.apiKeys);
  // Bulk uploads read their own, larger bodies (after authentication and the role check), so they are
  // mounted before the global JSON parser and its KEEL_BODY_LIMIT.
  app.use('/v1/users', authenticate(keys), usersRouter({ db: deps.db }));
  app.use('/v1/promo-pools', authenticate(keys), promoPoolsRouter({ db: deps.db }));
  // A campaign's explicit audience may list up to 100,000 user ids.
  app.use('/v1/campaigns', express.json({ limit: '8mb', strict: true }));
  app.use(express.json({ limit: deps.bodyLimit ?? '100kb', strict: true }));

  app.use(healthRouter(deps));
  // Public, no key: the status page and the consoles (which ask for a key and call the API with it).
  app.use(statusRouter({ db: deps.db, components: deps.incidents.components }));
  app.use(consoleRouter());
  const openapi = openApiDocument(deps.incidents.components);
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  app.use('/v1', authenticate(keys));
  app.use('/v1/bookings', bookingsRouter(deps));
  app.use('/v1/campaigns', campaignsRouter({ db: deps.db, client: deps.client, taskQueuePrefix: deps.workflows.taskQueuePrefix, settings: deps.campaigns }));
  app.use(
    '/v1/incidents',
    incidentsRouter({
      db: deps.db, client: deps.client, taskQueuePrefix: deps.workflows.taskQueuePrefix,
      components: deps.incidents.components, runbooks: deps.incidents.runbooks,
    }),
  );

  app.use(notFoundRoute);
  app.use(errorHandler((err, req) => deps.logger.error({ err, reqId: (req as { id?: unknown }).id }, 'unhandled error')));
  return app;
}
