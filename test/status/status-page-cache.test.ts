// The status page as served under load: bodies rendered once per change with strong ETags, 304 for a
// matching If-None-Match, a change seen through the version poll (not a read per request), and the last
// document kept while the database is unreachable. Real PostgreSQL; the outage is a TCP proxy cut.
import express from 'express';
import request from 'supertest';
import { statusRouter } from '../../api/routes/status';
import { errorHandler, notFoundRoute } from '../../api/errors';
import { createDb, type Db } from '../../db/client';
import * as store from '../../db/status-store';
import type { IncidentState } from '../../domain/incident';
import { createStatusPageCache, type StatusPageCache, type StatusPageCacheOptions } from '../../services/status-page-cache';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/stack';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const COMPONENTS = ['booking-api', 'car-unlock', 'payments'];

let database: { url: string; drop(): Promise<void> };
let db: Db;
const caches: StatusPageCache[] = [];
const extraDbs: Db[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 5 });
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const c of caches.splice(0)) c.stop();
  for (const d of extraDbs.splice(0)) await d.$disconnect().catch(() => undefined);
  for (const p of proxies.splice(0)) await p.close();
  await db.statusPage.deleteMany();
  await db.incident.deleteMany();
});

afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

function serve(over: Partial<StatusPageCacheOptions> = {}, withDb: Db = db) {
  const cache = createStatusPageCache({ db: withDb }, { components: COMPONENTS, ...over });
  caches.push(cache);
  const app = express();
  app.use(statusRouter(cache));
  app.use(notFoundRoute);
  app.use(errorHandler(() => undefined));
  return { app, cache };
}

/** A database connection through a proxy the test can cut. */
async function cuttableDb(): Promise<{ db: Db; proxy: TcpProxy }> {
  const url = new URL(database.url);
  const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
  proxies.push(proxy);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const proxied = createDb(url.toString(), { poolSize: 2 });
  extraDbs.push(proxied);
  return { db: proxied, proxy };
}

/** An open incident whose latest public update puts `component` in a major outage, then a rebuild. */
async function outage(id: string, component: string): Promise<void> {
  const at = new Date(Date.now() - 60_000).toISOString();
  const state = {
    incidentId: id, workflowId: `incident-${id}`, title: `Outage ${id}`, severity: 'SEV2', status: 'OPEN', components: [component],
    drill: false, declaredAt: at, declaredBy: 'commander:abcd1234', runbook: { severity: 'SEV2', version: '1+abc' }, roles: {},
    roleHistory: [], checklist: [], timeline: [], actionItems: [], retrospective: {}, version: 1,
    publicUpdates: [{ at, message: `${component} is down`, componentStates: { [component]: 'major_outage' }, by: 'communications:abcd1234' }],
  } satisfies IncidentState;
  await db.incident.create({
    data: {
      id, title: state.title, severity: 'SEV2', status: 'OPEN', drill: false, components: state.components, workflowId: state.workflowId,
      runbookVersion: '1+abc', snapshot: state, version: 1, declaredAt: new Date(at),
    },
  });
  await store.rebuildStatusPage(db, COMPONENTS);
}

test('both bodies carry a strong ETag and the old headers; a matching If-None-Match answers 304 without a body, for GET and HEAD', async () => {
  await store.rebuildStatusPage(db, COMPONENTS);
  const { app } = serve();
  const html = await request(app).get('/status').expect(200);
  const json = await request(app).get('/v1/status').expect(200);
  for (const res of [html, json]) {
    expect(res.headers.etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/); // strong: no W/ prefix
    expect(res.headers['cache-control']).toBe('public, max-age=15');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  }
  expect(html.headers.etag).not.toBe(json.headers.etag);
  expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(html.headers['content-security-policy']).toContain("default-src 'none'");
  expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(json.headers['content-security-policy']).toBeUndefined();
  expect(json.text).toBe(JSON.stringify(json.body)); // the bytes res.json sent before

  for (const [path, first] of [['/status', html], ['/v1/status', json]] as const) {
    const notModified = await request(app).get(path).set('If-None-Match', first.headers.etag).expect(304);
    expect(notModified.text ?? '').toBe('');
    expect(notModified.headers['content-length']).toBeUndefined();
    expect(notModified.headers.etag).toBe(first.headers.etag);
    expect(notModified.headers['cache-control']).toBe('public, max-age=15');
    // One of several validators matching is enough; another one is not.
    await request(app).get(path).set('If-None-Match', `"other", ${first.headers.etag}`).expect(304);
    const other = await request(app).get(path).set('If-None-Match', '"other"').expect(200);
    expect(other.text).toBe(first.text);

    const head = await request(app).head(path).expect(200);
    expect(head.headers.etag).toBe(first.headers.etag);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(first.text)));
    expect(head.text ?? '').toBe('');
    await request(app).head(path).set('If-None-Match', first.headers.etag).expect(304);
  }
});

