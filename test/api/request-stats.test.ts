// API request stats: responses are counted in memory per minute and added to api_request_stats in
// batches (never a write per request); a failed flush keeps the counts for the next one.
import express from 'express';
import request from 'supertest';
import { createRequestStats, type RequestStats } from '../../api/request-stats';
import { createDb, type Db } from '../../db/client';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/stack';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

let database: { url: string; drop(): Promise<void> };
let db: Db;
let proxy: TcpProxy;
let proxiedDb: Db;
/** Nothing listens on port 1: every query fails at once. */
let brokenDb: Db;
const running: RequestStats[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  const u = new URL(database.url);
  proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  proxiedDb = createDb(u.toString());
  brokenDb = createDb('postgresql://nobody@127.0.0.1:1/none');
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  await proxiedDb?.$disconnect();
  await brokenDb?.$disconnect();
  await db?.$disconnect();
  await proxy?.close();
  await database?.drop();
});

function appWith(stats: RequestStats) {
  running.push(stats);
  const app = express();
  app.use(stats.middleware);
  app.get('/ok', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/boom', (_req, res) => {
    res.status(503).json({ error: 'unavailable' });
  });
  app.get('/throws', () => {
    throw new Error('bug');
  });
  return request(app);
}

async function rows(instance: string) {
  const found = await db.apiRequestStat.findMany({ where: { instance }, orderBy: { minute: 'asc' } });
  return found.map((r) => ({ minute: r.minute.toISOString(), total: r.total, serverErrors: r.serverErrors }));
}

const T0 = Date.parse('2026-11-26T10:00:30.000Z');

test('counts every response per minute, 5xx separately, and writes nothing until a flush', async () => {
  let clock = T0;
  const stats = createRequestStats(db, { instance: 'api-a', flushEveryMs: 0, now: () => clock });
  const agent = appWith(stats);
  for (let i = 0; i < 30; i++) await agent.get('/ok').expect(200);
  await agent.get('/boom').expect(503);
  await agent.get('/throws').expect(500);
  await agent.get('/missing').expect(404); // a 4xx is a response, not a server error
  clock = T0 + 60_000;
  await agent.get('/boom').expect(503);

  expect(await rows('api-a')).toEqual([]); // 34 requests, no database write
  expect(stats.pending()).toEqual([
    { minute: new Date('2026-11-26T10:00:00.000Z'), total: 33, serverErrors: 2 },
    { minute: new Date('2026-11-26T10:01:00.000Z'), total: 1, serverErrors: 1 },
  ]);

  await stats.flush();
  expect(stats.pending()).toEqual([]);
  expect(await rows('api-a')).toEqual([
    { minute: '2026-11-26T10:00:00.000Z', total: 33, serverErrors: 2 },
    { minute: '2026-11-26T10:01:00.000Z', total: 1, serverErrors: 1 },
  ]);

  // Later flushes add to the minute's row (several flushes per minute, several processes per row key).
  await agent.get('/ok').expect(200);
  await stats.flush();
  await stats.flush(); // nothing pending: no-op
  expect((await rows('api-a'))[1]).toEqual({ minute: '2026-11-26T10:01:00.000Z', total: 2, serverErrors: 1 });
});

test('instances have their own rows', async () => {
  const a = createRequestStats(db, { instance: 'api-b1', flushEveryMs: 0, now: () => T0 });
  const b = createRequestStats(db, { instance: 'api-b2', flushEveryMs: 0, now: () => T0 });
  await appWith(a).get('/ok').expect(200);
  await appWith(b).get('/boom').expect(503);
  await Promise.all([a.flush(), b.flush()]);
  expect(await rows('api-b1')).toEqual([{ minute: '2026-11-26T10:00:00.000Z', total: 1, serverErrors: 0 }]);
  expect(await rows('api-b2')).toEqual([{ minute: '2026-11-26T10:00:00.000Z', total: 1, serverErrors: 1 }]);
});

test('flushes on its own every flushEveryMs', async () => {
  const stats = createRequestStats(db, { instance: 'api-timer', flushEveryMs: 200 });
  const agent = appWith(stats);
  await agent.get('/ok').expect(200);
  await agent.get('/boom').expect(503);
  const written = await eventually(async () => {
    const r = await rows('api-timer');
    return r.length > 0 && r;
  }, 5_000);
  expect(written.reduce((s, r) => s + r.total, 0)).toBe(2);
  expect(written.reduce((s, r) => s + r.serverErrors, 0)).toBe(1);
});

test('a failed flush keeps the counts and the next one writes them, once', async () => {
  let clock = T0;
  const stats = createRequestStats(proxiedDb, { instance: 'api-retry', flushEveryMs: 0, now: () => clock });
  const agent = appWith(stats);
  for (let i = 0; i < 5; i++) await agent.get('/ok').expect(200);
  await agent.get('/boom').expect(503);

  await proxy.block();
  try {
    await expect(stats.flush()).rejects.toThrow();
    // Requests keep being counted while the database is away, into the same and a new minute.
    await agent.get('/boom').expect(503);
    clock = T0 + 60_000;
    await agent.get('/ok').expect(200);
    await expect(stats.flush()).rejects.toThrow();
    expect(stats.pending()).toEqual([
      { minute: new Date('2026-11-26T10:00:00.000Z'), total: 7, serverErrors: 2 },
      { minute: new Date('2026-11-26T10:01:00.000Z'), total: 1, serverErrors: 0 },
    ]);
  } finally {
    await proxy.unblock();
  }

  await eventually(async () => {
    await stats.flush();
    return true;
  }, 10_000, 200);
  expect(stats.pending()).toEqual([]);
  expect(await rows('api-retry')).toEqual([
    { minute: '2026-11-26T10:00:00.000Z', total: 7, serverErrors: 2 },
    { minute: '2026-11-26T10:01:00.000Z', total: 1, serverErrors: 0 },
  ]);
});

test('memory stays bounded while the database is away: the oldest minutes go first', async () => {
  let clock = T0;
  const stats = createRequestStats(brokenDb, {
    instance: 'api-bounded', flushEveryMs: 0, maxPendingMinutes: 2, now: () => clock,
  });
  const agent = appWith(stats);
  for (let m = 0; m < 4; m++) {
    clock = T0 + m * 60_000;
    await agent.get('/ok').expect(200);
    await agent.get('/ok').expect(200);
  }
  await expect(stats.flush()).rejects.toThrow();
  expect(stats.pending().map((p) => p.minute.toISOString())).toEqual(['2026-11-26T10:02:00.000Z', '2026-11-26T10:03:00.000Z']);
  expect(stats.dropped()).toBe(4);
});

test('stop() makes a last flush and does not throw when it fails', async () => {
  const stats = createRequestStats(db, { instance: 'api-stop', flushEveryMs: 60_000, now: () => T0 });
  await appWith(stats).get('/ok').expect(200);
  await stats.stop();
  expect(await rows('api-stop')).toEqual([{ minute: '2026-11-26T10:00:00.000Z', total: 1, serverErrors: 0 }]);

  const errors: unknown[] = [];
  const broken = createRequestStats(brokenDb, {
    instance: 'api-stop-broken', flushEveryMs: 60_000, onError: (e) => errors.push(e),
  });
  await appWith(broken).get('/ok').expect(200);
  await expect(broken.stop()).resolves.toBeUndefined();
  expect(errors).toHaveLength(1);
});
