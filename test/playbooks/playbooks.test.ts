// Every shipped playbook, run through the real runner against seeded PostgreSQL: each returns the rows
// it promises and leaves out the others; parameters are bound (an injection attempt finds nothing
// and changes nothing); every run, refused ones included, is audited; the CLI runs the same way.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { PLAYBOOK_ENUMS } from '../../domain/playbook';
import { createPlaybookRunner, PlaybookRunError, type PlaybookRunner } from '../../db/playbook-runner';
import { loadPlaybooks } from '../../playbooks/load';
import { createTestDatabase } from '../helpers/database';
import { DAY, seedPlaybookData, tableCounts, type Seeded } from './seed';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');

let database: { url: string; drop(): Promise<void> };
let runner: PlaybookRunner;
let seeded: Seeded;
const who = { actor: 'operator:test0001', requestId: 'req-playbooks' };

beforeAll(async () => {
  database = await createTestDatabase();
  seeded = await seedPlaybookData(database.url);
  runner = createPlaybookRunner({ databaseUrl: database.url, catalog: loadPlaybooks() });
});
afterAll(async () => {
  await runner?.close();
  await database?.drop();
});

const ids = (rows: Record<string, unknown>[], key = 'booking_id') => rows.map((r) => r[key]);

async function query<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  const c = new Client({ connectionString: database.url });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows as T[];
  } finally {
    await c.end();
  }
}

