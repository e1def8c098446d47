// POST /v1/users/batch: 10,000 users in one call, upserts that keep what a batch leaves out, and bad
// batches refused whole, with every bad entry named.
import { startStack, uid, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'users' });
});
afterAll(() => stack?.stop());

const PATH = '/v1/users/batch';

function user(i: number, prefix: string, over: Record<string, unknown> = {}) {
  return {
    userId: `${prefix}-${String(i).padStart(5, '0')}`,
    email: `${prefix}-${i}@example.test`,
    phone: `+3361${String(i).padStart(7, '0')}`,
    pushToken: `tok-${prefix}-${i}`,
    firstName: ['Camille', 'Lukas', 'Olivia', 'Haruto'][i % 4],
    timezone: ['Europe/Paris', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'][i % 4],
    locale: ['fr-FR', 'de-DE', 'en-US', 'ja-JP'][i % 4],
    optedOut: i % 50 === 0,
    ...over,
  };
}

async function countWithPrefix(prefix: string): Promise<number> {
  return stack.db.user.count({ where: { id: { startsWith: `${prefix}-` } } });
}

interface Problem {
  field: string;
  index: number;
  userId: string | null;
  message: string;
}

describe('POST /v1/users/batch', () => {
  test('10,000 users in one call (a body far above the global 100kb limit): one answer, every row written', async () => {
    const prefix = uid('bulk');
    const users = Array.from({ length: 10_000 }, (_, i) => user(i, prefix));
    const started = Date.now();
    const res = await stack.api().post(PATH, { users });
    const ms = Date.now() - started;
    process.stderr.write(`[users.test] 10,000 users upserted in ${ms} ms (body ${(JSON.stringify({ users }).length / 1e6).toFixed(2)} MB)\n`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: 10_000, inserted: 10_000, updated: 0 });
    expect(await countWithPrefix(prefix)).toBe(10_000);
    expect(await stack.db.user.count({ where: { id: { startsWith: `${prefix}-` }, optedOut: true } })).toBe(200);
    const row = await stack.db.user.findUniqueOrThrow({ where: { id: `${prefix}-00003` } });
    expect(row).toMatchObject({ email: `${prefix}-3@example.test`, phone: '+33610000003', firstName: 'Haruto', timezone: 'Asia/Tokyo', locale: 'ja-JP' });

    // The same 10,000 again: all updates, no new rows.
    const again = await stack.api().post(PATH, { users }).expect(200);
    expect(again.body).toEqual({ received: 10_000, inserted: 0, updated: 10_000 });
    expect(await countWithPrefix(prefix)).toBe(10_000);
    // One audit row per call, with the counts.
    const audits = await stack.db.auditLog.findMany({ where: { action: 'users.upsert' }, orderBy: { id: 'asc' } });
    expect(audits.slice(-2).map((a) => a.details)).toEqual([
      { received: 10_000, inserted: 10_000, updated: 0 },
      { received: 10_000, inserted: 0, updated: 10_000 },
    ]);
    expect(audits[audits.length - 1].actor).toMatch(/^service:[0-9a-f]{8}$/);
  });

  test('upsert: given fields are written, null clears, left-out fields (optedOut too) keep their value', async () => {
    const prefix = uid('ups');
    await stack.api().post(PATH, { users: [user(1, prefix, { optedOut: true }), user(2, prefix)] }).expect(200);
    const before = await stack.db.user.findUniqueOrThrow({ where: { id: `${prefix}-00001` } });

    const res = await stack
      .api('operator')
      .post(PATH, {
        users: [
          { userId: `${prefix}-00001`, firstName: 'Renamed', email: null },
          { userId: `${prefix}-00002`, optedOut: true, timezone: 'america/los_angeles', phone: '+1 (555) 010-2030' },
          { userId: `${prefix}-00003` },
        ],
      })
      .expect(200);
    expect(res.body).toEqual({ received: 3, inserted: 1, updated: 2 });

    const one = await stack.db.user.findUniqueOrThrow({ where: { id: `${prefix}-00001` } });
    expect(one).toMatchObject({ firstName: 'Renamed', email: null, optedOut: true, phone: before.phone, timezone: before.timezone, locale: before.locale, pushToken: before.pushToken });
    expect(one.createdAt).toEqual(before.createdAt);
    expect(one.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
    const two = await stack.db.user.findUniqueOrThrow({ where: { id: `${prefix}-00002` } });
    // Stored in canonical form: the IANA name as Intl spells it, the phone number in E.164.
    expect(two).toMatchObject({ optedOut: true, timezone: 'America/Los_Angeles', phone: '+15550102030', firstName: 'Olivia' });
    const three = await stack.db.user.findUniqueOrThrow({ where: { id: `${prefix}-00003` } });
    expect(three).toMatchObject({ email: null, phone: null, firstName: null, timezone: null, optedOut: false });
  });

  test('several bad entries at once: 400 naming each (index, userId, field, message); nothing written, not even the good ones', async () => {
    const prefix = uid('bad');
    const users = [
      user(0, prefix),
      user(1, prefix, { email: 'not-an-email' }),
      user(2, prefix, { timezone: 'Mars/Olympus_Mons' }),
      user(3, prefix, { phone: '0612345678' }),
      user(4, prefix, { colour: 'red' }),
      user(5, prefix, { userId: 'has space' }),
      user(6, prefix, { optedOut: 'yes' }),
      user(7, prefix, { locale: 'not a locale' }),
      user(8, prefix, { firstName: '   ' }),
      user(9, prefix, { timezone: '+01:00', email: 'a@b' }),
      user(10, prefix),
    ];
    const res = await stack.api().post(PATH, { users }).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/^9 of 11 users are invalid; nothing was written/);
    const problems: Problem[] = res.body.error.details.fields;
    const got = problems.map((p) => [p.index, p.field]);
    expect(got).toEqual([
      [1, 'users.1.email'],
      [2, 'users.2.timezone'],
      [3, 'users.3.phone'],
      [4, 'users.4.colour'],
      [5, 'users.5.userId'],
      [6, 'users.6.optedOut'],
      [7, 'users.7.locale'],
      [8, 'users.8.firstName'],
      [9, 'users.9.email'],
      [9, 'users.9.timezone'],
    ].sort((a, b) => (a[0] as number) - (b[0] as number)));
    expect(res.body.error.details).toMatchObject({ errorCount: 10, invalidEntries: 9, truncated: false });
    const byField = Object.fromEntries(problems.map((p) => [p.field, p]));
    expect(byField['users.1.email']).toMatchObject({ userId: `${prefix}-00001`, message: 'must be an email address' });
    expect(byField['users.2.timezone'].message).toMatch(/IANA time zone/);
    expect(byField['users.3.phone'].message).toMatch(/E\.164/);
    expect(byField['users.4.colour'].message).toBe('unknown field');
    expect(byField['users.5.userId']).toMatchObject({ userId: 'has space' });
    expect(res.text).not.toMatch(/at .*\.ts:\d+/);
    expect(await countWithPrefix(prefix)).toBe(0);
  });

  test('hundreds of bad entries: the list is capped at 100, the counts are complete', async () => {
    const prefix = uid('many');
    const users = Array.from({ length: 500 }, (_, i) => user(i, prefix, i % 2 ? { email: `bad-${i}` } : {}));
    const res = await stack.api().post(PATH, { users }).expect(400);
    expect(res.body.error.details.fields).toHaveLength(100);
    expect(res.body.error.details).toMatchObject({ errorCount: 250, invalidEntries: 250, truncated: true });
    expect(res.body.error.details.fields[0]).toMatchObject({ index: 1, field: 'users.1.email' });
    expect(await countWithPrefix(prefix)).toBe(0);
  });

  test('the same userId twice in one batch: 400 naming the repeat and where it first appeared', async () => {
    const prefix = uid('dup');
    const users = [user(1, prefix), user(2, prefix), user(1, prefix, { firstName: 'Other' }), user(2, prefix), user(2, prefix)];
    const res = await stack.api().post(PATH, { users }).expect(400);
    const problems: Problem[] = res.body.error.details.fields;
    expect(problems.map((p) => [p.index, p.userId, p.field])).toEqual([
      [2, `${prefix}-00001`, 'users.2.userId'],
      [3, `${prefix}-00002`, 'users.3.userId'],
      [4, `${prefix}-00002`, 'users.4.userId'],
    ]);
    expect(problems[0].message).toMatch(/duplicate.*index 0/);
    expect(problems[2].message).toMatch(/index 1/);
    expect(await countWithPrefix(prefix)).toBe(0);
  });

  test('batch size and shape: 10,001 entries, none, missing or not a list, entries that are not objects', async () => {
    const prefix = uid('size');
    const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ userId: `${prefix}-${i}` }));
    const big = await stack.api().post(PATH, { users: tooMany }).expect(400);
    expect(big.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(big.body.error.details.fields).toEqual([{ field: 'users', message: expect.stringMatching(/at most 10,000 users/) }]);
    expect(await countWithPrefix(prefix)).toBe(0);

    for (const body of [{ users: [] }, {}, { users: 'everyone' }, { users: [{ userId: 'x' }], extra: 1 }]) {
      const res = await stack.api().post(PATH, body).expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    const notObjects = await stack.api().post(PATH, { users: ['u-1', null, [1], { userId: `${prefix}-ok` }] }).expect(400);
    expect(notObjects.body.error.details.fields.map((f: Problem) => f.field)).toEqual(['users.0', 'users.1', 'users.2']);
    expect(notObjects.body.error.details.fields[0].message).toMatch(/must be an object/);
    expect(await countWithPrefix(prefix)).toBe(0);
  });

  test('length limits of every field', async () => {
    const prefix = uid('len');
    const users = [
      { userId: 'u'.repeat(65) },
      { userId: `${prefix}-1`, email: `${'a'.repeat(250)}@example.test` },
      { userId: `${prefix}-2`, pushToken: 't'.repeat(513) },
      { userId: `${prefix}-3`, firstName: 'n'.repeat(101) },
      { userId: `${prefix}-4`, pushToken: 'line\nbreak' },
      { userId: `${prefix}-5`, locale: 'en-US-x-'.padEnd(30, 'a') },
      { userId: `${prefix}-6`, phone: '+1234' },
    ];
    const res = await stack.api().post(PATH, { users }).expect(400);
    expect(res.body.error.details.fields.map((f: Problem) => f.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // The same fields at their limits are accepted.
    const ok = await stack.api().post(PATH, {
      users: [
        { userId: 'u'.repeat(64) },
        { userId: `${prefix}-1`, email: `${'a'.repeat(64)}@${'b'.repeat(60)}.example.test`, pushToken: 't'.repeat(512), firstName: 'n'.repeat(100), phone: '+123456789012345' },
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ received: 2, inserted: 2 });
  });

  test('not JSON: 415 for another media type, MALFORMED_JSON for broken JSON', async () => {
    const text = await stack.api().post(PATH).set('Content-Type', 'text/plain').send('userId,email\nu1,a@b.c');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const broken = await stack.api().post(PATH).set('Content-Type', 'application/json').send('{"users": [');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('MALFORMED_JSON');
  });

  test('roles: service and operator may upsert; viewer and commander get 403, no key 401, and nothing is written', async () => {
    const prefix = uid('role');
    for (const role of ['viewer', 'commander'] as const) {
      const res = await stack.api(role).post(PATH, { users: [user(1, prefix)] }).expect(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    const anon = await stack.api(null).post(PATH, { users: [user(1, prefix)] }).expect(401);
    expect(anon.body.error.code).toBe('UNAUTHORIZED');
    expect(await countWithPrefix(prefix)).toBe(0);
    await stack.api('operator').post(PATH, { users: [user(1, prefix)] }).expect(200);
    expect(await countWithPrefix(prefix)).toBe(1);
  });

  test('concurrent batches sharing ids: every row written once, counts add up', async () => {
    const prefix = uid('conc');
    const users = Array.from({ length: 2_000 }, (_, i) => user(i, prefix));
    const results = await Promise.all([0, 1, 2, 3].map((k) => stack.api().post(PATH, { users: k % 2 ? [...users].reverse() : users })));
    for (const r of results) expect(r.status).toBe(200);
    const inserted = results.reduce((s, r) => s + r.body.inserted, 0);
    const updated = results.reduce((s, r) => s + r.body.updated, 0);
    expect(inserted).toBe(2_000);
    expect(updated).toBe(6_000);
    expect(await countWithPrefix(prefix)).toBe(2_000);
  });
});
