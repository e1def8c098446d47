// The migration runner against a real PostgreSQL: Prisma-compatible bookkeeping, idempotence,
// refusals that apply nothing, one apply under concurrency, and atomic failure.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { DEFAULT_MIGRATIONS_DIR, migrate, migrationChecksum, MigrationError } from '../../db/migrate';
import { createTestDatabase } from '../helpers/database';

type TestDatabase = Awaited<ReturnType<typeof createTestDatabase>>;

const databases: TestDatabase[] = [];
const tempDirs: string[] = [];

/** An empty database: the shared helper's (which migrates it) with its schema wiped. */
async function freshDb(): Promise<string> {
  const db = await createTestDatabase();
  databases.push(db);
  await query(db.url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  return db.url;
}

/** A private copy of prisma/migrations that a test may edit. */
async function copyOfMigrations(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keel-migrations-'));
  tempDirs.push(dir);
  await fs.cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await fs.mkdir(path.join(dir, name));
  await fs.writeFile(path.join(dir, name, 'migration.sql'), sql);
}

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

async function tableExists(url: string, table: string): Promise<boolean> {
  const [row] = await query<{ ok: boolean }>(url, 'SELECT to_regclass($1) IS NOT NULL AS ok', [table]);
  return row.ok;
}

async function localMigrationNames(dir = DEFAULT_MIGRATIONS_DIR): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

afterAll(async () => {
  await Promise.all(databases.map((d) => d.drop()));
  await Promise.all(tempDirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

describe('migrate()', () => {
  it('applies every migration to an empty database and records it as Prisma does', async () => {
    const url = await freshDb();
    const names = await localMigrationNames();
    const logs: string[] = [];

    const result = await migrate(url, { log: (m) => logs.push(m) });

    expect(result.applied).toEqual(names);
    expect(logs.filter((l) => l.startsWith('Applied migration'))).toHaveLength(names.length);
    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number; id: string; rolled_back_at: Date | null }>(
      url,
      'SELECT * FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.map((r) => r.migration_name)).toEqual(names);
    for (const r of rows) {
      const script = await fs.readFile(path.join(DEFAULT_MIGRATIONS_DIR, r.migration_name, 'migration.sql'), 'utf8');
      expect(r.checksum).toBe(migrationChecksum(script));
      expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(r.finished_at).toBeInstanceOf(Date);
      expect(r.rolled_back_at).toBeNull();
      expect(r.applied_steps_count).toBe(1);
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
    }
    // The table has exactly Prisma's shape, so `prisma migrate status` can read it.
    const columns = await query<{ column_name: string; type: string; nullable: string; column_default: string | null }>(
      url,
      `SELECT column_name, format_type(a.atttypid, a.atttypmod) AS type, is_nullable AS nullable, column_default
       FROM information_schema.columns c
       JOIN pg_attribute a ON a.attrelid = '_prisma_migrations'::regclass AND a.attname = c.column_name
       WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', type: 'character varying(36)', nullable: 'NO', column_default: null },
      { column_name: 'checksum', type: 'character varying(64)', nullable: 'NO', column_default: null },
      { column_name: 'finished_at', type: 'timestamp with time zone', nullable: 'YES', column_default: null },
      { column_name: 'migration_name', type: 'character varying(255)', nullable: 'NO', column_default: null },
      { column_name: 'logs', type: 'text', nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', type: 'timestamp with time zone', nullable: 'YES', column_default: null },
      { column_name: 'started_at', type: 'timestamp with time zone', nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', type: 'integer', nullable: 'NO', column_default: '0' },
    ]);
    const [pk] = await query<{ def: string }>(url, `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = '_prisma_migrations'::regclass AND contype = 'p'`);
    expect(pk.def).toBe('PRIMARY KEY (id)');
  });

  it('applies nothing the second time', async () => {
    const url = await freshDb();
    await migrate(url);
    const before = await query(url, 'SELECT * FROM _prisma_migrations');

    await expect(migrate(url)).resolves.toEqual({ applied: [] });
    expect(await query(url, 'SELECT * FROM _prisma_migrations')).toEqual(before);
  });

  it('applies only the new migration when one is added', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    await migrate(url, { migrationsDir: dir });
    await addMigration(dir, '29990101000000_add_widgets', 'CREATE TABLE "widgets" ("id" INTEGER NOT NULL);\n');

    await expect(migrate(url, { migrationsDir: dir })).resolves.toEqual({ applied: ['29990101000000_add_widgets'] });
    expect(await tableExists(url, 'widgets')).toBe(true);
  });

  it('refuses, applying nothing, when an applied migration was edited', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    const [first] = await localMigrationNames(dir);
    await migrate(url, { migrationsDir: dir });
    await fs.appendFile(path.join(dir, first, 'migration.sql'), '\n-- an innocent-looking edit\n');
    await addMigration(dir, '29990101000000_add_widgets', 'CREATE TABLE "widgets" ("id" INTEGER NOT NULL);\n');

    const run = migrate(url, { migrationsDir: dir });
    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(`Migrations were modified after they were applied: ${first}`);
    expect(await tableExists(url, 'widgets')).toBe(false);
  });

  it('accepts an applied migration whose line endings git converted to CRLF, as Prisma does', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    await migrate(url, { migrationsDir: dir });
    for (const name of await localMigrationNames(dir)) {
      const file = path.join(dir, name, 'migration.sql');
      await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace(/\n/g, '\r\n'));
    }
    await expect(migrate(url, { migrationsDir: dir })).resolves.toEqual({ applied: [] });
  });

  it('refuses when an applied migration is missing from the directory', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    await addMigration(dir, '29990101000000_add_widgets', 'CREATE TABLE "widgets" ("id" INTEGER NOT NULL);\n');
    await migrate(url, { migrationsDir: dir });
    await fs.rm(path.join(dir, '29990101000000_add_widgets'), { recursive: true });

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /applied migrations that are not in the migrations directory: 29990101000000_add_widgets/,
    );
  });

  it('refuses while a previous migration is recorded as failed (as `prisma migrate deploy` does)', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    await migrate(url, { migrationsDir: dir });
    await query(url, `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('00000000-0000-0000-0000-000000000001', $1, '29990101000000_add_widgets', 'boom')`, ['0'.repeat(64)]);
    await addMigration(dir, '29990101000000_add_widgets', 'CREATE TABLE "widgets" ("id" INTEGER NOT NULL);\n');

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(/failed migrations in the database[\s\S]*29990101000000_add_widgets/);
    expect(await tableExists(url, 'widgets')).toBe(false);

    // After the operator marks it rolled back, it is applied again.
    await query(url, `UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = '00000000-0000-0000-0000-000000000001'`);
    await expect(migrate(url, { migrationsDir: dir })).resolves.toEqual({ applied: ['29990101000000_add_widgets'] });
  });

  it('applies each migration once when several processes start at the same time', async () => {
    const url = await freshDb();
    const names = await localMigrationNames();

    const results = await Promise.all([migrate(url), migrate(url), migrate(url), migrate(url)]);

    expect(results.flatMap((r) => r.applied).sort()).toEqual(names);
    const rows = await query<{ migration_name: string }>(url, 'SELECT migration_name FROM _prisma_migrations ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(names);
  });

  it('rolls a failing migration back completely and records nothing for it', async () => {
    const url = await freshDb();
    const dir = await copyOfMigrations();
    const good = await localMigrationNames(dir);
    const broken = '29990101000000_broken';
    await addMigration(dir, broken, 'CREATE TABLE "half_done" ("id" INTEGER NOT NULL);\n\nINSERT INTO "no_such_table" VALUES (1);\n');

    const run = migrate(url, { migrationsDir: dir });
    await expect(run).rejects.toBeInstanceOf(MigrationError);
    await expect(run).rejects.toThrow(`Migration ${broken} failed at line 3 of ${broken}/migration.sql: relation "no_such_table" does not exist`);

    // The earlier migrations stay applied; the broken one left no table and no history row.
    expect(await tableExists(url, 'half_done')).toBe(false);
    const rows = await query<{ migration_name: string; finished_at: Date | null }>(url, 'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name');
    expect(rows.map((r) => r.migration_name)).toEqual(good);
    expect(rows.every((r) => r.finished_at !== null)).toBe(true);

    // Nothing was half-applied, so once the file is fixed the next run simply applies it.
    await fs.writeFile(path.join(dir, broken, 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER NOT NULL);\n');
    await expect(migrate(url, { migrationsDir: dir })).resolves.toEqual({ applied: [broken] });
  });

  it('refuses a migration directory without migration.sql before touching the database', async () => {
    const dir = await copyOfMigrations();
    await fs.mkdir(path.join(dir, '29990101000000_empty'));
    // The URL is never used: the directory is checked first.
    await expect(migrate('postgresql://nobody@127.0.0.1:1/none', { migrationsDir: dir })).rejects.toThrow(/29990101000000_empty has no migration.sql/);
  });
});
