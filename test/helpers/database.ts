// One fresh, migrated database per test file (or per test): tests never see each other's rows, and
// running them in parallel workers needs no cleanup between files.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../../db/migrate';

export function testAdminUrl(): string {
  const url = process.env.KEEL_TEST_DATABASE_URL;
  if (!url) throw new Error('KEEL_TEST_DATABASE_URL is not set: run tests through jest (test/global-setup.ts sets it).');
  return url;
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: testAdminUrl(), connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined); // a server-side disconnect must not crash the jest worker
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `keel_test_<random>` on the admin server, applies prisma/migrations, returns its URL. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `keel_test_${randomBytes(6).toString('hex')}`;
  // Only [a-z0-9_] in the name, so quoting it as an identifier is safe without escaping.
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(testAdminUrl());
  u.pathname = `/${name}`;
  const url = u.toString();

  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await withAdmin(async (c) => {
      // Pools in the test may still hold connections; they must go or DROP DATABASE fails.
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      const version = Number((await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v);
      // WITH (FORCE) (PostgreSQL 13+) also covers a connection that arrives after the terminate.
      await c.query(`DROP DATABASE IF EXISTS "${name}"${version >= 130000 ? ' WITH (FORCE)' : ''}`);
    });
  };

  try {
    await migrate(url);
  } catch (err) {
    await drop().catch(() => undefined);
    throw err;
  }
  return { url, drop };
}
