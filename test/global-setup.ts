// Jest globalSetup: provides one Temporal server and one PostgreSQL server for the whole run.
// Given TEMPORAL_ADDRESS / KEEL_TEST_DATABASE_URL (CI, or a developer's running stack) it uses them;
// otherwise it starts throwaway ones, so `npm test` works on a laptop with nothing running.
// Tests read KEEL_TEST_TEMPORAL_ADDRESS and KEEL_TEST_DATABASE_URL (see test/helpers/); env set here
// is inherited by the jest workers, which are forked after globalSetup resolves.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { freePort } from '../scripts/net';
import { findPostgresBinaries, runPg, startPostgresServer, stopPostgresServerSync } from '../scripts/postgres-server';
import { ensureSearchAttributes, startDevServer, type DevServer } from '../scripts/temporal-cli';

const log = (m: string) => process.stderr.write(`[keel-test] ${m}\n`);

export interface PostgresCluster {
  dataDir: string;
  pgCtl: string;
  url: string;
  exitHook: () => void;
}

export interface TestServices {
  temporal?: DevServer;
  postgres?: PostgresCluster;
}

// globalSetup and globalTeardown run in the same (parent) process, so globalThis carries the handles.
const HANDLES = Symbol.for('keel.testServices');
export function testServices(): TestServices {
  const g = globalThis as unknown as Record<symbol, TestServices | undefined>;
  return (g[HANDLES] ??= {});
}

/** A throwaway cluster tuned for tests: nothing here needs to survive a crash. */
async function startPostgres(): Promise<PostgresCluster> {
  const bins = findPostgresBinaries();
  if (!bins) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under /usr/lib/postgresql/*/bin. ' +
        'Install PostgreSQL (`apt-get install -y postgresql`) or set KEEL_TEST_DATABASE_URL to a server the tests may create databases on.',
    );
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-pg-'));
  const exitHook = () => {
    stopPostgresServerSync(dataDir, bins.pgCtl);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', exitHook); // last resort if the run dies before teardown
  try {
    const server = await startPostgresServer({ bins, dataDir, port: await freePort(), durable: false });
    log(`PostgreSQL (${path.dirname(bins.pgCtl)}) started at 127.0.0.1:${server.port}, data in ${dataDir}`);
    return { dataDir, pgCtl: bins.pgCtl, url: server.url, exitHook };
  } catch (err) {
    process.removeListener('exit', exitHook);
    exitHook();
    throw err;
  }
}

export async function stopPostgres(cluster: PostgresCluster): Promise<void> {
  process.removeListener('exit', cluster.exitHook);
  try {
    await runPg(cluster.pgCtl, ['-D', cluster.dataDir, '-m', 'immediate', '-w', 'stop']);
  } finally {
    fs.rmSync(cluster.dataDir, { recursive: true, force: true });
  }
}

async function checkDatabase(url: string): Promise<void> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    throw new Error(`Cannot connect to the test PostgreSQL admin URL (${redact(url)}): ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

async function setupTemporal(services: TestServices): Promise<string> {
  const given = process.env.TEMPORAL_ADDRESS;
  if (given) {
    const added = await ensureSearchAttributes(given, 'default', { log });
    log(`Using Temporal at ${given}${added.length ? ` (registered ${added.join(', ')})` : ''}`);
    return given;
  }
  // Headless and in-memory: nothing to clean up on disk, and the UI is not needed by tests.
  services.temporal = await startDevServer({ port: await freePort(), headless: true, log });
  return services.temporal.address;
}

async function setupPostgres(services: TestServices): Promise<string> {
  const given = process.env.KEEL_TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (given) {
    await checkDatabase(given);
    log(`Using PostgreSQL at ${redact(given)}`);
    return given;
  }
  services.postgres = await startPostgres();
  return services.postgres.url;
}

export default async function globalSetup(): Promise<void> {
  const services = testServices();
  // Both services start in parallel (each takes a few seconds); if either fails, stop the other.
  const [temporal, postgres] = await Promise.allSettled([setupTemporal(services), setupPostgres(services)]);
  if (temporal.status === 'rejected' || postgres.status === 'rejected') {
    await stopTestServices();
    const errors = [temporal, postgres].flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error)?.message ?? r.reason)] : []));
    throw new Error(`Test harness setup failed:\n${errors.join('\n')}`);
  }
  process.env.KEEL_TEST_TEMPORAL_ADDRESS = temporal.value;
  process.env.KEEL_TEST_DATABASE_URL = postgres.value;
}

/** Stops whatever globalSetup started (never servers it was given). Used by globalTeardown. */
export async function stopTestServices(): Promise<void> {
  const services = testServices();
  const { temporal, postgres } = services;
  services.temporal = undefined;
  services.postgres = undefined;
  await Promise.all([temporal?.stop(), postgres ? stopPostgres(postgres) : undefined]);
}
