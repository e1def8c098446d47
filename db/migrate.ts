// Applies prisma/migrations the way `prisma migrate deploy` does, without Prisma's schema engine
// (which cannot be downloaded here). The bookkeeping is Prisma's own `_prisma_migrations` table, with
// Prisma's checksums and advisory-lock key, so a database migrated here stays readable by
// `prisma migrate status`/`deploy` wherever the engine is available, and the other way round.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

/** The key Prisma Migrate locks (see prisma-engines, sql-schema-connector/src/flavour/postgres.rs). */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

export const DEFAULT_MIGRATIONS_DIR = path.resolve(__dirname, '..', 'prisma', 'migrations');

export interface MigrateOptions {
  log?: (msg: string) => void;
  migrationsDir?: string;
  /** How long to wait for another process holding the migrate lock (default 120 s). */
  lockTimeoutMs?: number;
}

/** A refusal or failure the operator must act on; the CLI prints its message without a stack. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

interface LocalMigration {
  name: string;
  script: string;
}

interface HistoryRow {
  id: string;
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  started_at: Date;
  logs: string | null;
}

// Prisma's DDL for the table, column for column (create_migrations_table in the same file).
const CREATE_HISTORY_TABLE = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`;

/** sha256 hex of the script text, as Prisma's render_checksum computes it. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

/** Prisma accepts the file with either line ending, since git may have converted it. */
function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replace(/\r\n/g, '\n'), script.replace(/\r?\n/g, '\r\n')];
  return variants.some((v) => migrationChecksum(v) === checksum);
}

async function readLocalMigrations(dir: string): Promise<LocalMigration[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new MigrationError(`Cannot read migrations directory ${dir}: ${(err as Error).message}`);
  }
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: LocalMigration[] = [];
  for (const name of names) {
    const file = path.join(dir, name, 'migration.sql');
    try {
      out.push({ name, script: await fs.readFile(file, 'utf8') });
    } catch {
      throw new MigrationError(`Migration directory ${name} has no migration.sql (${file}).`);
    }
  }
  return out;
}

async function acquireLock(client: Client, timeoutMs: number, log: (msg: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  // Polling the try-variant (instead of a blocking pg_advisory_lock) lets us give up with a clear
  // message and tell the operator we are waiting rather than hanging silently.
  for (;;) {
    const res = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY}) AS locked`);
    if (res.rows[0]?.locked) return;
    if (Date.now() >= deadline) {
      throw new MigrationError(
        `Timed out after ${timeoutMs} ms waiting for the migration lock (pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})); ` +
          'another migrator is still running. A transaction-mode connection pooler also causes this: use a direct connection.',
      );
    }
    if (!announced) log('Another process is applying migrations; waiting for it to finish.');
    announced = true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Refuses to go on when the history does not match the files: nothing is applied in that case. */
function checkHistory(local: LocalMigration[], rows: HistoryRow[]): Set<string> {
  const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
  if (failed.length > 0) {
    const list = failed
      .map((r) => `  - ${r.migration_name} (started ${r.started_at.toISOString()}, id ${r.id})${r.logs ? `\n${r.logs}` : ''}`)
      .join('\n');
    throw new MigrationError(
      `Found failed migrations in the database; new migrations will not be applied:\n${list}\n` +
        'Repair the database by hand (finish or undo the migration), then either mark it rolled back ' +
        `(UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = '<id>') so it runs again, ` +
        'or mark it applied (SET finished_at = now(), applied_steps_count = 1).',
    );
  }
  const byName = new Map(local.map((m) => [m.name, m]));
  const applied = rows.filter((r) => r.finished_at !== null && r.rolled_back_at === null);
  const missing = applied.filter((r) => !byName.has(r.migration_name)).map((r) => r.migration_name);
  if (missing.length > 0) {
    throw new MigrationError(
      `The database has applied migrations that are not in the migrations directory: ${[...new Set(missing)].join(', ')}. ` +
        'Restore them from version control (or point at the right database) before migrating.',
    );
  }
  const changed = applied.filter((r) => !scriptMatchesChecksum(byName.get(r.migration_name)!.script, r.checksum));
  if (changed.length > 0) {
    throw new MigrationError(
      `Migrations were modified after they were applied: ${[...new Set(changed.map((r) => r.migration_name))].join(', ')}. ` +
        'Restore the original migration.sql and put the change in a new migration.',
    );
  }
  return new Set(applied.map((r) => r.migration_name));
}

/** Where in the script PostgreSQL reported the error, to point the developer at the statement. */
function describeFailure(name: string, script: string, err: unknown): string {
  const e = err as { message?: string; position?: string; detail?: string };
  let where = '';
  const pos = Number(e.position);
  if (Number.isInteger(pos) && pos > 0) {
    const line = script.slice(0, pos - 1).split('\n').length;
    where = ` at line ${line} of ${name}/migration.sql`;
  }
  return `Migration ${name} failed${where}: ${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}. ` +
    'It was rolled back; nothing of it was applied.';
}

/** Applies one migration and its history row in one transaction. False when already applied. */
async function applyOne(client: Client, m: LocalMigration): Promise<boolean> {
  await client.query('BEGIN');
  try {
    // Behind PGlite's socket every connection shares one backend session, so the advisory lock does
    // not exclude a second migrator there. Transactions are exclusive, so re-checking inside this
    // one makes the double apply impossible; on PostgreSQL the lock already guarantees it.
    const done = await client.query(
      'SELECT 1 FROM _prisma_migrations WHERE migration_name = $1 AND finished_at IS NOT NULL AND rolled_back_at IS NULL',
      [m.name],
    );
    if (done.rowCount) {
      await client.query('ROLLBACK');
      return false;
    }
    try {
      // No parameters: the simple query protocol runs a multi-statement script in one round trip.
      await client.query(m.script);
    } catch (err) {
      throw new MigrationError(describeFailure(m.name, m.script, err), { cause: err });
    }
    await client.query(
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), migrationChecksum(m.script), m.name],
    );
    await client.query('COMMIT');
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export async function migrate(
  databaseUrl: string,
  opts: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  // Read the files first: a broken directory fails before the database is touched.
  const local = await readLocalMigrations(dir);
  // A bounded connect: an unreachable host should fail in seconds, not after the OS TCP timeout.
  const client = new Client({ connectionString: databaseUrl, application_name: 'keel-migrate', connectionTimeoutMillis: 15_000 });
  // A dropped connection also rejects the pending query; without a listener it would crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await acquireLock(client, opts.lockTimeoutMs ?? 120_000, log);
    try {
      await client.query(CREATE_HISTORY_TABLE);
      const { rows } = await client.query<HistoryRow>(
        'SELECT id, migration_name, checksum, finished_at, rolled_back_at, started_at, logs FROM _prisma_migrations ORDER BY started_at',
      );
      const alreadyApplied = checkHistory(local, rows);
      const pending = local.filter((m) => !alreadyApplied.has(m.name));
      const applied: string[] = [];
      for (const m of pending) {
        const started = Date.now();
        if (await applyOne(client, m)) {
          applied.push(m.name);
          log(`Applied migration ${m.name} (${Date.now() - started} ms)`);
        }
      }
      if (applied.length === 0) log(`No pending migrations (${local.length} in ${dir}).`);
      return { applied };
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${PRISMA_MIGRATE_LOCK_KEY})`).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}
