// What keeps a playbook run harmless, with test-only playbooks in a temporary directory: a query that
// tries to write fails inside its read-only transaction and changes nothing; a slow one is cancelled by
// the statement timeout; rows are capped; failures are audited and leave the pool usable.
import fs from 'node:fs';
import { Client } from 'pg';
import { createPlaybookRunner, PlaybookRunError, type PlaybookRunner } from '../../db/playbook-runner';
import { loadPlaybooks } from '../../playbooks/load';
import { createTestDatabase } from '../helpers/database';
import { testPlaybookDir } from './fixtures';
import { seedPlaybookData, tableCounts } from './seed';

let database: { url: string; drop(): Promise<void> };
let dir: string;
let runner: PlaybookRunner;
const who = { actor: 'operator:safety01' };

beforeAll(async () => {
  database = await createTestDatabase();
  await seedPlaybookData(database.url);
  dir = testPlaybookDir();
  // One connection, so every test also proves that a failed run gives back a usable connection.
  runner = createPlaybookRunner({ databaseUrl: database.url, catalog: loadPlaybooks(dir), timeoutMs: 300, maxRows: 25, poolSize: 1 });
});
afterAll(async () => {
  await runner?.close();
  await database?.drop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function failure(name: string, params: Record<string, unknown> = {}): Promise<PlaybookRunError> {
  const err = await runner.run(name, params, who).then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeInstanceOf(PlaybookRunError);
  return err as PlaybookRunError;
}

async function sql<T>(text: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: database.url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('a playbook that tries to write fails in its run and writes nothing', () => {
  test.each([
    ['delete-bookings', '0A000'],
    ['take-sequence', '25006'],
    ['lock-bookings', '25006'],
  ])('%s', async (name, sqlState) => {
    const before = await tableCounts(database.url);
    const seqBefore = await sql<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM booking_events_id_seq');
    const err = await failure(name);
    expect(err.kind).toBe('read_only');
    expect(err.details?.sqlState).toBe(sqlState);
    expect(err.message).toMatch(/tried to write .* nothing was changed/);
    expect(await tableCounts(database.url)).toEqual(before);
    expect(await sql('SELECT last_value, is_called FROM booking_events_id_seq')).toEqual(seqBefore);
    // The connection went back clean: the next run works.
    expect((await runner.run('series', { n: 3 }, who)).rows).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }]);
  });
});

test('the statement timeout cancels a slow query, cleanly', async () => {
  const started = Date.now();
  const err = await failure('sleep', { seconds: 60 });
  expect(err.kind).toBe('timeout');
  expect(err.message).toMatch(/ran longer than 300 ms/);
  // PostgreSQL itself cancelled it (query_canceled), and long before the 60 s sleep would have ended:
  // the bound tells a cancelled statement from one that ran to completion, however busy the machine.
  expect(err.details?.sqlState).toBe('57014');
  expect(Date.now() - started).toBeLessThan(30_000);
  // Nothing is left running on the server.
  expect(await sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()`)).toEqual([{ n: 0 }]);
  expect((await runner.run('sleep', { seconds: 0 }, who)).rowCount).toBe(1);
});

test('a value the database refuses is the caller\'s error', async () => {
  const err = await failure('divide', { n: 0 });
  expect(err.kind).toBe('bad_value');
  expect(err.details?.sqlState).toBe('22012');
  expect((await runner.run('divide', { n: 4 }, who)).rows).toEqual([{ q: 25 }]);
});

test('rows: the limit parameter, truncated when more match, and the runner\'s maximum over everything', async () => {
  const ten = await runner.run('series', { n: 50 }, who);
  expect(ten.rows.map((r) => r.g)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(ten.truncated).toBe(true);
  const exact = await runner.run('series', { n: 20, limit: 20 }, who);
  expect([exact.rowCount, exact.truncated]).toEqual([20, false]);
  const overMax = await failure('series', { n: 50, limit: 26 });
  expect(overMax.details?.fields).toEqual([{ field: 'limit', message: expect.stringContaining('between 1 and 25') }]);
  const capped = await runner.run('series-unlimited', { n: 100 }, who);
  expect([capped.rowCount, capped.truncated, capped.rows[24]]).toEqual([25, true, { g: 25 }]);
  expect(capped.columns).toEqual([{ name: 'g', type: 'int8' }]);
});

test('failed runs are audited with their outcome', async () => {
  const rows = await sql<{ resource_id: string; details: { outcome: string; sqlState?: string; error?: string } }>(
    `SELECT resource_id, details FROM audit_log WHERE actor = $1 AND action = 'playbook.run' ORDER BY id`,
    [who.actor],
  );
  const outcomes = rows.map((r) => `${r.resource_id}:${r.details.outcome}`);
  expect(outcomes).toEqual(expect.arrayContaining([
    'delete-bookings:read_only', 'take-sequence:read_only', 'lock-bookings:read_only', 'sleep:timeout', 'divide:bad_value', 'series:invalid_params', 'series:ok',
  ]));
  expect(rows.find((r) => r.resource_id === 'sleep' && r.details.outcome === 'timeout')?.details.sqlState).toBe('57014');
});
