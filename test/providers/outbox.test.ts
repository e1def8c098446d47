// The outbox provider against a real, freshly migrated PostgreSQL database: idempotent by key, one
// INSERT per batch, duplicates inside a batch and across batches answered with the first message's id.
// At the end: createProviders (providers/index.ts), the per-channel choice from the environment.
import { createDb, type Db } from '../../db/client';
import type { Channel } from '../../domain/campaign';
import { closeProviders, createProviders, isBatchProvider, providerEnvIssues, providerEnvSchema, rateLimits, smtpOptionsFromUrl } from '../../providers/index';
import { createOutboxProvider, type OutboxProvider } from '../../providers/outbox';
import type { OutgoingMessage } from '../../providers/types';
import { createTestDatabase } from '../helpers/database';

let database: { url: string; drop(): Promise<void> };
let db: Db;
let outbox: OutboxProvider;
let brokenDb: Db;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  outbox = createOutboxProvider(db);
  brokenDb = createDb('postgresql://nobody@127.0.0.1:1/none');
});

afterAll(async () => {
  await brokenDb?.$disconnect();
  await db?.$disconnect();
  await database?.drop();
});

const msg = (key: string, over: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  idempotencyKey: key,
  channel: 'email',
  to: `${key.replace(/[^a-z0-9]/gi, '')}@example.com`,
  subject: `Hello ${key}`,
  body: `Your code for ${key}`,
  ...over,
});

