// A whole Keel stack inside a jest worker: a fresh migrated database, the real Temporal server, both
// workers on task queues unique to the test file, and the express app driven through supertest.
// Nothing is mocked; durations are shortened through the same settings production uses.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { DefaultLogger, NativeConnection, Runtime, bundleWorkflowCode, makeTelemetryFilterString, type Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import { closeApp, createApp } from '../../api/app';
import type { BookingWorkflowConfig } from '../../services/bookings';
import type { Role } from '../../api/auth';
import { createDb, type Db } from '../../db/client';
import { createWorker } from '../../workers/create';
import { TASK_QUEUES, type TaskQueueName } from '../../domain/task-queues';
import type { Channel } from '../../domain/campaign';
import type { BatchingProvider } from '../../activities/campaigns';
import type { CampaignSettings } from '../../workflows/campaign';
import { createOutboxProvider } from '../../providers/outbox';
import { createTestDatabase } from './database';
import type { RunbookSnapshot, Severity } from '../../domain/incident';
import { loadRunbooks } from '../../runbooks/load';
import { loadPlaybooks } from '../../playbooks/load';
import { createPlaybookRunner } from '../../db/playbook-runner';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';
import { testClient, testTemporalAddress, uniquePrefix } from './temporal';

let bundle: Promise<{ code: string }> | undefined;
/** Bundle the workflow code once per jest worker (webpack takes a couple of seconds). */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
let runtimeInstalled = false;

export interface StackOptions {
  name: string;
  settings?: Partial<BookingWorkflowConfig['settings']>;
  /** Runbooks for incidents; default: the repository's runbooks/. */
  runbooks?: Map<Severity, RunbookSnapshot>;
  components?: string[];
  /** Message providers per channel; default: the outbox for every channel. */
  providers?: Partial<Record<Channel, BatchingProvider>>;
  campaignSettings?: Partial<CampaignSettings>;
  /** Which task queues get an in-process worker (default: all). */
  workers?: TaskQueueName[];
  /** Playbooks served by /v1/playbooks (default: the repository's playbooks/), their timeout and row cap. */
  playbooksDir?: string;
  playbookSettings?: { timeoutMs?: number; maxRows?: number };
  /** History events after which an incident workflow continues as new (default 4000). */
  incidentHistoryEventsLimit?: number;
  /** Deadline of an action's update (KEEL_UPDATE_TIMEOUT); default 5 s. */
  updateTimeoutMs?: number;
  /** Where operations alerts are e-mailed (KEEL_OPS_ALERT_EMAILS); default none. */
  operationsAddresses?: string[];
}

export const TEST_COMPONENTS = ['booking-api', 'car-unlock', 'payments'];
export const DEFAULT_CAMPAIGN_SETTINGS: CampaignSettings = { pageSize: 500, concurrency: 4, pagesPerRun: 100, quietHours: { startHour: 21, endHour: 8 } };