describe('the shipped playbooks on seeded data', () => {
  test('there are at least nine, each with a description', () => {
    const names = runner.list().map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining([
      'customer-bookings', 'not-started', 'overdue-bookings', 'no-shows', 'bookings-by-status',
      'user-deliveries', 'campaign-failed-deliveries', 'promo-code-holder', 'incidents-in-period',
    ]));
    for (const p of runner.list()) expect(p.description.length).toBeGreaterThan(20);
  });

  test('every playbook runs with its defaults (required ones given) and names its columns', async () => {
    const required: Record<string, string> = {
      customer_id: 'cust-1', user_id: 'user-1', campaign_id: 'camp-recent', code: 'WINTER-1', booking_id: 'bk-c1-recent', status: 'ONGOING',
    };
    for (const p of runner.list()) {
      const params = Object.fromEntries(p.params.filter((s) => s.required).map((s) => [s.name, required[s.name]]));
      const r = await runner.run(p.name, params, who);
      expect(r.columns.length).toBeGreaterThan(0);
      expect(new Set(r.columns.map((c) => c.name)).size).toBe(r.columns.length);
      expect(r.rowCount).toBeGreaterThan(0);
    }
  });

  test('customer-bookings: the customer\'s bookings since 90 days, newest first; status filter; since', async () => {
    const r = await runner.run('customer-bookings', { customer_id: 'cust-1' }, who);
    expect(ids(r.rows)).toEqual(['bk-c1-future', 'bk-c1-recent']);
    expect(r.params).toMatchObject({ customer_id: 'cust-1', status: null, limit: 100 });
    expect(Date.parse(r.params.since as string)).toBeCloseTo(seeded.now - 90 * DAY, -5);
    expect(r.columns).toEqual(expect.arrayContaining([{ name: 'status', type: 'BookingStatus' }, { name: 'starts_at', type: 'timestamptz' }]));

    const confirmed = await runner.run('customer-bookings', { customer_id: 'cust-1', status: 'confirmed' }, who);
    expect(ids(confirmed.rows)).toEqual(['bk-c1-future']);
    expect(confirmed.params.status).toBe('CONFIRMED');

    const all = await runner.run('customer-bookings', { customer_id: 'cust-1', since: 'now-365d' }, who);
    expect(ids(all.rows)).toEqual(['bk-c1-future', 'bk-c1-recent', 'bk-c1-old']);
    const fromDate = await runner.run('customer-bookings', { customer_id: 'cust-1', since: seeded.at(-20 * DAY) }, who);
    expect(ids(fromDate.rows)).toEqual(['bk-c1-future', 'bk-c1-recent']);
  });

  test('not-started: CONFIRMED past start by more than the grace', async () => {
    const r = await runner.run('not-started', {}, who);
    expect(ids(r.rows)).toEqual(['bk-late']);
    expect(r.rows[0].minutes_late).toBeGreaterThanOrEqual(29);
    const tighter = await runner.run('not-started', { grace: '1m' }, who);
    expect(ids(tighter.rows)).toEqual(['bk-late', 'bk-just-started']);
    const looser = await runner.run('not-started', { grace: '1h' }, who);
    expect(looser.rows).toEqual([]);
  });

  test('overdue-bookings: marked OVERDUE, and ONGOING past the end (unmarked), not ONGOING in time', async () => {
    const r = await runner.run('overdue-bookings', {}, who);
    expect(ids(r.rows)).toEqual(['bk-overdue-marked', 'bk-overdue-unmarked']);
    expect(r.rows.map((x) => x.marked)).toEqual([true, false]);
    const withGrace = await runner.run('overdue-bookings', { grace: '30m' }, who);
    expect(ids(withGrace.rows)).toEqual(['bk-overdue-marked']);
  });

  test('no-shows: NO_SHOW starting in the period (default: the last 7 days)', async () => {
    expect(ids((await runner.run('no-shows', {}, who)).rows)).toEqual(['bk-noshow-recent']);
    const month = await runner.run('no-shows', { period: 'now-30d/now' }, who);
    expect(ids(month.rows)).toEqual(['bk-noshow-old', 'bk-noshow-recent']);
    const explicit = await runner.run('no-shows', { period: `${seeded.at(-21 * DAY)}/${seeded.at(-19 * DAY)}` }, who);
    expect(ids(explicit.rows)).toEqual(['bk-noshow-old']);
    expect(explicit.params.period).toEqual({ start: seeded.at(-21 * DAY), end: seeded.at(-19 * DAY) });
    expect((await runner.run('no-shows', { period: 'now-30d/now', customer_id: 'cust-1' }, who)).rows).toEqual([]);
  });

  test('bookings-by-status: in the status and overlapping the period', async () => {
    const r = await runner.run('bookings-by-status', { status: 'ONGOING', period: 'now-30m/now' }, who);
    expect(ids(r.rows)).toEqual(['bk-overdue-unmarked', 'bk-ongoing']);
    // bk-overdue-unmarked ended 10 minutes ago: a bracket after that leaves it out.
    const later = await runner.run('bookings-by-status', { status: 'ONGOING', period: 'now-5m/now+1h' }, who);
    expect(ids(later.rows)).toEqual(['bk-ongoing']);
    const confirmed = await runner.run('bookings-by-status', { status: 'CONFIRMED', period: 'now/now+3d' }, who);
    expect(ids(confirmed.rows)).toEqual(['bk-late', 'bk-just-started', 'bk-c1-future', 'bk-c2-future']);
  });

  test('booking-events: the transitions of one booking in order, with lateness', async () => {
    const r = await runner.run('booking-events', { booking_id: 'bk-c1-recent' }, who);
    expect(r.rows.map((e) => e.action)).toEqual(['create', 'start']);
    expect(r.rows.map((e) => e.late_seconds)).toEqual([null, 30]);
  });

  test('user-deliveries: one user\'s messages of recent campaigns; since and status', async () => {
    const r = await runner.run('user-deliveries', { user_id: 'user-1' }, who);
    expect(r.rows).toEqual([expect.objectContaining({ campaign_id: 'camp-recent', status: 'SENT', promo_code: 'WINTER-1' })]);
    const all = await runner.run('user-deliveries', { user_id: 'user-2', since: 'now-365d' }, who);
    expect(ids(all.rows, 'campaign_id')).toEqual(['camp-recent', 'camp-old']);
    const failed = await runner.run('user-deliveries', { user_id: 'user-2', status: 'FAILED' }, who);
    expect(failed.rows).toEqual([expect.objectContaining({ campaign_id: 'camp-recent', last_error: 'mailbox full', attempts: 3 })]);
    expect((await runner.run('user-deliveries', { user_id: 'user-1', status: 'FAILED' }, who)).rows).toEqual([]);
  });

  test('campaign-failed-deliveries: the FAILED ones of that campaign only, in audience order', async () => {
    const r = await runner.run('campaign-failed-deliveries', { campaign_id: 'camp-recent' }, who);
    expect(r.rows.map((d) => [d.user_id, d.last_error, d.email])).toEqual([
      ['user-2', 'mailbox full', 'two@example.com'],
      ['user-3', 'bounced', 'three@example.com'],
    ]);
  });

  test('promo-code-holder: the holder of an assigned code, none for a free one, nothing for an unknown one', async () => {
    const r = await runner.run('promo-code-holder', { code: 'WINTER-1' }, who);
    expect(r.rows).toEqual([expect.objectContaining({ code: 'WINTER-1', pool_id: 'pool-1', user_id: 'user-1', user_email: 'one@example.com', campaign_id: 'camp-recent', delivery_status: 'SENT' })]);
    const free = await runner.run('promo-code-holder', { code: 'WINTER-2', pool_id: 'pool-1' }, who);
    expect(free.rows).toEqual([expect.objectContaining({ code: 'WINTER-2', user_id: null, delivery_status: null })]);
    expect((await runner.run('promo-code-holder', { code: 'WINTER-1', pool_id: 'pool-2' }, who)).rows).toEqual([]);
    expect((await runner.run('promo-code-holder', { code: 'winter-1' }, who)).rows).toEqual([]);
  });

  test('incidents-in-period: declared in the period (default 30 days), drills marked; status filter', async () => {
    const r = await runner.run('incidents-in-period', {}, who);
    expect(r.rows.map((i) => [i.incident_id, i.drill])).toEqual([['inc-recent', false], ['inc-drill', true]]);
    expect(r.rows[0].components).toEqual(['booking-api']);
    const resolved = await runner.run('incidents-in-period', { period: 'now-60d/now', status: 'RESOLVED' }, who);
    expect(ids(resolved.rows, 'incident_id')).toEqual(['inc-old']);
  });

  test('a limit truncates and says so', async () => {
    const r = await runner.run('bookings-by-status', { status: 'CONFIRMED', period: 'now/now+3d', limit: 3 }, who);
    expect(r.rowCount).toBe(3);
    expect(r.truncated).toBe(true);
    const exact = await runner.run('bookings-by-status', { status: 'CONFIRMED', period: 'now/now+3d', limit: '4' }, who);
    expect(exact.rowCount).toBe(4);
    expect(exact.truncated).toBe(false);
  });

  test('the enums parameters may name match the database\'s', async () => {
    const rows = await query<{ typname: string; labels: string[] }>(
      `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typname = ANY($1) GROUP BY t.typname`,
      [Object.keys(PLAYBOOK_ENUMS)],
    );
    expect(Object.fromEntries(rows.map((r) => [r.typname, r.labels]))).toEqual(
      Object.fromEntries(Object.entries(PLAYBOOK_ENUMS).map(([k, v]) => [k, [...v]])),
    );
  });
});

