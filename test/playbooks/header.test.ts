// The playbook header grammar and its ties to the SQL: the shipped files load, and a broken file is
// refused with every problem named by file and line (at API start, by the CLI, here).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bindValues, parsePlaybook, resolveParams, resolveValue, type Playbook } from '../../domain/playbook';
import { DEFAULT_PLAYBOOKS_DIR, PlaybookError, loadPlaybooks, parsePlaybookFile } from '../../playbooks/load';

const GOOD = `-- name: sample
-- description: Bookings of a customer.
-- description: Second line of the description.
-- param: customer_id id required | the customer
-- param: since timestamp default now-7d
-- param: period period default now-1d/now
-- param: grace interval default 5m
-- param: status enum(BookingStatus) default any
-- param: n integer(0..10) default 3
-- param: limit limit default 50

-- A free comment after the header; ':not_a_param' in a string and -- :neither in a comment.
SELECT id, ':not_a_param' AS s, starts_at::text AS t /* :nor_here */, $$ :nor $$ AS d
FROM bookings
WHERE customer_id = :customer_id AND starts_at >= :since
  AND starts_at >= :period.start AND starts_at < :period.end AND starts_at < now() - :grace
  AND (:status IS NULL OR status = :status) AND version > :n AND customer_id <> :customer_id;
-- trailing comment
`;

function problemsOf(text: string, fileName = 'sample.sql'): string[] {
  const r = parsePlaybook(text, fileName);
  return r.ok ? [] : r.problems;
}

function good(): Playbook {
  const r = parsePlaybook(GOOD, 'sample.sql');
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.playbook;
}

const NOW = new Date('2026-11-26T12:00:00Z');
const ctx = { now: NOW, maxRows: 10_000 };

describe('the shipped playbooks', () => {
  test('all load, each named after its file, and no two alike', () => {
    const catalog = loadPlaybooks(DEFAULT_PLAYBOOKS_DIR, { maxRows: 10_000 });
    expect(catalog.size).toBeGreaterThanOrEqual(9);
    const files = fs.readdirSync(DEFAULT_PLAYBOOKS_DIR).filter((f) => f.endsWith('.sql'));
    expect([...catalog.keys()].sort()).toEqual(files.map((f) => f.replace(/\.sql$/, '')).sort());
    for (const p of catalog.values()) expect(p.params.some((s) => s.type.kind === 'limit')).toBe(true);
  });
});