test('after a rebuild the poll picks up the new document: a conditional GET answers 200 with a new ETag and the incident', async () => {
  await store.rebuildStatusPage(db, COMPONENTS);
  const { app } = serve({ refreshMs: 200 });
  const before = await request(app).get('/v1/status').expect(200);
  const beforeHtml = await request(app).get('/status').expect(200);
  expect(before.body.overall).toBe('operational');

  await outage('pay-1', 'payments');
  const rebuiltAt = Date.now();
  const after = await eventually(async () => {
    const res = await request(app).get('/v1/status').set('If-None-Match', before.headers.etag);
    return res.status === 200 ? res : undefined;
  }, 20_000, 50);
  const seenAfterMs = Date.now() - rebuiltAt;
  expect(after.headers.etag).not.toBe(before.headers.etag);
  expect(after.body.overall).toBe('major_outage');
  expect(after.body.activeIncidents.map((i: { incidentId: string }) => i.incidentId)).toEqual(['pay-1']);
  const html = await request(app).get('/status').set('If-None-Match', beforeHtml.headers.etag).expect(200);
  expect(html.headers.etag).not.toBe(beforeHtml.headers.etag);
  expect(html.text).toContain('Outage pay-1');
  // The new ETag is stable until the next change.
  await request(app).get('/v1/status').set('If-None-Match', after.headers.etag).expect(304);
  process.stderr.write(`[status-page-cache] rebuild seen after ${seenAfterMs} ms (poll every 200 ms)\n`);
});

test('no database read per request: 300 requests cost one document read and at most one version read per poll interval', async () => {
  await store.rebuildStatusPage(db, COMPONENTS);
  const documentReads = jest.spyOn(store, 'readVersionedStatusPage');
  const versionReads = jest.spyOn(store, 'readStatusPageVersion');
  const legacyReads = jest.spyOn(store, 'readStatusPage');
  const { app } = serve({ refreshMs: 1_000 });
  const t0 = Date.now();
  const agent = request.agent(app);
  for (let round = 0; round < 30; round++) {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => agent.get(i % 2 ? '/status' : '/v1/status')));
    for (const a of answers) expect(a.status).toBe(200);
  }
  const elapsedS = (Date.now() - t0) / 1000;
  expect(documentReads).toHaveBeenCalledTimes(1); // the first request; the document never changed
  expect(legacyReads).not.toHaveBeenCalled();
  expect(versionReads.mock.calls.length).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1);
});

test('the poll starts with the first request and stop() ends it', async () => {
  await store.rebuildStatusPage(db, COMPONENTS);
  const versionReads = jest.spyOn(store, 'readStatusPageVersion');
  const { app, cache } = serve({ refreshMs: 50 });
  await new Promise((r) => setTimeout(r, 300));
  expect(versionReads).not.toHaveBeenCalled(); // nobody asked for the page yet
  await request(app).get('/v1/status').expect(200);
  await eventually(async () => versionReads.mock.calls.length >= 2, 10_000, 20);
  cache.stop();
  await new Promise((r) => setTimeout(r, 100)); // a poll already in flight finishes
  const calls = versionReads.mock.calls.length;
  await new Promise((r) => setTimeout(r, 400));
  expect(versionReads.mock.calls.length).toBe(calls);
  await request(app).get('/v1/status').expect(200); // still served after stop
});

test('database unreachable after a first read: both pages keep serving the last document (200 and 304), and a rebuild shows once it is back', async () => {
  await outage('car-1', 'car-unlock');
  const { db: proxied, proxy } = await cuttableDb();
  const errors: unknown[] = [];
  const { app } = serve({ refreshMs: 100, onError: (err) => errors.push(err) }, proxied);
  const html = await request(app).get('/status').expect(200);
  const json = await request(app).get('/v1/status').expect(200);
  expect(json.body.overall).toBe('major_outage');

  await proxy.block();
  await eventually(async () => errors.length > 0, 15_000, 50); // the poll fails...
  for (let i = 0; i < 5; i++) {
    // ...and the page stays up with the document it had.
    const h = await request(app).get('/status').expect(200);
    expect(h.text).toBe(html.text);
    expect(h.headers.etag).toBe(html.headers.etag);
    const j = await request(app).get('/v1/status').expect(200);
    expect(j.body).toEqual(json.body);
    await request(app).get('/v1/status').set('If-None-Match', json.headers.etag).expect(304);
  }
  // A failure reported once, not once per poll.
  await new Promise((r) => setTimeout(r, 500));
  expect(new Set(errors.map((e) => String((e as Error).message))).size).toBe(errors.length);

  await proxy.unblock();
  await outage('pay-2', 'payments');
  const back = await eventually(async () => {
    const res = await request(app).get('/v1/status').set('If-None-Match', json.headers.etag);
    return res.status === 200 ? res : undefined;
  }, 30_000, 100);
  expect(back.body.activeIncidents.map((i: { incidentId: string }) => i.incidentId).sort()).toEqual(['car-1', 'pay-2']);
});

test('database unreachable before any successful read: 503 DATABASE_UNAVAILABLE, as any database read', async () => {
  const { db: proxied, proxy } = await cuttableDb();
  await proxy.block();
  const { app } = serve({}, proxied);
  const res = await request(app).get('/v1/status').expect(503);
  expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
  await request(app).get('/status').expect(503);
  await proxy.unblock();
  await request(app).get('/v1/status').expect(200);
});