describe('parameters are bound, never interpolated', () => {
  const attempts = ["x' OR '1'='1", "WINTER-1' OR 'a'='a", "'; DELETE FROM promo_codes; --", 'WINTER-1\'; DROP TABLE bookings; --'];

  test('an injection in a text parameter matches nothing and changes nothing', async () => {
    const before = await tableCounts(database.url);
    for (const code of attempts) {
      const r = await runner.run('promo-code-holder', { code }, who);
      expect(r.rows).toEqual([]);
      expect(r.params.code).toBe(code);
    }
    expect(await tableCounts(database.url)).toEqual(before);
  });

  test('an injection in an id parameter is refused by its type, naming the parameter', async () => {
    const err = await runner.run('customer-bookings', { customer_id: "x' OR '1'='1" }, who).catch((e) => e);
    expect(err).toBeInstanceOf(PlaybookRunError);
    expect(err.kind).toBe('invalid_params');
    expect(err.details.fields).toEqual([{ field: 'customer_id', message: expect.stringContaining('A-Z, a-z, 0-9') }]);
  });

  test('bad, missing and unknown parameters are refused together, each named', async () => {
    const err = await runner.run('no-shows', { period: 'now/now-7d', customer_id: 'a b', colour: 'red' }, who).catch((e) => e);
    expect(err.kind).toBe('invalid_params');
    expect(err.details.fields.map((f: { field: string }) => f.field).sort()).toEqual(['colour', 'customer_id', 'period']);
    expect(err.details.fields.find((f: { field: string }) => f.field === 'period').message).toMatch(/must be before end/);

    const missing = await runner.run('customer-bookings', {}, who).catch((e) => e);
    expect(missing.details.fields).toEqual([{ field: 'customer_id', message: 'is required (id)' }]);
    const badEnum = await runner.run('customer-bookings', { customer_id: 'cust-1', status: 'LOST' }, who).catch((e) => e);
    expect(badEnum.details.fields[0]).toEqual({ field: 'status', message: expect.stringContaining('CONFIRMED, ONGOING') });
    const tooMany = await runner.run('customer-bookings', { customer_id: 'cust-1', limit: 10_001 }, who).catch((e) => e);
    expect(tooMany.details.fields[0]).toEqual({ field: 'limit', message: expect.stringContaining('between 1 and 10000') });
    const unknown = await runner.run('no-such-playbook', {}, who).catch((e) => e);
    expect(unknown.kind).toBe('not_found');
  });
});