async function count(prefix: string): Promise<number> {
  const [row] = await db.$queryRawUnsafe<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM outbox_messages WHERE idempotency_key LIKE $1`, `${prefix}%`);
  return row.n;
}

test('send stores the rendered message and answers with its id', async () => {
  const r = await outbox.send(msg('single-1', { channel: 'sms', to: '+4915112345678', subject: undefined, body: 'Hi Ana, code ABC' }));
  expect(r).toEqual({ ok: true, providerMessageId: expect.stringMatching(/^\d+$/) });
  const row = await db.outboxMessage.findUnique({ where: { idempotencyKey: 'single-1' } });
  expect(row).toMatchObject({ channel: 'sms', recipient: '+4915112345678', subject: null, body: 'Hi Ana, code ABC' });
  expect(String(row!.id)).toBe((r as { providerMessageId: string }).providerMessageId);
});

test('a repeated key is a success with the first message id, and stores nothing new', async () => {
  const first = await outbox.send(msg('repeat-1', { body: 'first' }));
  const again = await outbox.send(msg('repeat-1', { body: 'second' }));
  expect(first.ok && again.ok).toBe(true);
  expect(again).toEqual(first);
  expect(await count('repeat-')).toBe(1);
  const row = await db.outboxMessage.findUnique({ where: { idempotencyKey: 'repeat-1' } });
  expect(row?.body).toBe('first');
});

test('concurrent sends of the same key store one row and all answer with its id', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outbox.send(msg('race-1', { body: `attempt ${i}` }))));
  expect(await count('race-')).toBe(1);
  const ids = new Set(results.map((r) => (r.ok ? r.providerMessageId : `failed: ${r.error}`)));
  expect(ids.size).toBe(1);
  expect([...ids][0]).toMatch(/^\d+$/);
});

test('sendMany: duplicates inside a batch and keys stored earlier answer with the first id, results in order', async () => {
  const earlier = await outbox.send(msg('batch-a'));
  const batch = [msg('batch-b', { body: 'b first' }), msg('batch-a', { body: 'a again' }), msg('batch-c'), msg('batch-b', { body: 'b second' }), msg('batch-c')];
  const results = await outbox.sendMany(batch);
  expect(results).toHaveLength(5);
  expect(results.every((r) => r.ok)).toBe(true);
  const ids = results.map((r) => (r.ok ? r.providerMessageId : undefined));
  expect(ids[1]).toBe(earlier.ok && earlier.providerMessageId);
  expect(ids[3]).toBe(ids[0]);
  expect(ids[4]).toBe(ids[2]);
  expect(new Set(ids).size).toBe(3);
  expect(await count('batch-')).toBe(3);
  const b = await db.outboxMessage.findUnique({ where: { idempotencyKey: 'batch-b' } });
  expect(b?.body).toBe('b first');

  // The same batch again: nothing new, same ids.
  const again = await outbox.sendMany(batch);
  expect(again).toEqual(results);
  expect(await count('batch-')).toBe(3);
});

test('sendMany: a message the table cannot hold fails permanently on its own, the rest of the batch goes in', async () => {
  const results = await outbox.sendMany([
    msg('invalid-ok-1'),
    msg('invalid-long-to', { to: `${'x'.repeat(600)}@example.com` }),
    msg('invalid-nul', { body: 'a\0b' }),
    msg('', {}),
    msg('invalid-channel', { channel: 'fax' as Channel }),
    msg('invalid-subject', { subject: 's'.repeat(301) }),
    msg('invalid-ok-2', { subject: 'ü'.repeat(300), to: 'ünïcødé@exämple.com' }),
  ]);
  expect(results.map((r) => (r.ok ? 'ok' : r.permanent ? 'permanent' : 'transient'))).toEqual(['ok', 'permanent', 'permanent', 'permanent', 'permanent', 'permanent', 'ok']);
  expect(results[1]).toMatchObject({ error: expect.stringContaining('recipient address longer than 512') });
  expect(await count('invalid-')).toBe(2);
});

test('a database that cannot be reached gives transient failures, never a throw', async () => {
  const broken = createOutboxProvider(brokenDb);
  const results = await broken.sendMany([msg('down-1'), msg('down-2'), msg('down-1')]);
  expect(results).toHaveLength(3);
  for (const r of results) expect(r).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('outbox: database error') });
  expect(await broken.send(msg('down-3'))).toMatchObject({ ok: false, permanent: false });
});

test('concurrent overlapping batches neither deadlock nor lose ids', async () => {
  const keys = Array.from({ length: 2_000 }, (_, i) => `overlap-${i}`);
  const shuffled = (seed: number) => [...keys].sort((a, b) => ((a.length * 31 + a.charCodeAt(a.length - 1) * seed) % 97) - ((b.length * 31 + b.charCodeAt(b.length - 1) * seed) % 97));
  const batches = [1, 2, 3, 4].map((s) => shuffled(s).map((k) => msg(k)));
  const all = await Promise.all(batches.map((b) => outbox.sendMany(b)));
  expect(await count('overlap-')).toBe(keys.length);
  const idByKey = new Map<string, string>();
  all.forEach((results, b) =>
    results.forEach((r, i) => {
      expect(r.ok).toBe(true);
      const key = batches[b][i].idempotencyKey;
      const id = r.ok ? r.providerMessageId! : '';
      if (idByKey.has(key)) expect(id).toBe(idByKey.get(key));
      else idByKey.set(key, id);
    }),
  );
});

test('sendMany: 10,000 messages in one call, stored in one transaction (timing printed)', async () => {
  const N = 10_000;
  const makeBatch = (campaign: string) =>
    Array.from({ length: N }, (_, i) =>
      msg(`bulk:${campaign}:user-${String(i).padStart(6, '0')}`, {
        to: `user${i}@example.com`,
        subject: 'Your ride is on us',
        body: `Hi User ${i}, here is your promo code KEEL-${(i * 7919).toString(36).toUpperCase()}. Enjoy the ride!`,
      }),
    );
  await outbox.sendMany(makeBatch('warmup').slice(0, 10).map((m) => ({ ...m, idempotencyKey: `warmup-${m.idempotencyKey}` }))); // open a pooled connection

  // Three batches of new messages: the first one pays for JIT warm-up, the others show the steady state.
  const newMs: number[] = [];
  let first: Awaited<ReturnType<OutboxProvider['sendMany']>> = [];
  for (const campaign of ['c1', 'c2', 'c3']) {
    const t = performance.now();
    const results = await outbox.sendMany(makeBatch(campaign));
    newMs.push(performance.now() - t);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results.map((r) => (r.ok ? r.providerMessageId : ''))).size).toBe(N);
    if (campaign === 'c1') first = results;
  }
  expect(await count('bulk:')).toBe(3 * N);

  // A retried batch: every key already stored (one INSERT that inserts nothing, one SELECT for the ids).
  let t = performance.now();
  const again = await outbox.sendMany(makeBatch('c1'));
  const repeatMs = performance.now() - t;
  expect(again).toEqual(first);
  expect(await count('bulk:')).toBe(3 * N);

  // The naive way, for the ratio: 500 single sends one after another.
  const naive = makeBatch('naive').slice(0, 500).map((m) => ({ ...m, idempotencyKey: `naive-${m.idempotencyKey}` }));
  t = performance.now();
  for (const m of naive) await outbox.send(m);
  const naivePerMsgMs = (performance.now() - t) / naive.length;

  const best = Math.min(...newMs);
  const line =
    `outbox sendMany, ${N} new messages per call: ${newMs.map((ms) => `${ms.toFixed(0)} ms`).join(', ')} ` +
    `(best ${Math.round(N / (best / 1000))} messages/s); the same ${N} again (all already stored): ${repeatMs.toFixed(0)} ms; ` +
    `one-at-a-time send: ${naivePerMsgMs.toFixed(2)} ms/message (${Math.round(1000 / naivePerMsgMs)}/s): ` +
    `batch ${(naivePerMsgMs / (best / N)).toFixed(0)}x faster`;
  process.stdout.write(`${line}\n`);
  // What makes it fast, asserted instead of a time a loaded machine may not keep: each call's 10,000 rows
  // were written by one transaction (one xmin; one created_at), where one-at-a-time sends take one each.
  for (const campaign of ['c1', 'c2', 'c3']) {
    const [one] = await db.$queryRaw<Array<{ xids: number; times: number; n: number }>>`
      SELECT count(DISTINCT xmin::text)::int AS xids, count(DISTINCT created_at)::int AS times, count(*)::int AS n
      FROM outbox_messages WHERE idempotency_key LIKE ${`bulk:${campaign}:%`}`;
    expect(one).toEqual({ xids: 1, times: 1, n: N });
  }
  const [naiveXids] = await db.$queryRaw<Array<{ xids: number }>>`
    SELECT count(DISTINCT xmin::text)::int AS xids FROM outbox_messages WHERE idempotency_key LIKE 'naive-%'`;
  expect(naiveXids.xids).toBe(naive.length);
});

// providers/index.ts: the per-channel choice from the environment (its tests live here, where a database is at hand).
describe('createProviders', () => {
  const parse = (env: Record<string, string>) => providerEnvSchema.parse(env);

  test('with nothing set every channel uses the outbox, one shared instance, no rate limits', async () => {
    const config = parse({});
    expect(config).toMatchObject({ KEEL_PROVIDER_EMAIL: 'outbox', KEEL_PROVIDER_SMS: 'outbox', KEEL_PROVIDER_PUSH: 'outbox', KEEL_WEBHOOK_TIMEOUT: 10_000 });
    const providers = createProviders(config, db);
    expect([providers.email.name, providers.sms.name, providers.push.name]).toEqual(['outbox', 'outbox', 'outbox']);
    expect(providers.sms).toBe(providers.email);
    expect(isBatchProvider(providers.email)).toBe(true);
    expect(await providers.push.send(msg('index-push-1', { channel: 'push', to: 'token-1' }))).toMatchObject({ ok: true });
    expect(rateLimits(config)).toEqual({ email: undefined, sms: undefined, push: undefined });
    await closeProviders(providers);
  });

  test('per-channel choice, SMTP URL parsing, rate limits; empty variables count as unset', async () => {
    const config = parse({
      KEEL_PROVIDER_EMAIL: 'smtp',
      KEEL_PROVIDER_SMS: 'webhook',
      KEEL_PROVIDER_PUSH: '',
      KEEL_SMTP_URL: 'smtps://keel%40example.com:p%40ss@mail.example.com?rejectUnauthorized=false',
      KEEL_SMTP_FROM: 'Keel <no-reply@example.com>',
      KEEL_WEBHOOK_URL: 'https://gateway.example.com/keel',
      KEEL_WEBHOOK_SECRET: 'a-secret-of-16-chars!',
      KEEL_WEBHOOK_TIMEOUT: '2500ms',
      KEEL_RATE_LIMIT_EMAIL: '50',
      KEEL_RATE_LIMIT_SMS: '12.5',
      KEEL_RATE_LIMIT_PUSH: '',
    });
    const providers = createProviders(config, db);
    expect([providers.email.name, providers.sms.name, providers.push.name]).toEqual(['smtp', 'webhook', 'outbox']);
    expect(rateLimits(config)).toEqual({ email: 50, sms: 12.5, push: undefined });
    expect(config.KEEL_WEBHOOK_TIMEOUT).toBe(2_500);
    expect(smtpOptionsFromUrl(config.KEEL_SMTP_URL!, 'x@y.z')).toMatchObject({
      host: 'mail.example.com',
      port: 465,
      secure: true,
      user: 'keel@example.com',
      pass: 'p@ss',
      rejectUnauthorized: false,
    });
    expect(smtpOptionsFromUrl('smtp://localhost:2525', 'x@y.z')).toMatchObject({ host: 'localhost', port: 2525, secure: false, user: undefined });
    await closeProviders(providers);
  });

  test('a chosen provider without its settings fails with the variables to set', () => {
    const config = parse({ KEEL_PROVIDER_EMAIL: 'smtp', KEEL_PROVIDER_PUSH: 'webhook' });
    expect(providerEnvIssues(config)).toHaveLength(4);
    expect(() => createProviders(config, db)).toThrow(/KEEL_PROVIDER_EMAIL=smtp needs KEEL_SMTP_URL/);
    expect(() => createProviders(config, db)).toThrow(/KEEL_PROVIDER_EMAIL=smtp needs KEEL_SMTP_FROM/);
    expect(() => createProviders(config, db)).toThrow(/KEEL_PROVIDER_PUSH=webhook needs KEEL_WEBHOOK_URL/);
    expect(() => createProviders(config, db)).toThrow(/KEEL_PROVIDER_PUSH=webhook needs KEEL_WEBHOOK_SECRET/);
  });

  test('bad values are refused by the schema with the variable named', () => {
    const issues = (env: Record<string, string>) => providerEnvSchema.safeParse(env).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(issues({ KEEL_PROVIDER_SMS: 'smtp' }).join()).toMatch(/^KEEL_PROVIDER_SMS/);
    expect(issues({ KEEL_SMTP_URL: 'http://mail.example.com' }).join()).toMatch(/^KEEL_SMTP_URL: must look like smtp:/);
    expect(issues({ KEEL_WEBHOOK_URL: 'gateway.example.com' }).join()).toMatch(/^KEEL_WEBHOOK_URL/);
    expect(issues({ KEEL_WEBHOOK_SECRET: 'short' }).join()).toMatch(/^KEEL_WEBHOOK_SECRET: must be at least 16/);
    expect(issues({ KEEL_WEBHOOK_TIMEOUT: 'soon' }).join()).toMatch(/^KEEL_WEBHOOK_TIMEOUT: invalid duration/);
    expect(issues({ KEEL_RATE_LIMIT_EMAIL: '0' }).join()).toMatch(/^KEEL_RATE_LIMIT_EMAIL: must be a positive/);
    expect(issues({ KEEL_RATE_LIMIT_SMS: 'fast' }).join()).toMatch(/^KEEL_RATE_LIMIT_SMS/);
  });
});