export interface Stack {
  app: Express;
  db: Db;
  /** The workers' database connection goes through this proxy: block() it to simulate an outage. */
  dbProxy: TcpProxy;
  client: Client;
  prefix: string;
  keys: Record<Role, string>;
  workerDb: Db;
  /** The database URL the workers use (through the proxy). */
  workerDbUrl: string;
  api(role?: Role | null): {
    get(path: string): request.Test;
    post(path: string, body?: object): request.Test;
    patch(path: string, body: object): request.Test;
    put(path: string, body: object): request.Test;
  };
  startWorkers(): Promise<void>;
  stopWorkers(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR'),
        telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
    } catch {
      // already installed in this worker process
    }
  }
  const database = await createTestDatabase();
  const dbUrl = new URL(database.url);
  const dbProxy = await startTcpProxy(dbUrl.hostname, Number(dbUrl.port || 5432));
  const proxiedUrl = new URL(database.url);
  proxiedUrl.hostname = '127.0.0.1';
  proxiedUrl.port = String(dbProxy.port);

  const db = createDb(database.url);
  const workerDb = createDb(proxiedUrl.toString());
  const { client, connection: clientConnection, close: closeClient } = await testClient();
  const prefix = uniquePrefix(opts.name);
  const keys = {
    service: `svc-${randomBytes(12).toString('hex')}`,
    operator: `ops-${randomBytes(12).toString('hex')}`,
    commander: `cmd-${randomBytes(12).toString('hex')}`,
    viewer: `vwr-${randomBytes(12).toString('hex')}`,
  } satisfies Record<Role, string>;
  const workflows: BookingWorkflowConfig = {
    taskQueuePrefix: prefix,
    settings: { noShowGraceMs: 30 * 60_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [], ...opts.settings },
  };
  const playbooks = createPlaybookRunner({ databaseUrl: database.url, catalog: loadPlaybooks(opts.playbooksDir), ...opts.playbookSettings });
  const app = createApp({
    db,
    client,
    logger: pino({ level: process.env.KEEL_TEST_LOG_LEVEL ?? 'silent' }),
    apiKeys: Object.entries(keys).map(([role, token]) => `${role}:${token}`).join(','),
    workflows,
    incidents: {
      components: opts.components ?? TEST_COMPONENTS, runbooks: opts.runbooks ?? loadRunbooks(), historyEventsLimit: opts.incidentHistoryEventsLimit,
    },
    campaigns: { ...DEFAULT_CAMPAIGN_SETTINGS, ...opts.campaignSettings },
    playbooks,
    updateTimeoutMs: opts.updateTimeoutMs,
  });

  const outbox = createOutboxProvider(workerDb);
  let connection: NativeConnection | undefined;
  let workers: Worker[] = [];
  let running: Promise<unknown>[] = [];
  const startWorkers = async () => {
    connection ??= await NativeConnection.connect({ address: testTemporalAddress() });
    const deps = {
      connection, clientConnection, namespace: 'default', db: workerDb, taskQueuePrefix: prefix,
      workflowBundle: await workflowBundle(), statusComponents: opts.components ?? TEST_COMPONENTS,
      providers: { email: outbox, sms: outbox, push: outbox, ...opts.providers },
      operationsAddresses: opts.operationsAddresses,
    };
    workers = await Promise.all((opts.workers ?? TASK_QUEUES).map((q) => createWorker(q, deps)));
    running = workers.map((w) => w.run());
  };
  const stopWorkers = async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    workers = [];
    running = [];
  };
  await startWorkers();

  const agent = request(app);
  const auth = (t: request.Test, role: Role | null) => (role ? t.set('Authorization', `Bearer ${keys[role]}`) : t);
  return {
    app, db, dbProxy, client, prefix, keys, workerDb, workerDbUrl: proxiedUrl.toString(),
    api: (role: Role | null = 'service') => ({
      get: (path: string) => auth(agent.get(path), role),
      post: (path: string, body?: object) => (body === undefined ? auth(agent.post(path), role) : auth(agent.post(path), role).send(body)),
      patch: (path: string, body: object) => auth(agent.patch(path), role).send(body),
      put: (path: string, body: object) => auth(agent.put(path), role).send(body),
    }),
    startWorkers,
    stopWorkers,
    async stop() {
      await closeApp(app);
      await stopWorkers();
      await connection?.close();
      await closeClient();
      await playbooks.close();
      await db.$disconnect();
      await workerDb.$disconnect();
      await dbProxy.close();
      await database.drop();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until fn returns a truthy value or the deadline passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? String(last) : inspect(last);
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${why}` : ''}`);
    }
    await sleep(everyMs);
  }
}

let seq = 0;
/** A unique business id for this test run. */
export function uid(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}-${++seq}`;
}

export function bookingBody(over: Partial<Record<string, unknown>> = {}, startInMs = 60 * 60_000, durationMs = 60 * 60_000) {
  const startsAt = new Date(Date.now() + startInMs);
  return {
    bookingId: uid('bk'),
    customerId: uid('cust'),
    carId: uid('car'),
    startsAt: startsAt.toISOString(),
    endsAt: new Date(startsAt.getTime() + durationMs).toISOString(),
    amountCents: 4200,
    currency: 'EUR',
    ...over,
  };
}
