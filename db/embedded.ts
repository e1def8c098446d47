// The database `npm run dev` uses when DATABASE_URL is unset: PGlite (PostgreSQL compiled to WASM,
// running inside this process) persisted to a directory, served over the PostgreSQL wire protocol so
// the API and the worker connect with the same `pg`/Prisma code as in production.
//
// Limits worth knowing: PGlite is one backend session shared by every connection. A connection
// inside a transaction makes the others wait until it ends; session state (SET, advisory locks,
// prepared statement names) is shared; queries run on this process's event loop. Fine for a laptop,
// never for production.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgresOptions {
  /** Directory holding the data files, e.g. `.data/pglite`; created when missing. */
  dataDir: string;
  /** TCP port; 0 picks a free one (the returned URL has the real port). */
  port: number;
  host?: string;
  log?: (msg: string) => void;
  /** Connections served at once (default 20: the API's and the worker's pools plus tools). */
  maxConnections?: number;
}

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** A second process opening the same data directory would corrupt it; PGlite does not guard this. */
async function lockDataDir(lockFile: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return () => fs.rm(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await fs.readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(`The embedded database in ${path.dirname(lockFile)} is in use by process ${pid}; stop it first.`, { cause: err });
      }
      await fs.rm(lockFile, { force: true }); // left behind by a process that died: take it over
    }
  }
  throw new Error(`Could not lock ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  const host = opts.host ?? '127.0.0.1';
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  const unlock = await lockDataDir(`${dataDir}.lock`);

  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    const started = Date.now();
    // Only core PostgreSQL is used by the migrations (enums, BIGSERIAL, JSONB, TIMESTAMPTZ), so no
    // PGlite extension is loaded.
    db = await PGlite.create({ dataDir });
    server = new PGLiteSocketServer({ db, port: opts.port, host, maxConnections: opts.maxConnections ?? 20 });
    await server.start();
    const port = Number(server.getServerConn().split(':').pop());
    // Clients must not try to reach 0.0.0.0/:: even if the server listens on every interface.
    const clientHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    const url = `postgresql://postgres:postgres@${clientHost.includes(':') ? `[${clientHost}]` : clientHost}:${port}/postgres?sslmode=disable`;
    log(`Embedded PostgreSQL (PGlite) serving ${dataDir} on ${host}:${port} (ready in ${Date.now() - started} ms)`);

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        try {
          // Closing the server detaches every client (their open transactions are rolled back).
          await server!.stop();
          // Let those rollbacks, started without being awaited by stop(), reach PGlite first.
          await new Promise((resolve) => setImmediate(resolve));
          // A clean close shuts PostgreSQL down with a checkpoint, so the next start needs no recovery.
          await db!.close();
          log('Embedded PostgreSQL stopped');
        } finally {
          await unlock();
        }
      })());
    return { url, stop };
  } catch (err) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await unlock();
    throw err;
  }
}
