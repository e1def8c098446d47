// /v1/playbooks through the real app (stack): roles, listing, running as JSON and as CSV, and every
// bad input answered with a 4xx naming what is wrong (never a 5xx). The playbooks served are the
// shipped ones plus the test-only ones of fixtures.ts (writing, sleeping, tricky values).
import fs from 'node:fs';
import { parse as parseCsv } from 'csv-parse/sync';
import { Client } from 'pg';
import type { Role } from '../../api/auth';
import { startStack, type Stack } from '../helpers/stack';
import { testPlaybookDir } from './fixtures';
import { seedPlaybookData, tableCounts } from './seed';

let stack: Stack;
let dir: string;

beforeAll(async () => {
  dir = testPlaybookDir(true);
  stack = await startStack({ name: 'playbooks-api', workers: [], playbooksDir: dir, playbookSettings: { timeoutMs: 300, maxRows: 1000 } });
  await seedPlaybookData(stack.workerDbUrl);
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const RUN = '/v1/playbooks/customer-bookings/run';
const body = { params: { customer_id: 'cust-1', since: 'now-365d' } };

describe('roles', () => {
  const routes: Array<[string, (role: Role | null) => Promise<{ status: number }>]> = [
    ['GET /v1/playbooks', (role) => stack.api(role).get('/v1/playbooks')],
    ['GET /v1/playbooks/:name', (role) => stack.api(role).get('/v1/playbooks/customer-bookings')],
    ['POST /v1/playbooks/:name/run', (role) => stack.api(role).post(RUN, body)],
  ];
  test.each(routes)('%s: operator and commander 200; viewer and service 403; no key 401', async (_route, call) => {
    expect((await call('operator')).status).toBe(200);
    expect((await call('commander')).status).toBe(200);
    for (const role of ['viewer', 'service'] as const) {
      const res = (await call(role)) as { status: number; body: { error: { code: string } } };
      expect([role, res.status, res.body.error.code]).toEqual([role, 403, 'FORBIDDEN']);
    }
    expect((await call(null)).status).toBe(401);
  });
});

test('GET /v1/playbooks lists every playbook with its parameter specs; GET one adds its SQL', async () => {
  const res = await stack.api('operator').get('/v1/playbooks');
  expect(res.body.maxRows).toBe(1000);
  const byName = Object.fromEntries(res.body.playbooks.map((p: { name: string }) => [p.name, p]));
  expect(Object.keys(byName)).toEqual(expect.arrayContaining(['customer-bookings', 'not-started', 'promo-code-holder', 'delete-bookings']));
  expect(byName['customer-bookings']).toEqual({
    name: 'customer-bookings',
    description: expect.stringContaining('Every booking of one customer'),
    params: [
      { name: 'customer_id', type: 'id', required: true, description: "the customer's id" },
      { name: 'since', type: 'timestamp', required: false, default: 'now-90d', description: expect.any(String) },
      { name: 'status', type: 'enum(BookingStatus)', required: false, default: 'any', values: ['CONFIRMED', 'ONGOING', 'OVERDUE', 'COMPLETED', 'CANCELLED', 'NO_SHOW'], description: expect.any(String) },
      { name: 'limit', type: 'limit', required: false, default: '100' },
    ],
  });
  const one = await stack.api('commander').get('/v1/playbooks/customer-bookings');
  expect(one.body.sql).toMatch(/^SELECT b\.id AS booking_id/);
  const missing = await stack.api('operator').get('/v1/playbooks/no-such-thing');
  expect([missing.status, missing.body.error.code]).toEqual([404, 'NOT_FOUND']);
});

test('POST run answers JSON: resolved params, typed columns, rows, count, truncated, duration; audited with the caller', async () => {
  const res = await stack.api('operator').post(RUN, body).set('X-Request-Id', 'req-pb-api-1');
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    name: 'customer-bookings',
    params: { customer_id: 'cust-1', since: expect.any(String), status: null, limit: 100 },
    columns: expect.arrayContaining([{ name: 'booking_id', type: 'varchar' }, { name: 'amount_cents', type: 'int4' }]),
    rows: [expect.objectContaining({ booking_id: 'bk-c1-future' }), expect.objectContaining({ booking_id: 'bk-c1-recent' }), expect.objectContaining({ booking_id: 'bk-c1-old', status: 'COMPLETED', amount_cents: 4200 })],
    rowCount: 3,
    truncated: false,
    durationMs: expect.any(Number),
  });
  const c = new Client({ connectionString: stack.workerDbUrl });
  await c.connect();
  try {
    const audit = await c.query(`SELECT actor, resource_id, details FROM audit_log WHERE request_id = 'req-pb-api-1'`);
    expect(audit.rows).toEqual([{ actor: expect.stringMatching(/^operator:[0-9a-f]{8}$/), resource_id: 'customer-bookings', details: expect.objectContaining({ outcome: 'ok', rowCount: 3 }) }]);
  } finally {
    await c.end();
  }
  // No params at all: defaults only (and a missing body is an empty one).
  const defaults = await stack.api('operator').post('/v1/playbooks/overdue-bookings/run');
  expect(defaults.body.rows.map((r: { booking_id: string }) => r.booking_id)).toEqual(['bk-overdue-marked', 'bk-overdue-unmarked']);
});