describe('header grammar', () => {
  test('a good file: params, placeholders bound as $n::type in order of first use, strings and comments untouched', () => {
    const p = good();
    expect(p.name).toBe('sample');
    expect(p.description).toBe('Bookings of a customer. Second line of the description.');
    expect(p.params.map((s) => [s.name, s.typeText, s.required, s.default])).toEqual([
      ['customer_id', 'id', true, undefined],
      ['since', 'timestamp', false, 'now-7d'],
      ['period', 'period', false, 'now-1d/now'],
      ['grace', 'interval', false, '5m'],
      ['status', 'enum(BookingStatus)', false, 'any'],
      ['n', 'integer(0..10)', false, '3'],
      ['limit', 'limit', false, '50'],
    ]);
    expect(p.params[0].help).toBe('the customer');
    expect(p.text).toContain("':not_a_param' AS s, starts_at::text AS t /* :nor_here */, $$ :nor $$ AS d");
    expect(p.text).toContain('customer_id = $1::text AND starts_at >= $2::timestamptz');
    expect(p.text).toContain('starts_at >= $3::timestamptz AND starts_at < $4::timestamptz AND starts_at < now() - $5::interval');
    expect(p.text).toContain('($6::"BookingStatus" IS NULL OR status = $6::"BookingStatus") AND version > $7::bigint AND customer_id <> $1::text');
    expect(p.text).toMatch(/customer_id <> \$1::text$/);
    expect(p.text).not.toContain('trailing comment');
    expect(p.bindings.map((b) => `${b.param}${b.part ? `.${b.part}` : ''}`)).toEqual(['customer_id', 'since', 'period.start', 'period.end', 'grace', 'status', 'n']);
  });

  test('values resolve to what is bound: relative times, periods, intervals, enums, defaults', () => {
    const p = good();
    const r = resolveParams(p, { customer_id: 'c-1', status: 'ongoing', period: '2026-11-01/2026-11-02T06:00:00+01:00' }, ctx);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.params).toEqual({
      customer_id: 'c-1',
      since: '2026-11-19T12:00:00.000Z',
      period: { start: '2026-11-01T00:00:00.000Z', end: '2026-11-02T05:00:00.000Z' },
      grace: '5m',
      status: 'ONGOING',
      n: 3,
      limit: 50,
    });
    expect(bindValues(p, r.params)).toEqual(['c-1', '2026-11-19T12:00:00.000Z', '2026-11-01T00:00:00.000Z', '2026-11-02T05:00:00.000Z', '300000 milliseconds', 'ONGOING', 3]);
    // `any` (no filter) only where the header made it the default.
    const any = resolveParams(p, { customer_id: 'c-1', status: 'any' }, ctx);
    expect(any.ok && any.params.status).toBeNull();
    const notAny = resolveParams(p, { customer_id: 'c-1', since: 'any', n: 'any' }, ctx);
    expect(notAny.ok ? [] : notAny.problems.map((x) => x.field)).toEqual(['since', 'n']);
  });

  test('bad values are refused with a message per parameter', () => {
    const p = good();
    const r = resolveParams(p, { since: 'yesterday', period: 'now/now-1d', grace: '5 minutes', status: 'LOST', n: 11, limit: 0, extra: 1 }, ctx);
    expect(r.ok).toBe(false);
    const byField = Object.fromEntries((r.ok ? [] : r.problems).map((x) => [x.field, x.message]));
    expect(Object.keys(byField).sort()).toEqual(['customer_id', 'extra', 'grace', 'limit', 'n', 'period', 'since', 'status']);
    expect(byField.customer_id).toBe('is required (id)');
    expect(byField.extra).toMatch(/^unknown parameter \(sample takes: customer_id, since/);
    expect(byField.since).toMatch(/ISO 8601/);
    expect(byField.period).toMatch(/must be before end/);
    expect(byField.n).toMatch(/between 0 and 10/);
    expect(byField.limit).toMatch(/between 1 and 10000/);
    expect(resolveValue({ type: { kind: 'id' } }, "x' OR '1'='1", ctx).ok).toBe(false);
    expect(resolveValue({ type: { kind: 'id' } }, 'any', ctx)).toEqual({ ok: true, value: 'any' });
    expect(resolveValue({ type: { kind: 'text' } }, 'a\u0000b', ctx).ok).toBe(false);
    expect(resolveValue({ type: { kind: 'timestamp' } }, '2026-02-30', ctx).ok).toBe(false);
    expect(resolveValue({ type: { kind: 'timestamp' } }, '2026-11-01T10:00:00', ctx).ok).toBe(false);
    expect(resolveValue({ type: { kind: 'timestamp' } }, 'now+2h', ctx)).toEqual({ ok: true, value: '2026-11-26T14:00:00.000Z' });
    expect(resolveValue({ type: { kind: 'interval' } }, '400d', ctx).ok).toBe(false);
    expect(resolveParams(p, { customer_id: 'c', n: 2.5 }, ctx).ok).toBe(false);
    expect(resolveParams(p, { customer_id: 42 }, ctx).ok).toBe(false);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['no name', GOOD.replace('-- name: sample\n', ''), /must give "-- name: <name>"/],
    ['name not the file', GOOD.replace('name: sample', 'name: other'), /must match the file name \(sample\.sql\)/],
    ['name not kebab', GOOD.replace('name: sample', 'name: Sample_1'), /must be kebab-case/],
    ['no description', GOOD.replace(/-- description:.*\n/g, ''), /description: \.\.\." is required/],
    ['unknown header key', GOOD.replace('-- description: Second', '-- owner: Second'), /line 3: header lines are/],
    ['unknown type', GOOD.replace('grace interval', 'grace duration'), /line 7: param: unknown type "duration"/],
    ['unknown enum', GOOD.replace('enum(BookingStatus)', 'enum(CarColour)'), /unknown enum CarColour/],
    ['bad default', GOOD.replace('now-7d', 'last week'), /line 5: param: since: expected/],
    ['default of the wrong type', GOOD.replace('default now-7d', 'default 7d'), /since: default "7d" must be an ISO 8601/],
    ['default outside the range', GOOD.replace('integer(0..10) default 3', 'integer(0..10) default 30'), /n: default "30" must be between 0 and 10/],
    ['bad param name', GOOD.replace('param: n integer', 'param: N integer'), /snake_case/],
    ['neither required nor default', GOOD.replace('grace interval default 5m', 'grace interval'), /expected "<name> <type> required"/],
    ['required limit', GOOD.replace('limit limit default 50', 'limit limit required'), /a limit cannot be required/],
    ['duplicate param', GOOD.replace('-- param: n integer(0..10) default 3', '-- param: grace interval default 3m'), /param grace is declared twice/],
    ['undeclared placeholder', GOOD.replace('version > :n', 'version > :m'), /:m is not a declared parameter/],
    ['declared, never used', GOOD.replace('AND version > :n', ''), /param n is declared but the query never uses :n/],
    ['limit in the SQL', GOOD.replace('version > :n', 'version > :n LIMIT :limit'), /:limit is a limit, applied by the runner/],
    ['period without an end', GOOD.replace('starts_at >= :period.start AND', 'starts_at >= :period AND'), /:period is a period; use :period.start/],
    ['.start on a non-period', GOOD.replace(':since\n', ':since.start\n'), /:since.start: only a period has .start and .end/],
    ['a write', GOOD.replace(/SELECT id[^\n]*\nFROM bookings/, 'DELETE FROM bookings'), /must be one SELECT .* starts with "DELETE"/],
    ['two statements', GOOD.replace('-- trailing comment', 'SELECT 1;'), /more than one statement/],
    ['positional parameter', GOOD.replace('version > :n', 'version > :n AND version > $1'), /positional parameter \$1/],
    ['unterminated string', GOOD.replace("':not_a_param' AS s", "':not_a_param AS s"), /unterminated string/],
    ['no query', GOOD.split('\n\n')[0] + '\n', /no query after its header/],
  ];
  test.each(cases)('refused: %s', (_what, text, expected) => {
    expect(problemsOf(text).join('\n')).toMatch(expected);
  });

  test('every problem of a file is listed, not only the first', () => {
    const text = GOOD.replace('name: sample', 'name: other').replace('grace interval', 'grace duration').replace('version > :n', 'version > :m');
    const problems = problemsOf(text);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/must match the file name/),
      expect.stringMatching(/unknown type "duration"/),
      expect.stringMatching(/:m is not a declared parameter/),
    ]));
  });
});