describe('audit', () => {
  test('every run is audited: actor, playbook, resolved params, rows, duration, outcome; refused runs too', async () => {
    const actor = 'operator:audit001';
    await runner.run('customer-bookings', { customer_id: 'cust-1', limit: 1 }, { actor, requestId: 'req-audit-1' });
    await runner.run('customer-bookings', { customer_id: "x' OR 1=1" }, { actor, requestId: 'req-audit-2' }).catch(() => undefined);
    const rows = await query<{ action: string; resource_type: string; resource_id: string; request_id: string; details: Record<string, unknown> }>(
      `SELECT action, resource_type, resource_id, request_id, details FROM audit_log WHERE actor = $1 ORDER BY id`,
      [actor],
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ action: 'playbook.run', resource_type: 'playbook', resource_id: 'customer-bookings', request_id: 'req-audit-1' });
    expect(rows[0].details).toMatchObject({ outcome: 'ok', rowCount: 1, truncated: true, limit: 1, params: { customer_id: 'cust-1', status: null, limit: 1 } });
    expect(typeof rows[0].details.durationMs).toBe('number');
    expect(rows[1].details).toMatchObject({ outcome: 'invalid_params', params: { customer_id: "x' OR 1=1" } });
  });
});

describe('npm run playbook (CLI)', () => {
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(path.join(ROOT, 'node_modules/.bin/tsx'), ['scripts/playbook.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env },
      timeout: 60_000,
    });

  test('prints the rows as a table, as CSV, and audits the run as cli:<os user>', async () => {
    const { stdout, stderr } = await cli(['customer-bookings', '--param', 'customer_id=cust-1', '--param', 'since=now-365d']);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^booking_id\s+status\s+car_id/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['bk-c1-future', 'bk-c1-recent', 'bk-c1-old']);
    expect(stderr).toMatch(/3 rows in \d+ ms/);

    const csv = await cli(['overdue-bookings', '--csv']);
    expect(csv.stdout.split('\r\n')[0]).toBe('booking_id,customer_id,car_id,status,marked,starts_at,ends_at,minutes_overdue,connected_at');
    expect(csv.stdout).toContain('bk-overdue-marked,cust-4,');

    const user = os.userInfo().username;
    const audit = await query<{ n: string }>(`SELECT count(*) AS n FROM audit_log WHERE actor = $1 AND resource_id = 'customer-bookings'`, [`cli:${user}`]);
    expect(Number(audit[0].n)).toBe(1);
  }, 90_000);

  test('bad parameters exit 2 naming the parameter; --list lists the playbooks', async () => {
    const bad = await cli(['customer-bookings', '--param', "customer_id=x' OR '1'='1"]).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/customer_id: must be 1-200 characters/);
    const list = await cli(['--list']);
    expect(list.stdout).toMatch(/^customer-bookings$/m);
    expect(list.stdout).toContain('--param customer_id=<id>  required');
  }, 90_000);
});

test('relative defaults resolve against the run time', async () => {
  const pinned = createPlaybookRunner({ databaseUrl: database.url, catalog: loadPlaybooks(), now: () => new Date(seeded.now - 15 * DAY) });
  try {
    // 15 days ago, "the last 7 days" holds the old no-show (20 days before now), not the recent one.
    const r = await pinned.run('no-shows', {}, who);
    expect(ids(r.rows)).toEqual(['bk-noshow-old']);
    expect(r.params.period).toEqual({ start: new Date(seeded.now - 22 * DAY).toISOString(), end: new Date(seeded.now - 15 * DAY).toISOString() });
  } finally {
    await pinned.close();
  }
});
