// A PostgreSQL server run from the machine's own binaries (Debian's `postgresql` package): a durable
// project-local cluster for `npm run dev`, a throwaway one for the test harness and the benchmarks.
// initdb and postgres refuse to run as root, so as root every command runs as the `postgres` user.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian layout). */
export function findPostgresBinaries(): PostgresBinaries | undefined {
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

const isRoot = () => process.getuid?.() === 0;

export function asPostgresUser(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export function runPg(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [file, argv] = asPostgresUser(cmd, args);
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

export function postgresUserIds(): { uid: number; gid: number } {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error('Running as root, but there is no `postgres` system user to run PostgreSQL as (initdb refuses root).');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Whether the user PostgreSQL runs as can create and use `dir` (as root: the postgres user). */
export function postgresCanUse(dir: string): boolean {
  if (!isRoot()) return true;
  let probe = dir;
  while (!fs.existsSync(probe)) probe = path.dirname(probe);
  return spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', probe], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs Debian's `postgresql` package when the binaries are missing and this process may (root, apt).
 * Answers the binaries, or undefined when PostgreSQL is not available and cannot be installed here.
 */
export function ensurePostgresInstalled(log: (m: string) => void): PostgresBinaries | undefined {
  const found = findPostgresBinaries();
  if (found) return found;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' });
  if (!isRoot() || apt.status !== 0) return undefined;
  log('PostgreSQL server binaries not found; installing Debian\'s postgresql package (apt-get) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 600_000 });
  const install = update.status === 0
    ? spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { stdio: 'ignore', env, timeout: 900_000 })
    : update;
  if (install.status !== 0) {
    log('installing postgresql failed');
    return undefined;
  }
  return findPostgresBinaries();
}

export interface PostgresServer {
  dataDir: string;
  port: number;
  url: string;
  pgCtl: string;
  /** Stops the server (fast shutdown for a durable cluster, immediate for a throwaway one). */
  stop(): Promise<void>;
}

export interface StartOptions {
  bins: PostgresBinaries;
  dataDir: string;
  port: number;
  /**
   * Durable (npm run dev): fsync stays on (synchronous_commit off loses at most the last moment of
   * commits on a crash, never consistency). Throwaway (tests, benchmarks): no fsync at all.
   */
  durable: boolean;
  log?: (m: string) => void;
}

/** Starts the cluster in dataDir, creating it first when dataDir holds none. */
export async function startPostgresServer(o: StartOptions): Promise<PostgresServer> {
  const log = o.log ?? (() => undefined);
  fs.mkdirSync(o.dataDir, { recursive: true });
  if (isRoot()) {
    const { uid, gid } = postgresUserIds();
    fs.chownSync(o.dataDir, uid, gid);
    fs.chmodSync(o.dataDir, 0o700);
  }
  if (!fs.existsSync(path.join(o.dataDir, 'PG_VERSION'))) {
    await runPg(o.bins.initdb, ['-D', o.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', ...(o.durable ? [] : ['--no-sync'])]);
    log(`created a PostgreSQL cluster in ${o.dataDir}`);
  }
  // Settings go on the command line (-o) for the listening parts, so a moved port or data directory
  // never needs the cluster's own file rewritten; tuning lives in a file included once.
  const conf = path.join(o.dataDir, 'keel.conf');
  const tuning = o.durable
    ? ['synchronous_commit = off', 'max_connections = 200', 'shared_buffers = 256MB']
    : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off', 'max_connections = 300'];
  fs.writeFileSync(conf, `# written by Keel (scripts/postgres-server.ts)\n${tuning.join('\n')}\n`);
  const main = path.join(o.dataDir, 'postgresql.conf');
  if (!fs.readFileSync(main, 'utf8').includes("include_if_exists = 'keel.conf'")) {
    fs.appendFileSync(main, "\ninclude_if_exists = 'keel.conf'\n");
  }
  if (isRoot()) {
    const { uid, gid } = postgresUserIds();
    fs.chownSync(conf, uid, gid);
  }
  const logFile = path.join(o.dataDir, 'server.log');
  // The distro's socket directory (/var/run/postgresql) may not exist: sockets live in the data dir.
  const serverArgs = `-c listen_addresses=127.0.0.1 -p ${o.port} -c unix_socket_directories='${o.dataDir}'`;
  try {
    await runPg(o.bins.pgCtl, ['-D', o.dataDir, '-l', logFile, '-o', serverArgs, '-w', '-t', '90', 'start']);
  } catch (err) {
    const serverLog = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-4_000) : '';
    throw new Error(`${(err as Error).message}\nserver.log:\n${serverLog}`, { cause: err });
  }
  const url = `postgresql://postgres@127.0.0.1:${o.port}/postgres`;
  log(`PostgreSQL (${path.dirname(o.bins.pgCtl)}) serving ${o.dataDir} on 127.0.0.1:${o.port}`);
  return {
    dataDir: o.dataDir,
    port: o.port,
    url,
    pgCtl: o.bins.pgCtl,
    stop: async () => {
      await runPg(o.bins.pgCtl, ['-D', o.dataDir, '-m', o.durable ? 'fast' : 'immediate', '-w', '-t', '60', 'stop']);
    },
  };
}

/**
 * Stops a server still running on dataDir from an earlier run that died without stopping it (its
 * caller holds the data directory's lock, so no live run owns it). Answers whether one was stopped.
 */
export async function stopStalePostgres(bins: PostgresBinaries, dataDir: string): Promise<boolean> {
  if (!fs.existsSync(path.join(dataDir, 'postmaster.pid'))) return false;
  const [file, argv] = asPostgresUser(bins.pgCtl, ['-D', dataDir, 'status']);
  if (spawnSync(file, argv, { stdio: 'ignore' }).status !== 0) return false;
  await runPg(bins.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
  return true;
}

/** Synchronous stop, for process exit hooks. */
export function stopPostgresServerSync(dataDir: string, pgCtl: string): void {
  const [file, argv] = asPostgresUser(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
  spawnSync(file, argv, { stdio: 'ignore', timeout: 30_000 });
}
