// Unknown methods on documented paths: 405 with Allow (from the OpenAPI document's paths), OPTIONS
// 204 with Allow, HEAD where GET is; the interactive docs at /docs. None of it needs the database or
// Temporal, so the app runs here without them.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createDb } from '../../db/client';
import { DEFAULT_CAMPAIGN_SETTINGS } from '../helpers/stack';
import { loadRunbooks } from '../../runbooks/load';

const KEY = 'operator-key-0123456789abcdef';
const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 });
const db = createDb('postgresql://keel:keel@127.0.0.1:1/keel');
const app = createApp({
  db,
  client: new Client({ connection, namespace: 'default' }),
  logger: pino({ level: 'silent' }),
  apiKeys: `operator:${KEY}`,
  incidents: { components: ['booking-api'], runbooks: loadRunbooks() },
  campaigns: DEFAULT_CAMPAIGN_SETTINGS,
  workflows: { taskQueuePrefix: 'unused', settings: { noShowGraceMs: 1, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
});

afterAll(async () => {
  await db.$disconnect();
  await connection.close().catch(() => undefined);
});

test.each([
  ['TRACE', '/v1/bookings', 'POST, OPTIONS'],
  ['PUT', '/v1/bookings', 'POST, OPTIONS'],
  ['DELETE', '/v1/bookings/bk-1', 'GET, HEAD, OPTIONS'],
  ['GET', '/v1/bookings/bk-1/cancel', 'POST, OPTIONS'],
  ['PATCH', '/v1/admin/log-level', 'GET, HEAD, PUT, OPTIONS'],
  ['POST', '/v1/campaigns/c-1', 'GET, HEAD, PATCH, OPTIONS'],
  // A concrete path wins over /v1/campaigns/{id}.
  ['GET', '/v1/campaigns/preview', 'POST, OPTIONS'],
  ['PATCH', '/v1/campaigns/preview', 'POST, OPTIONS'],
  ['TRACE', '/healthz', 'GET, HEAD, OPTIONS'],
  ['POST', '/status', 'GET, HEAD, OPTIONS'],
  ['DELETE', '/v1/incidents/i-1/steps/a-step/skip/', 'POST, OPTIONS'],
])('%s %s: 405 with Allow: %s (before authentication)', async (method, path, allow) => {
  const res = await request(app)[method.toLowerCase() as 'get'](path);
  expect(res.status).toBe(405);
  expect(res.headers.allow).toBe(allow);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body.error).toMatchObject({ code: 'METHOD_NOT_ALLOWED', details: { allow: allow.split(', ') } });
});

test('OPTIONS on a documented path: 204 with Allow; on an unknown path: 404', async () => {
  const res = await request(app).options('/v1/incidents/i-1');
  expect(res.status).toBe(204);
  expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
  expect((await request(app).options('/nothing-here')).status).toBe(404);
});

test('allowed methods and undocumented paths pass through to the routers', async () => {
  // Past the 405 handler: the key is checked (401), unknown paths are 404.
  expect((await request(app).post('/v1/bookings').send({})).status).toBe(401);
  expect((await request(app).get('/v1/bookings/bk-1')).status).toBe(401);
  expect((await request(app).head('/healthz')).status).toBe(200);
  expect((await request(app).trace('/unknown')).status).toBe(404);
});

test('a malformed Idempotency-Key on an action route is a 400 as documented; a good one passes', async () => {
  const auth = { Authorization: `Bearer ${KEY}` };
  const bad = await request(app).post('/v1/incidents/i-1/notes').set(auth).set('Idempotency-Key', 'not valid!').send({ text: 'x' });
  expect(bad.status).toBe(400);
  expect(bad.body.error.details.fields[0].field).toBe('Idempotency-Key');
  // A good key reaches the route, which answers 503 here (no database).
  const good = await request(app).post('/v1/incidents/i-1/notes').set(auth).set('Idempotency-Key', 'k-1').send({ text: 'x' });
  expect(good.status).toBe(503);
}, 30_000);

test('/docs: Swagger UI of /v1/openapi.json, served locally under a strict policy', async () => {
  const page = await request(app).get('/docs').expect(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  const csp = page.headers['content-security-policy'];
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(page.text).not.toMatch(/https?:\/\//); // nothing from elsewhere
  const init = await request(app).get('/docs/init.js').expect(200);
  expect(init.text).toContain("url: '/v1/openapi.json'");
  expect(init.text).toContain('validatorUrl: null');
  for (const src of [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])) {
    expect({ src, status: (await request(app).get(src)).status }).toEqual({ src, status: 200 });
  }
  // Only the files the page uses: not swagger-ui-dist's demo index.html (it points at a public URL).
  expect((await request(app).get('/docs/assets/index.html')).status).toBe(404);
  const doc = await request(app).get('/v1/openapi.json').expect(200);
  expect(doc.body.paths['/docs'].get.responses['200'].content['text/html']).toBeDefined();
});
