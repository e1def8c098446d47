// The stack a benchmark runs against, through the test harness's own code path (test/global-setup.ts):
// TEMPORAL_ADDRESS / DATABASE_URL when given, otherwise a headless in-memory `temporal server start-dev`
// and a throwaway PostgreSQL cluster. On it: a fresh migrated database (test/helpers/database.ts, dropped
// at the end), a Temporal client, the real express app on a local port and an HTTP client for it.
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { closeApp, createApp, type AppDeps } from '../../api/app';
import type { BookingWorkflowConfig } from '../../services/bookings';
import { createRequestStats } from '../../api/request-stats';
import type { Env } from '../../config/env';
import { createDb, type Db } from '../../db/client';
import { loadRunbooks } from '../../runbooks/load';
import { resolveTemporalCli } from '../../scripts/temporal-cli';
import globalSetup, { stopTestServices, testServices } from '../../test/global-setup';
import { createTestDatabase } from '../../test/helpers/database';
import { treeTicks } from '../common';
import type { Cleanups } from './run';

export interface Services {
  /** The benchmark started the Temporal server itself (its state is thrown away at the end). */
  ownTemporal: boolean;
  address: string;
  namespace: string;
  temporalMode: string;
  postgresMode: string;
  postgresVersion: string;
  databaseUrl: string;
  dbName: string;
  db: Db;
  client: Client;
  /** The own PostgreSQL cluster's data directory; undefined on a given server. */
  pgDataDir?: string;
  /** CPU ticks of the servers this run started (temporal, postgres), for the CpuMeter after the bench's own groups. */
  serverCpu: Record<string, () => number>;
}

export async function startServices(
  cleanups: Cleanups,
  o: {
    poolSize: number;
    /** How an own dev server stores its state, for the printed mode. */
    ownTemporalStorage: string;
    /** A dev server the benchmark started itself before globalSetup (given to it as TEMPORAL_ADDRESS). */
    ownServer?: ChildProcess;
  },
): Promise<Services> {
  await globalSetup();
  cleanups.push(() => stopTestServices());
  const services = testServices();
  const address = process.env.KEEL_TEST_TEMPORAL_ADDRESS!;
  const namespace = 'default'; // the namespace globalSetup prepares (search attributes)
  const temporalProcess = services.temporal?.process ?? o.ownServer;
  let temporalMode = `external Temporal at ${address} (TEMPORAL_ADDRESS)`;
  if (temporalProcess) {
    let version = '';
    try {
      version = execFileSync(await resolveTemporalCli({ install: false }), ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // informative only
    }
    temporalMode = `own dev server (temporal server start-dev, headless, ${o.ownTemporalStorage})${version ? `, ${version}` : ''}`;
  }
  const postgresMode = services.postgres
    ? 'own throwaway cluster (test/global-setup.ts: fsync=off, synchronous_commit=off, full_page_writes=off)'
    : 'external (DATABASE_URL)';

  const database = await createTestDatabase(); // fresh database + prisma/migrations applied
  const db = createDb(database.url, { poolSize: o.poolSize });
  cleanups.push(() => db.$disconnect());
  // Before the disconnect (cleanups run last-in first-out): dropping terminates every session, so the
  // disconnect never waits for a query still running.
  cleanups.push(() => database.drop());
  const postgresVersion = (await db.$queryRawUnsafe<Array<{ server_version: string }>>('SHOW server_version'))[0].server_version;

  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace });

  const serverCpu: Record<string, () => number> = {};
  if (temporalProcess?.pid) {
    const pid = temporalProcess.pid;
    serverCpu.temporal = () => treeTicks(pid);
  }
  if (services.postgres) {
    const postmaster = Number(fs.readFileSync(path.join(services.postgres.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    serverCpu.postgres = () => treeTicks(postmaster);
  }
  return {
    ownTemporal: Boolean(temporalProcess), address, namespace, temporalMode, postgresMode, postgresVersion,
    databaseUrl: database.url, dbName: new URL(database.url).pathname.slice(1), db, client, pgDataDir: services.postgres?.dataDir, serverCpu,
  };
}

/** The booking workflows' settings as api/main.ts gives them (from the environment), on this run's task queues. */
export function bookingWorkflows(env: Env, taskQueuePrefix: string): BookingWorkflowConfig {
  return {
    taskQueuePrefix,
    settings: {
      noShowGraceMs: env.KEEL_NO_SHOW_GRACE,
      remindersBeforeStartMs: env.KEEL_REMINDERS_BEFORE_START,
      remindersBeforeEndMs: env.KEEL_REMINDERS_BEFORE_END,
      earlyWakeMs: env.KEEL_TIMER_EARLY_WAKE,
    },
  };
}

/** The request statistics middleware, as api/main.ts installs it (one per benchmark process). */
export function requestStats(cleanups: Cleanups, db: Db): NonNullable<AppDeps['requestStats']> {
  const stats = createRequestStats(db, { instance: `bench:${process.pid}` });
  cleanups.push(() => stats.stop());
  return stats.middleware;
}

/**
 * The real express app (createApp, as api/main.ts builds it; incidents from the environment and the
 * runbooks) on 127.0.0.1, and a keep-alive client for it with `sockets` connections.
 */
export async function startApi(
  cleanups: Cleanups,
  env: Env,
  deps: Omit<AppDeps, 'apiKeys' | 'incidents'>,
  o: { token: string; sockets: number },
): Promise<{ api: HttpApi; server: http.Server }> {
  const app = createApp({
    ...deps, apiKeys: `service:${o.token}`,
    incidents: { components: env.KEEL_STATUS_COMPONENTS, runbooks: loadRunbooks() },
  });
  cleanups.push(() => closeApp(app));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const api = new HttpApi((server.address() as AddressInfo).port, o.token, o.sockets);
  cleanups.push(() => api.close());
  return { api, server };
}

/** HTTP/1.1 with keep-alive: up to `sockets` connections, each reused for every request. */
export class HttpApi {
  private readonly agent: http.Agent;
  constructor(readonly port: number, private readonly token: string, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  }
  /** `body` parses the answer when read, so a load loop that only checks the status pays no JSON.parse. */
  request(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string; readonly body: unknown }> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1', port: this.port, path: p, method, agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            resolve({
              status: res.statusCode ?? 0,
              text,
              get body(): unknown {
                try {
                  return JSON.parse(text) as unknown;
                } catch {
                  return undefined;
                }
              },
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }
  /**
   * A GET whose body is counted and dropped, not collected: a load loop on a large page (the status
   * page's HTML) then measures the server, not this process assembling strings it throws away.
   */
  drain(p: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, path: p, method: 'GET', agent: this.agent, headers }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }
  close(): void {
    this.agent.destroy();
  }
}
