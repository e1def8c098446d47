// The embedded PGlite database: migrations run through its socket, several `pg` clients share it,
// and what was written survives a stop and a start on the same directory.
//
// PGlite's CommonJS build loads Node built-ins with dynamic import(), which jest's module runtime
// rejects without --experimental-vm-modules. So the database runs in a child process, as it does
// under `npm run dev`, and this test talks to it over the socket like the API and worker do.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DEFAULT_MIGRATIONS_DIR, migrate } from '../../db/migrate';

jest.setTimeout(180_000); // PGlite's first start runs initdb in WASM: several seconds on 2 cores

const ROOT = path.resolve(__dirname, '..', '..');

// Started with the data dir as argv[1]; prints the URL; closing its stdin stops it cleanly, so it
// also stops if this test process dies.
const CHILD = `
const { startEmbeddedPostgres } = require(${JSON.stringify(path.join(ROOT, 'db', 'embedded.ts'))});
startEmbeddedPostgres({ dataDir: process.argv[1], port: 0 }).then(
  (pg) => {
    process.stdout.write(JSON.stringify({ url: pg.url }) + '\\n');
    process.stdin.on('end', () => pg.stop().then(() => process.exit(0), (e) => { console.error(e); process.exit(2); }));
    process.stdin.resume();
  },
  (err) => { process.stderr.write(String(err && err.message) + '\\n'); process.exit(1); },
);`;

interface Running { url: string; stop(): Promise<number | null>; child: ChildProcessWithoutNullStreams }

function startEmbedded(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', CHILD, dataDir], { cwd: ROOT });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!stdout.includes('\n')) return;
      const { url } = JSON.parse(stdout) as { url: string };
      resolve({ url, child, stop: () => (child.stdin.end(), exited) });
    });
    void exited.then((code) => reject(new Error(`embedded database exited with ${code}: ${stderr.trim()}`)));
  });
}

let dataRoot: string;
let running: Running | undefined;

beforeAll(async () => {
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'keel-pglite-'));
});

afterAll(async () => {
  await running?.stop();
  await fs.rm(dataRoot, { recursive: true, force: true });
});

async function connect(url: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  await c.connect();
  return c;
}

// `cars` is the migrated table least likely to change shape while the schema evolves.
async function insertCar(c: Client, id: string): Promise<void> {
  await c.query('INSERT INTO cars (id) VALUES ($1)', [id]);
}

describe('startEmbeddedPostgres()', () => {
  it('migrates, serves concurrent clients and keeps its data across a restart', async () => {
    const dataDir = path.join(dataRoot, 'pglite');
    running = await startEmbedded(dataDir);
    expect(running.url).toMatch(/^postgresql:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres\?sslmode=disable$/);

    // Several migrators at once (the API and the worker both migrate at start). Behind PGlite the
    // advisory lock is shared by every connection, so this relies on migrate()'s in-transaction check.
    const runs = await Promise.all([1, 2, 3, 4].map(() => migrate(running!.url)));
    const migrations = (await fs.readdir(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).length;
    expect(runs.flatMap((r) => r.applied)).toHaveLength(migrations);

    const a = await connect(running.url);
    const b = await connect(running.url);
    try {
      // A transaction on one connection holds the other back until it commits; both writes land.
      await a.query('BEGIN');
      await insertCar(a, 'car-a');
      const fromB = insertCar(b, 'car-b');
      await a.query('COMMIT');
      await fromB;
      // Both connections writing at once, each one statement at a time.
      const writeFive = async (c: Client, parity: number) => {
        for (let i = parity; i < 10; i += 2) await insertCar(c, `car-${i}`);
      };
      await Promise.all([writeFive(a, 0), writeFive(b, 1)]);
      const { rows } = await b.query<{ n: number }>('SELECT count(*)::int AS n FROM cars');
      expect(rows[0].n).toBe(12);
      // The column types the migrations rely on, all core PostgreSQL in PGlite (no extension).
      await a.query(`CREATE TYPE "ProbeStatus" AS ENUM ('ON', 'OFF');
                     CREATE TABLE probe (id BIGSERIAL PRIMARY KEY, status "ProbeStatus" NOT NULL, details JSONB, at TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP)`);
      await b.query('INSERT INTO probe (status, details) VALUES ($1, $2)', ['ON', { via: 'pglite' }]);
    } finally {
      await a.end();
      await b.end();
    }

    // The same directory cannot be opened twice while it is in use.
    await expect(startEmbedded(dataDir)).rejects.toThrow(`in use by process ${running.child.pid}`);

    // A clean stop (exit code 0), then a start on the same directory.
    await expect(running.stop()).resolves.toBe(0);
    running = await startEmbedded(dataDir);

    await expect(migrate(running.url)).resolves.toEqual({ applied: [] });
    const c = await connect(running.url);
    try {
      const cars = await c.query<{ id: string }>('SELECT id FROM cars ORDER BY id');
      expect(cars.rows.map((r) => r.id)).toEqual(['car-0', 'car-1', 'car-2', 'car-3', 'car-4', 'car-5', 'car-6', 'car-7', 'car-8', 'car-9', 'car-a', 'car-b']);
      const probe = await c.query<{ id: string; status: string; details: unknown; at: Date }>('SELECT * FROM probe');
      expect(probe.rows).toEqual([{ id: '1', status: 'ON', details: { via: 'pglite' }, at: expect.any(Date) }]);
    } finally {
      await c.end();
    }
    await expect(running.stop()).resolves.toBe(0);
    running = undefined;
  });
});
