// schemathesis, the contract check of the OpenAPI document against a running API: installs it (pinned,
// from PyPI, into a venv, like the Temporal CLI in scripts/temporal-cli.ts) and runs it.
//
//   tsx scripts/schemathesis.ts install        print the `st` path, installing it if needed
//   tsx scripts/schemathesis.ts path           print the `st` path; exit 1 if not installed
//   tsx scripts/schemathesis.ts run [--url http://localhost:3000] [--key K | --role operator]
//                               [--max-examples N] [--seed S] [-- <more st run options>]
//
// `npm run api:fuzz` is `run` against `npm run dev` (its URL and its keys in .data/api-keys.json, or
// KEEL_API_KEYS); KEEL_FUZZ_URL / KEEL_FUZZ_API_KEY say otherwise. The jest test
// test/api/openapi-fuzz.test.ts runs the same against a test stack, so `npm test` fails on a finding.
// What is configured and why: schemathesis.toml.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const REPO_ROOT = path.resolve(__dirname, '..');
export const SCHEMATHESIS_REQUIREMENTS = path.join(REPO_ROOT, 'scripts', 'schemathesis-requirements.txt');
export const SCHEMATHESIS_CONFIG = path.join(REPO_ROOT, 'schemathesis.toml');
export const SCHEMATHESIS_VENV_DIR = path.join(REPO_ROOT, '.tools', 'schemathesis-venv');
const VENV_ST = path.join(SCHEMATHESIS_VENV_DIR, 'bin', 'st');
/** Holds the sha256 of the requirements the venv was built from: another file means a rebuild. */
const STAMP = path.join(SCHEMATHESIS_VENV_DIR, '.keel-requirements.sha256');

type Log = (message: string) => void;
const stderrLog: Log = (m) => process.stderr.write(`${m}\n`);

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

function run(cmd: string, args: string[]): Promise<void> {
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
      if (code === 0) resolve();
      else reject(new Error(`\`${cmd} ${args.join(' ')}\` failed (${signal ?? `exit ${code}`}):\n${output.trim()}`));
    });
  });
}

const requirementsDigest = () => createHash('sha256').update(fs.readFileSync(SCHEMATHESIS_REQUIREMENTS)).digest('hex');

function installed(): boolean {
  try {
    return isExecutable(VENV_ST) && fs.readFileSync(STAMP, 'utf8').trim() === requirementsDigest();
  } catch {
    return false;
  }
}

/**
 * The `st` of .tools/schemathesis-venv, built from scripts/schemathesis-requirements.txt (rebuilt when
 * that file changed) unless `install: false`.
 */
export async function resolveSchemathesis(opts: { install?: boolean; log?: Log } = {}): Promise<string> {
  const log = opts.log ?? stderrLog;
  if (installed()) return VENV_ST;
  if (opts.install === false) throw new Error('schemathesis is not installed in .tools/schemathesis-venv; run `tsx scripts/schemathesis.ts install`');
  const python = findOnPath('python3');
  if (!python) throw new Error('python3 is missing, so schemathesis cannot be installed (e.g. `apt-get install -y python3 python3-venv`)');
  log(`Installing schemathesis (${SCHEMATHESIS_REQUIREMENTS}) into ${SCHEMATHESIS_VENV_DIR} ...`);
  fs.rmSync(SCHEMATHESIS_VENV_DIR, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(SCHEMATHESIS_VENV_DIR), { recursive: true });
  try {
    await run(python, ['-m', 'venv', SCHEMATHESIS_VENV_DIR]);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nHint: on Debian/Ubuntu run \`apt-get install -y python3-venv\`.`, { cause: err });
  }
  const pip = path.join(SCHEMATHESIS_VENV_DIR, 'bin', 'pip');
  // The file pins the whole closure: --no-deps installs exactly it, `pip check` proves it complete.
  await run(pip, ['install', '--disable-pip-version-check', '--no-input', '--no-deps', '-r', SCHEMATHESIS_REQUIREMENTS]);
  await run(pip, ['check', '--disable-pip-version-check']);
  if (!isExecutable(VENV_ST)) throw new Error(`pip installed schemathesis but ${VENV_ST} is missing`);
  fs.writeFileSync(STAMP, `${requirementsDigest()}\n`);
  log(`schemathesis installed at ${VENV_ST}`);
  return VENV_ST;
}

