// Jest globalSetup: provides one Temporal server and one PostgreSQL server for the whole run.
// Given TEMPORAL_ADDRESS / KEEL_TEST_DATABASE_URL (CI, or a developer's running stack) it uses them;
// otherwise it starts throwaway ones, so `npm test` works on a laptop with nothing running.
// Tests read KEEL_TEST_TEMPORAL_ADDRESS and KEEL_TEST_DATABASE_URL (see test/helpers/); env set here
// is inherited by the jest workers, which are forked after globalSetup resolves.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { freePort } from '../scripts/net';
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

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pg_ctl and initdb: from PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian layout). */
function findPostgresBinaries(): { initdb: string; pgCtl: string } | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const debianRoot = '/usr/lib/postgresql';
  if (fs.existsSync(debianRoot)) {
    const versions = fs
      .readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => path.join(debianRoot, v, 'bin')));
  }
  for (const dir of dirs) {
    const initdb = path.join(dir, 'initdb');
    const pgCtl = path.join(dir, 'pg_ctl');
    if (isExecutable(initdb) && isExecutable(pgCtl)) return { initdb, pgCtl };
  }
  return undefined;
}

/** initdb and postgres refuse to run as root, so as root every PostgreSQL command goes through runuser. */
function asPostgresUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function runPg(cmd: string, args: string[]): Promise<string> {
  const [file, argv] = asPostgresUser(cmd, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error('Running as root, but there is no `postgres` system user to run PostgreSQL as (initdb refuses root).');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function stopPostgresSync(dataDir: string, pgCtl: string): void {
  const [file, argv] = asPostgresUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
  spawnSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
  fs.rmSync(dataDir, { recursive: true, force: true });
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
  const exitHook = () => stopPostgresSync(dataDir, bins.pgCtl);
  process.once('exit', exitHook); // last resort if the run dies before teardown
  try {
    if (process.getuid?.() === 0) {
      const { uid, gid } = postgresUserIds();
      fs.chownSync(dataDir, uid, gid);
    }
    await runPg(bins.initdb, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    const port = await freePort();
    // Settings go into the file rather than pg_ctl -o to avoid a second layer of shell quoting.
    const settings = {
      listen_addresses: "'127.0.0.1'",
      port: String(port),
      unix_socket_directories: `'${dataDir}'`, // the distro default (/var/run/postgresql) may not exist
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '300',
    };
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), `\n# keel test harness\n${lines.join('\n')}\n`);
    const logFile = path.join(dataDir, 'server.log');
    try {
      await runPg(bins.pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
    } catch (err) {
      const serverLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-4_000) : '';
      throw new Error(`${(err as Error).message}\nserver.log:\n${serverLog}`);
    }
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    log(`PostgreSQL (${path.dirname(bins.pgCtl)}) started at 127.0.0.1:${port}, data in ${dataDir}`);
    return { dataDir, pgCtl: bins.pgCtl, url, exitHook };
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
    throw new Error(`Cannot connect to the test PostgreSQL admin URL (${redact(url)}): ${(err as Error).message}`);
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
