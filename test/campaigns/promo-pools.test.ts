// POST /v1/promo-pools: JSON or CSV uploads, idempotent by Idempotency-Key, refused whole (and named)
// when a code is malformed or repeated; GET /v1/promo-pools/:id with its counts.
import { freeCodeCount } from '../../db/promo-store';
import { startStack, uid, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'promo-pools' });
});
afterAll(() => stack?.stop());

const PATH = '/v1/promo-pools';

const codesFor = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);

function postJson(key: string | null, body: object, role: Parameters<Stack['api']>[0] = 'service') {
  const t = stack.api(role).post(PATH);
  if (key !== null) t.set('Idempotency-Key', key);
  return t.send(body);
}

function postCsv(key: string | null, csv: string, query = '') {
  const t = stack.api().post(`${PATH}${query}`).set('Content-Type', 'text/csv');
  if (key !== null) t.set('Idempotency-Key', key);
  return t.send(csv);
}

async function poolsWithKey(key: string): Promise<number> {
  return stack.db.promoPool.count({ where: { idempotencyKey: key } });
}

async function codesLike(prefix: string): Promise<number> {
  return stack.db.promoCode.count({ where: { code: { startsWith: prefix } } });
}

describe('POST /v1/promo-pools', () => {
  test('JSON upload: 201 {poolId, size}; GET shows the counts; the same upload again: 200, the same pool', async () => {
    const key = uid('key');
    const codes = codesFor(uid('W'), 500);
    const res = await postJson(key, { name: 'Winter 2026', codes }).expect(201);
    expect(res.body).toEqual({ poolId: expect.stringMatching(/^pool-[0-9a-f]{24}$/), name: 'Winter 2026', size: 500 });
    const { poolId } = res.body;
    expect(await stack.db.promoCode.count({ where: { poolId } })).toBe(500);

    const got = await stack.api('viewer').get(`${PATH}/${poolId}`).expect(200);
    expect(got.body).toMatchObject({ poolId, name: 'Winter 2026', size: 500, assigned: 0, free: 500 });
    expect(await freeCodeCount(stack.db, poolId)).toBe(500);

    const again = await postJson(key, { name: 'Winter 2026', codes }).expect(200);
    expect(again.body).toEqual(res.body);
    // Same name and same set of codes in another order is the same upload.
    const reordered = await postJson(key, { name: 'Winter 2026', codes: [...codes].reverse() }).expect(200);
    expect(reordered.body.poolId).toBe(poolId);
    expect(await poolsWithKey(key)).toBe(1);
    expect(await stack.db.promoCode.count({ where: { poolId } })).toBe(500);
    const audits = await stack.db.auditLog.findMany({ where: { resourceType: 'promo_pool', resourceId: poolId } });
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ action: 'promo_pool.create', details: { name: 'Winter 2026', size: 500, idempotencyKey: key } });
  });

  test('same key, different upload: 409 DUPLICATE_CONFLICT naming the pool; the first pool is untouched', async () => {
    const key = uid('key');
    const codes = codesFor(uid('C'), 20);
    const first = await postJson(key, { name: 'Spring', codes }).expect(201);
    for (const body of [{ name: 'Spring', codes: [...codes, 'EXTRA-1'] }, { name: 'Spring', codes: codes.slice(1) }, { name: 'Autumn', codes }]) {
      const res = await postJson(key, body).expect(409);
      expect(res.body.error).toMatchObject({ code: 'DUPLICATE_CONFLICT', details: { poolId: first.body.poolId } });
    }
    expect(await poolsWithKey(key)).toBe(1);
    expect(await stack.db.promoCode.count({ where: { poolId: first.body.poolId } })).toBe(20);
  });

  test('CSV upload: optional header, CRLF, blank lines, quotes; name from ?name=; the same codes as JSON under that key are the same upload', async () => {
    const key = uid('key');
    const prefix = uid('CSV');
    const codes = codesFor(prefix, 300);
    const csv = `\uFEFFcode\r\n${codes.slice(0, 150).join('\r\n')}\r\n\r\n"${codes[150]}"\n${codes.slice(151).join('\n')}\n\n`;
    const res = await postCsv(key, csv, `?name=${encodeURIComponent('Partner codes (CSV)')}`).expect(201);
    expect(res.body).toMatchObject({ name: 'Partner codes (CSV)', size: 300 });
    const stored = await stack.db.promoCode.findMany({ where: { poolId: res.body.poolId }, select: { code: true } });
    expect(stored.map((c) => c.code).sort()).toEqual([...codes].sort());

    const asJson = await postJson(key, { name: 'Partner codes (CSV)', codes }).expect(200);
    expect(asJson.body.poolId).toBe(res.body.poolId);
    const noHeader = await postCsv(key, codes.join('\n'), '?name=Partner%20codes%20(CSV)').expect(200);
    expect(noHeader.body.poolId).toBe(res.body.poolId);
    expect(await poolsWithKey(key)).toBe(1);
  });

  test('CSV problems: no name, several names, a JSON-only query on JSON, several columns, an empty file', async () => {
    const key = uid('key');
    const noName = await postCsv(key, 'A1\nA2').expect(400);
    expect(noName.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ field: 'name' }] } });
    await postCsv(key, 'A1\nA2', '?name=a&name=b').expect(400);
    await postCsv(key, 'A1\nA2', '?name=x&colour=red').expect(400);
    const jsonWithQuery = await postJson(key, { name: 'x', codes: ['A1'] });
    expect(jsonWithQuery.status).toBe(201); // no query: fine
    const q = await stack.api().post(`${PATH}?name=x`).set('Idempotency-Key', uid('key')).send({ name: 'x', codes: ['A1'] }).expect(400);
    expect(q.body.error.details.fields[0].field).toBe('name');

    const columns = await postCsv(uid('key'), 'code,value\nA1,10\nA2,20', '?name=cols').expect(400);
    expect(columns.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual(['line 1', 'line 2', 'line 3']);
    expect(columns.body.error.details.fields[1].message).toMatch(/one code per line/);
    const empty = await postCsv(uid('key'), 'code\n\n', '?name=empty').expect(400);
    expect(empty.body.error.message).toMatch(/no codes/);
  });

  test('Idempotency-Key: missing or malformed -> 400 naming the header, before the body is read; nothing written', async () => {
    const prefix = uid('NK');
    const missing = await postJson(null, { name: 'No key', codes: codesFor(prefix, 3) }).expect(400);
    expect(missing.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ field: 'Idempotency-Key', message: 'required header' }] } });
    expect(missing.body.error.message).toMatch(/Idempotency-Key/);
    for (const bad of ['has space', 'k'.repeat(101), 'semi;colon']) {
      const res = await postJson(bad, { name: 'Bad key', codes: codesFor(prefix, 3) }).expect(400);
      expect(res.body.error.details.fields[0].field).toBe('Idempotency-Key');
    }
    const csv = await postCsv(null, 'A1', '?name=x').expect(400);
    expect(csv.body.error.details.fields[0].field).toBe('Idempotency-Key');
    expect(await codesLike(prefix)).toBe(0);
  });

  test('duplicate codes inside the upload: 400 listing each repeated code with where it appears; no pool, no codes', async () => {
    const key = uid('key');
    const prefix = uid('D');
    const codes = codesFor(prefix, 50);
    const withDups = [...codes, codes[3], codes[7], codes[3], codes[49]];
    const res = await postJson(key, { name: 'Dups', codes: withDups }).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/3 codes appearing more than once/);
    expect(res.body.error.details).toMatchObject({ duplicateCount: 3, invalidCount: 0, truncated: false });
    expect(res.body.error.details.duplicates).toEqual([
      { code: codes[3], count: 3, at: ['codes.3', 'codes.50', 'codes.52'] },
      { code: codes[7], count: 2, at: ['codes.7', 'codes.51'] },
      { code: codes[49], count: 2, at: ['codes.49', 'codes.53'] },
    ]);
    expect(await poolsWithKey(key)).toBe(0);
    expect(await codesLike(prefix)).toBe(0);

    const csv = await postCsv(key, `code\n${codes[0]}\n${codes[1]}\n${codes[0]}`, '?name=Dups').expect(400);
    expect(csv.body.error.details.duplicates).toEqual([{ code: codes[0], count: 2, at: ['line 2', 'line 4'] }]);

    // Many repeats: the list is capped, the count is complete.
    const many = await postJson(key, { name: 'Dups', codes: [...codes, ...codes, ...codesFor(`${prefix}x`, 200), ...codesFor(`${prefix}x`, 200)] }).expect(400);
    expect(many.body.error.details.duplicates).toHaveLength(100);
    expect(many.body.error.details).toMatchObject({ duplicateCount: 250, truncated: true });
    expect(await poolsWithKey(key)).toBe(0);

    // The key was not used up by the refused uploads: the corrected upload creates the pool.
    await postJson(key, { name: 'Dups', codes }).expect(201);
  });

  test('malformed codes: 400 naming every one (with duplicates in the same answer); nothing written', async () => {
    const key = uid('key');
    const prefix = uid('M');
    const good = codesFor(prefix, 5);
    const res = await postJson(key, { name: 'Bad', codes: [good[0], 'has space', '', 'x'.repeat(101), 42, good[1], 'ünï', good[0], null] }).expect(400);
    const details = res.body.error.details;
    expect(details.fields.map((f: { field: string }) => f.field)).toEqual(['codes.1', 'codes.2', 'codes.3', 'codes.4', 'codes.6', 'codes.8']);
    expect(details.fields[0]).toMatchObject({ code: 'has space', message: expect.stringMatching(/A-Z, a-z, 0-9, _ or -/) });
    expect(details.fields[2].code).toHaveLength(101);
    expect(details.fields[3]).toMatchObject({ code: 42, message: 'must be a string' });
    expect(details.duplicates).toEqual([{ code: good[0], count: 2, at: ['codes.0', 'codes.7'] }]);
    expect(details).toMatchObject({ invalidCount: 6, duplicateCount: 1 });
    expect(await poolsWithKey(key)).toBe(0);
    expect(await codesLike(prefix)).toBe(0);

    for (const body of [{ name: 'x' }, { codes: ['A'] }, { name: '', codes: ['A'] }, { name: 'x', codes: [] }, { name: 'x', codes: 'A,B' }, { name: 'x', codes: ['A'], size: 1 }]) {
      const r = await postJson(uid('key'), body).expect(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
    const tooMany = await postJson(uid('key'), { name: 'Too many', codes: codesFor('T', 200_001) }).expect(400);
    expect(tooMany.body.error.details.fields[0]).toMatchObject({ field: 'codes', message: expect.stringMatching(/at most 200,000/) });
  });

  test('200,000 codes in one JSON upload: the pool and every code written in one transaction (timing printed)', async () => {
    const key = uid('key');
    const prefix = uid('BIG');
    const codes = codesFor(prefix, 200_000);
    const started = Date.now();
    const res = await postJson(key, { name: 'Big pool', codes });
    const ms = Date.now() - started;
    process.stderr.write(`[promo-pools.test] 200,000 codes uploaded in ${ms} ms\n`);
    expect(res.status).toBe(201);
    expect(res.body.size).toBe(200_000);
    expect(await stack.db.promoCode.count({ where: { poolId: res.body.poolId } })).toBe(200_000);
    // One transaction wrote the pool row and all its codes: they share one xmin (transaction id).
    const [tx] = await stack.db.$queryRaw<Array<{ xids: string[] }>>`
      SELECT array_agg(DISTINCT x) AS xids FROM (
        SELECT xmin::text AS x FROM promo_codes WHERE pool_id = ${res.body.poolId}
        UNION ALL SELECT xmin::text FROM promo_pools WHERE id = ${res.body.poolId}) t`;
    expect(tx.xids).toHaveLength(1);
    const again = Date.now();
    await postJson(key, { name: 'Big pool', codes }).expect(200);
    process.stderr.write(`[promo-pools.test] the same 200,000 again (found by key) in ${Date.now() - again} ms\n`);
  });

  test('concurrent uploads with one key: one pool, one 201, the rest 200', async () => {
    const key = uid('key');
    const codes = codesFor(uid('P'), 2_000);
    const res = await Promise.all(Array.from({ length: 10 }, () => postJson(key, { name: 'Race', codes })));
    expect(res.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(res.map((r) => r.body.poolId)).size).toBe(1);
    expect(await poolsWithKey(key)).toBe(1);
    expect(await stack.db.promoCode.count({ where: { poolId: res[0].body.poolId } })).toBe(2_000);
  });

  test('a code already in another pool is fine (codes are unique per pool)', async () => {
    const codes = codesFor(uid('S'), 10);
    const a = await postJson(uid('key'), { name: 'A', codes }).expect(201);
    const b = await postJson(uid('key'), { name: 'B', codes }).expect(201);
    expect(a.body.poolId).not.toBe(b.body.poolId);
    expect(await stack.db.promoCode.count({ where: { code: codes[0] } })).toBe(2);
  });

  test('assigned and free follow the assignments; freeCodeCount agrees', async () => {
    const res = await postJson(uid('key'), { name: 'Counts', codes: codesFor(uid('F'), 10) }).expect(201);
    const { poolId } = res.body;
    await stack.db.$executeRaw`
      UPDATE "promo_codes" SET assigned_at = now(), assigned_user_id = 'u-1', assigned_campaign_id = 'campaign-x'
      WHERE pool_id = ${poolId} AND code IN (SELECT code FROM "promo_codes" WHERE pool_id = ${poolId} ORDER BY code LIMIT 3)`;
    const got = await stack.api('operator').get(`${PATH}/${poolId}`).expect(200);
    expect(got.body).toMatchObject({ size: 10, assigned: 3, free: 7 });
    expect(await freeCodeCount(stack.db, poolId)).toBe(7);
    expect(await freeCodeCount(stack.db, 'pool-unknown')).toBe(0);
  });

  test('other media types: 415; malformed JSON: 400; oversized body: 413', async () => {
    const xml = await stack.api().post(PATH).set('Idempotency-Key', uid('key')).set('Content-Type', 'application/xml').send('<codes/>');
    expect(xml.status).toBe(415);
    expect(xml.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const broken = await stack.api().post(PATH).set('Idempotency-Key', uid('key')).set('Content-Type', 'application/json').send('{"name": "x", "codes": [');
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('MALFORMED_JSON');
    const huge = await postCsv(uid('key'), 'A'.repeat(25 * 1024 * 1024), '?name=huge');
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  test('roles and ids: viewer and commander may not upload; viewer may read, commander may not; unknown pool 404; bad id 400', async () => {
    const key = uid('key');
    for (const role of ['viewer', 'commander'] as const) {
      const res = await postJson(key, { name: 'Nope', codes: ['A1'] }, role).expect(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
    await postJson(key, { name: 'Nope', codes: ['A1'] }, null).expect(401);
    expect(await poolsWithKey(key)).toBe(0);

    const created = await postJson(key, { name: 'Roles', codes: ['A1'] }, 'operator').expect(201);
    await stack.api('viewer').get(`${PATH}/${created.body.poolId}`).expect(200);
    await stack.api('service').get(`${PATH}/${created.body.poolId}`).expect(200);
    await stack.api('commander').get(`${PATH}/${created.body.poolId}`).expect(403);
    const missing = await stack.api('viewer').get(`${PATH}/pool-doesnotexist`).expect(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    const bad = await stack.api('viewer').get(`${PATH}/bad%20id`).expect(400);
    expect(bad.body.error.code).toBe('VALIDATION_FAILED');
  });
});