export interface FuzzOptions {
  /** The API's base URL, e.g. http://127.0.0.1:3000; the document is read from <baseUrl>/v1/openapi.json. */
  baseUrl: string;
  /** A bearer key; the operator's reaches every operation. */
  apiKey: string;
  maxExamples?: number;
  seed?: number;
  /** More `st run` options. */
  extraArgs?: string[];
  /** Where the output goes as it comes (default: this process's stdout). */
  onOutput?: (chunk: string) => void;
  log?: Log;
}

export interface FuzzResult {
  /** st's exit code: 0 only when no check found anything. */
  code: number;
  output: string;
  args: string[];
}

/** `st run --checks all` against a running API, with schemathesis.toml. */
export async function runSchemathesis(o: FuzzOptions): Promise<FuzzResult> {
  const st = await resolveSchemathesis({ log: o.log });
  const base = o.baseUrl.replace(/\/+$/, '');
  const args = [
    '--config-file', SCHEMATHESIS_CONFIG,
    'run', `${base}/v1/openapi.json`,
    '--url', base,
    '--checks', 'all',
    ...(o.maxExamples ? ['--max-examples', String(o.maxExamples)] : []),
    ...(o.seed !== undefined ? ['--seed', String(o.seed)] : []),
    '--no-color',
    ...(o.extraArgs ?? []),
  ];
  const onOutput = o.onOutput ?? ((s: string) => process.stdout.write(s));
  return new Promise((resolve, reject) => {
    // The key reaches st through the environment (schemathesis.toml reads ${KEEL_FUZZ_API_KEY}), not argv.
    const child = spawn(st, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KEEL_FUZZ_API_KEY: o.apiKey, PYTHONUNBUFFERED: '1', NO_COLOR: '1', COLUMNS: '120' },
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      const s = chunk.toString();
      output += s;
      onOutput(s);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output, args }));
  });
}

/** The operator key of `npm run dev`: KEEL_API_KEYS, else .data/api-keys.json (KEEL_DATA_DIR). */
function devKey(role: string): string | undefined {
  const spec = process.env.KEEL_API_KEYS;
  if (spec) {
    const pair = spec.split(',').map((s) => s.trim()).find((p) => p.startsWith(`${role}:`));
    return pair?.slice(role.length + 1);
  }
  const file = path.resolve(REPO_ROOT, process.env.KEEL_DATA_DIR ?? '.data', 'api-keys.json');
  try {
    const token = (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)[role];
    return typeof token === 'string' ? token : undefined;
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'install') {
    console.log(await resolveSchemathesis({ install: true }));
    return 0;
  }
  if (command === 'path') {
    try {
      console.log(await resolveSchemathesis({ install: false }));
      return 0;
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  if (command === 'run') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        url: { type: 'string', default: process.env.KEEL_FUZZ_URL ?? `http://localhost:${process.env.PORT ?? 3000}` },
        key: { type: 'string', default: process.env.KEEL_FUZZ_API_KEY },
        role: { type: 'string', default: 'operator' },
        'max-examples': { type: 'string' },
        seed: { type: 'string' },
      },
    });
    const apiKey = values.key ?? devKey(values.role);
    if (!apiKey) {
      console.error(`no API key: pass --key, set KEEL_FUZZ_API_KEY, or start \`npm run dev\` (its ${values.role} key in .data/api-keys.json)`);
      return 2;
    }
    const result = await runSchemathesis({
      baseUrl: values.url,
      apiKey,
      maxExamples: values['max-examples'] ? Number(values['max-examples']) : undefined,
      seed: values.seed !== undefined ? Number(values.seed) : undefined,
      extraArgs: positionals,
    });
    return result.code;
  }
  console.error('usage: tsx scripts/schemathesis.ts install | path | run [--url URL] [--key KEY | --role ROLE] [--max-examples N] [--seed S] [-- st run options]');
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