test('Accept: text/csv answers RFC 4180 CSV that parses back to the same rows', async () => {
  const json = await stack.api('operator').post(RUN, body);
  const res = await stack.api('operator').post(RUN, body).set('Accept', 'text/csv');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/csv/);
  expect(res.headers['content-disposition']).toBe('attachment; filename="customer-bookings.csv"');
  expect(res.headers['x-playbook-row-count']).toBe('3');
  expect(res.headers['x-playbook-truncated']).toBe('false');
  const records: string[][] = parseCsv(res.text);
  expect(records[0]).toEqual(json.body.columns.map((c: { name: string }) => c.name));
  expect(records.slice(1).map((r) => r[0])).toEqual(['bk-c1-future', 'bk-c1-recent', 'bk-c1-old']);
  const startsAt = records[0].indexOf('starts_at');
  expect(records[1][startsAt]).toBe(json.body.rows[0].starts_at);

  const tricky = await stack.api('operator').post('/v1/playbooks/tricky-text/run').set('Accept', 'text/csv');
  expect(tricky.text).toContain('\r\n');
  expect(parseCsv(tricky.text)).toEqual([
    ['comma', 'quotes', 'lines', 'formula', 'nothing', 'n'],
    ['a,b', 'say "hi"', 'line 1\nline 2', "'=1+1", '', '7'],
  ]);
  // JSON is never altered.
  const trickyJson = await stack.api('operator').post('/v1/playbooks/tricky-text/run');
  expect(trickyJson.body.rows).toEqual([{ comma: 'a,b', quotes: 'say "hi"', lines: 'line 1\nline 2', formula: '=1+1', nothing: null, n: 7 }]);
  // Zero rows: the header line alone.
  const none = await stack.api('operator').post(RUN, { params: { customer_id: 'nobody' } }).set('Accept', 'text/csv');
  expect(parseCsv(none.text)).toEqual([json.body.columns.map((c: { name: string }) => c.name)]);
});

describe('bad input: 4xx naming the problem, never 5xx', () => {
  const cases: Array<[string, string, object | string, number, string, RegExp]> = [
    ['injection in an id', RUN, { params: { customer_id: "x' OR '1'='1" } }, 400, 'VALIDATION_FAILED', /params\.customer_id/],
    ['missing required param', RUN, { params: {} }, 400, 'VALIDATION_FAILED', /params\.customer_id/],
    ['unknown param', RUN, { params: { customer_id: 'cust-1', colour: 'red' } }, 400, 'VALIDATION_FAILED', /params\.colour/],
    ['bad timestamp', RUN, { params: { customer_id: 'cust-1', since: 'last tuesday' } }, 400, 'VALIDATION_FAILED', /params\.since/],
    ['bad enum', RUN, { params: { customer_id: 'cust-1', status: 'LOST' } }, 400, 'VALIDATION_FAILED', /params\.status/],
    ['limit above the maximum', RUN, { params: { customer_id: 'cust-1', limit: 1001 } }, 400, 'VALIDATION_FAILED', /params\.limit/],
    ['null value', RUN, { params: { customer_id: null } }, 400, 'VALIDATION_FAILED', /params\.customer_id/],
    ['params not an object', RUN, { params: ['cust-1'] }, 400, 'VALIDATION_FAILED', /"params"/],
    ['unknown top-level field', RUN, { params: { customer_id: 'cust-1' }, sql: 'DROP TABLE bookings' }, 400, 'VALIDATION_FAILED', /"sql"/],
    ['malformed JSON', RUN, '{"params": ', 400, 'MALFORMED_JSON', /.*/],
    ['unknown playbook', '/v1/playbooks/drop-everything/run', { params: {} }, 404, 'NOT_FOUND', /.*/],
    ['a data error caused by a value', '/v1/playbooks/divide/run', { params: { n: 0 } }, 400, 'VALIDATION_FAILED', /.*/],
    ['a playbook that writes', '/v1/playbooks/delete-bookings/run', {}, 422, 'READ_ONLY_VIOLATION', /.*/],
    ['a playbook past the timeout', '/v1/playbooks/sleep/run', { params: { seconds: 5 } }, 422, 'QUERY_TIMEOUT', /.*/],
  ];
  test.each(cases)('%s', async (_what, path, payload, status, code, detail) => {
    const before = await tableCounts(stack.workerDbUrl);
    const req = stack.api('operator').post(path);
    const res = typeof payload === 'string' ? await req.set('Content-Type', 'application/json').send(payload) : await req.send(payload);
    expect([res.status, res.body.error?.code]).toEqual([status, code]);
    expect(res.body.error.message.length).toBeGreaterThan(5);
    expect(JSON.stringify(res.body.error)).toMatch(detail);
    expect(await tableCounts(stack.workerDbUrl)).toEqual(before);
  });

  test('an injection in a text parameter runs, bound: 200, no rows, nothing changed', async () => {
    const before = await tableCounts(stack.workerDbUrl);
    const res = await stack.api('operator').post('/v1/playbooks/promo-code-holder/run', { params: { code: "x' OR '1'='1" } });
    expect([res.status, res.body.rows]).toEqual([200, []]);
    expect(await tableCounts(stack.workerDbUrl)).toEqual(before);
  });
});
