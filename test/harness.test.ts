// Proves the test harness itself: the Temporal server answers with Keel's search attributes, and
// createTestDatabase hands out a migrated database that drop() really removes.
import { Client as PgClient } from 'pg';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';
import { createTestDatabase, testAdminUrl } from './helpers/database';
import { testClient, uniquePrefix } from './helpers/temporal';

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new PgClient({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

// The operator service returns the IndexedValueType enum; its names are INDEXED_VALUE_TYPE_<TYPE>.
const INDEXED_VALUE_TYPES = ['UNSPECIFIED', 'TEXT', 'KEYWORD', 'INT', 'DOUBLE', 'BOOL', 'DATETIME', 'KEYWORD_LIST'];

describe('test harness', () => {
  test('Temporal answers and has every Keel search attribute registered', async () => {
    const { connection, close } = await testClient();
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      for (const { name, cliType } of SEARCH_ATTRIBUTES) {
        const type = customAttributes?.[name];
        expect({ name, type: type === undefined ? undefined : INDEXED_VALUE_TYPES[Number(type)] }).toEqual({
          name,
          type: cliType.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(),
        });
      }
    } finally {
      await close();
    }
  });

  test('createTestDatabase gives a migrated database and drop() removes it', async () => {
    const db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    try {
      expect(name).toMatch(/^keel_test_[a-z0-9]+$/);
      const rows = await query<{ n: number }>(
        db.url,
        'SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      );
      expect(rows[0]?.n).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
    const left = await query(testAdminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    expect(left).toHaveLength(0);
  });

  test('uniquePrefix is unique and a valid task queue prefix', () => {
    const a = uniquePrefix('harness test');
    expect(a).toMatch(/^t-harness-test-[0-9a-f]+$/);
    expect(uniquePrefix('harness test')).not.toBe(a);
  });
});
