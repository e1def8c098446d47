// When a dependency is down the API answers 503 with the error shape and leaves nothing half-written.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createDb, type Db } from '../../db/client';
import { readDashboard } from '../../db/dashboard-store';
import { createTestDatabase } from '../helpers/database';
import { DEFAULT_CAMPAIGN_SETTINGS, bookingBody } from '../helpers/stack';
import { loadRunbooks } from '../../runbooks/load';

const KEY = 'service-key-0123456789abcdef';
let database: { url: string; drop(): Promise<void> };
let db: Db;
let deadDb: Db;
let connection: Connection;

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url);
  deadDb = createDb('postgresql://keel:keel@127.0.0.1:1/keel');
  // Nothing listens on port 1: every Temporal call fails as UNAVAILABLE.
  connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 });
});
afterAll(async () => {
  await db?.$disconnect();
  await deadDb?.$disconnect();
  // The SDK's retry interceptor may still have a backoff timer armed from the last failed call;
  // closing the channel under it throws from a timer, so let it run out first.
  await new Promise((r) => setTimeout(r, 3000));
  await connection?.close().catch(() => undefined);
  await database?.drop();
});

function app(withDb: Db) {
  return createApp({
    db: withDb,
    client: new Client({ connection, namespace: 'default' }),
    logger: pino({ level: 'silent' }),
    apiKeys: `service:${KEY}`,
    incidents: { components: ['booking-api'], runbooks: loadRunbooks() },
    campaigns: DEFAULT_CAMPAIGN_SETTINGS,
    workflows: { taskQueuePrefix: 'unused', settings: { noShowGraceMs: 1, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
  });
}

test('Temporal unreachable: POST /v1/bookings answers 503 and the booking row is rolled back', async () => {
  const body = bookingBody();
  const res = await request(app(db)).post('/v1/bookings').set('Authorization', `Bearer ${KEY}`).send(body);
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('TEMPORAL_UNAVAILABLE');
  expect(res.headers['retry-after']).toBeDefined();
  expect(await db.booking.count({ where: { id: body.bookingId } })).toBe(0);
  expect(await db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(0);
}, 60_000);

test('Temporal unreachable: identical creates sent at once all answer 503 and leave no row, event or count behind', async () => {
  const body = bookingBody();
  const api = app(db);
  const answers = await Promise.all(Array.from({ length: 5 }, () => request(api).post('/v1/bookings').set('Authorization', `Bearer ${KEY}`).send(body)));
  expect(answers.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
  for (const r of answers) expect(r.body.error.code).toBe('TEMPORAL_UNAVAILABLE');
  expect(await db.booking.count({ where: { id: body.bookingId } })).toBe(0);
  expect(await db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(0);
  const dashboard = await readDashboard(db, { timeZone: 'UTC' });
  expect(dashboard.bookingsByStatus.CONFIRMED).toBe(0);
  expect(dashboard.revenueToday.byCurrency).toEqual({});
}, 120_000);

test('database unreachable: reads answer 503 DATABASE_UNAVAILABLE; /readyz says which dependency is down', async () => {
  const res = await request(app(deadDb)).get('/v1/bookings/any-id').set('Authorization', `Bearer ${KEY}`);
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
  const ready = await request(app(deadDb)).get('/readyz');
  expect(ready.status).toBe(503);
  expect(ready.body).toMatchObject({ status: 'unavailable', checks: { database: { ok: false }, temporal: { ok: false } } });
  expect((await request(app(deadDb)).get('/healthz')).status).toBe(200);
}, 60_000);