describe('loading a directory', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-playbooks-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('one error lists every problem of every file, each with its file name', () => {
    fs.writeFileSync(path.join(tmp, 'sample.sql'), GOOD);
    fs.writeFileSync(path.join(tmp, 'broken.sql'), GOOD.replace('name: sample', 'name: broken').replace('version > :n', 'version > :m'));
    fs.writeFileSync(path.join(tmp, 'writer.sql'), '-- name: writer\n-- description: Deletes.\nDELETE FROM bookings\n');
    fs.writeFileSync(path.join(tmp, 'README.md'), 'not a playbook');
    let err: unknown;
    try {
      loadPlaybooks(tmp);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlaybookError);
    const problems = (err as PlaybookError).problems;
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^broken\.sql: line \d+: :m is not a declared parameter/),
      expect.stringMatching(/^broken\.sql: param n is declared but the query never uses :n/),
      expect.stringMatching(/^writer\.sql: the query must be one SELECT/),
    ]));
    expect(problems.some((p) => p.startsWith('sample.sql'))).toBe(false);
    expect((err as Error).message).toMatch(/Invalid playbooks in .* \(3 problems\)/);
  });

  test('a limit default above KEEL_PLAYBOOK_MAX_ROWS is refused; an empty or missing directory too', () => {
    expect(() => parsePlaybookFile(GOOD, 'sample.sql', { maxRows: 20 })).toThrow(/sample\.sql: param limit: default 50 exceeds KEEL_PLAYBOOK_MAX_ROWS \(20\)/);
    expect(() => loadPlaybooks(tmp)).toThrow(/no playbooks/);
    expect(() => loadPlaybooks(path.join(tmp, 'missing'))).toThrow(/cannot read the playbook directory/);
  });
});
