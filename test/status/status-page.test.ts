// The status page against a real PostgreSQL: rebuild from incident rows, serve the stored document as
// HTML and JSON without a key, never scan incidents on read, and export a static copy.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { Prisma } from '../../generated/prisma/client';
import { statusRouter } from '../../api/routes/status';
import { errorHandler, notFoundRoute } from '../../api/errors';
import { createDb, type Db } from '../../db/client';
import { readStatusPage, rebuildStatusPage, statusSourceQuery, STATUS_PAGE_ID } from '../../db/status-store';
import type { ComponentState, IncidentState, IncidentStatus } from '../../domain/incident';
import { buildStatusDocument, type StatusDocument } from '../../domain/status-page';
import { exportStatusPage } from '../../scripts/status-export';
import { createStatusPageCache, type StatusPageCache } from '../../services/status-page-cache';
import { createTestDatabase } from '../helpers/database';

const COMPONENTS = ['booking-api', 'car-unlock', 'payments', 'notifications', 'customer-app'];
const DAY = 86_400_000;

let database: { url: string; drop(): Promise<void> };
let db: Db;
let app: express.Express;
let cache: StatusPageCache;
/** A GET once the page cache has seen the stored row (its poll is off here: these tests are about the document). */
const get = async (p: string): Promise<request.Response> => {
  await cache.refresh();
  return request(app).get(p);
};

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDb(database.url, { poolSize: 5 });
  app = express();
  cache = createStatusPageCache({ db }, { components: COMPONENTS, refreshMs: 0 });
  app.use(statusRouter(cache));
  app.use(notFoundRoute);
  app.use(errorHandler(() => undefined));
});

afterAll(async () => {
  await db?.$disconnect();
  await database?.drop();
});

beforeEach(async () => {
  await db.statusPage.deleteMany();
  await db.incident.deleteMany();
});

interface Seed {
  id: string;
  title?: string;
  status?: IncidentStatus;
  drill?: boolean;
  components?: string[];
  declaredAgoMs: number;
  resolvedAgoMs?: number;
  updates?: Array<{ agoMs: number; states: Record<string, ComponentState>; message?: string }>;
}

async function insertIncident(s: Seed): Promise<IncidentState> {
  const now = Date.now();
  const at = (ago: number) => new Date(now - ago).toISOString();
  const status = s.status ?? 'OPEN';
  const state: IncidentState = {
    incidentId: s.id,
    workflowId: `incident-${s.id}`,
    title: s.title ?? `Incident ${s.id}`,
    severity: 'SEV2',
    status,
    components: s.components ?? [],
    drill: s.drill ?? false,
    declaredAt: at(s.declaredAgoMs),
    declaredBy: 'commander:abcd1234',
    ...(s.resolvedAgoMs !== undefined ? { resolvedAt: at(s.resolvedAgoMs) } : {}),
    runbook: { severity: 'SEV2', version: '1+abc' },
    roles: {},
    roleHistory: [],
    checklist: [],
    // Large parts the status page never reads: they are left in the database.
    timeline: [{ seq: 1, at: at(s.declaredAgoMs), kind: 'declared', actor: 'commander:abcd1234', text: 'secret internal note' }],
    publicUpdates: (s.updates ?? []).map((u) => ({
      at: at(u.agoMs),
      message: u.message ?? 'We are investigating.',
      componentStates: u.states,
      by: 'communications:abcd1234',
    })),
    actionItems: [],
    retrospective: {},
    version: 3,
  };
  await db.incident.create({
    data: {
      id: s.id,
      title: state.title,
      severity: state.severity,
      status,
      drill: state.drill,
      components: state.components,
      workflowId: state.workflowId,
      runbookVersion: state.runbook.version,
      snapshot: state as unknown as Prisma.InputJsonValue,
      version: state.version,
      declaredAt: new Date(state.declaredAt),
      resolvedAt: state.resolvedAt ? new Date(state.resolvedAt) : null,
    },
  });
  return state;
}

const stateOf = (doc: StatusDocument, name: string) => doc.components.find((c) => c.name === name)?.state;

describe('readStatusPage before any rebuild', () => {
  test('an empty table answers an all-operational document', async () => {
    const doc = await readStatusPage(db, COMPONENTS);
    expect(doc.overall).toBe('operational');
    expect(doc.components).toEqual(COMPONENTS.map((name) => ({ name, state: 'operational' })));
    expect(doc.activeIncidents).toEqual([]);
    expect(await db.statusPage.count()).toBe(0); // reading never writes
  });

  test('does not scan incidents: an open incident without a rebuild is not on the page', async () => {
    await insertIncident({ id: 'unbuilt', declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'major_outage' } }] });
    const doc = await readStatusPage(db, COMPONENTS);
    expect(doc.overall).toBe('operational');
    expect(doc.activeIncidents).toEqual([]);
  });
});

describe('rebuild and serve', () => {
  test('GET /status (HTML) and GET /v1/status (JSON) serve the rebuilt document without a key', async () => {
    await insertIncident({
      id: 'pay-1',
      title: 'Payments failing <script>alert(1)</script>',
      components: ['payments'],
      declaredAgoMs: 3_600_000,
      updates: [
        { agoMs: 3_000_000, states: { payments: 'major_outage' }, message: 'Card payments fail.' },
        { agoMs: 600_000, states: { payments: 'partial_outage', 'car-unlock': 'degraded' }, message: 'Recovering.' },
      ],
    });
    await insertIncident({
      id: 'old-1',
      status: 'CLOSED',
      components: ['booking-api'],
      declaredAgoMs: 10 * DAY,
      resolvedAgoMs: 10 * DAY - 3_600_000,
      updates: [{ agoMs: 10 * DAY, states: { 'booking-api': 'major_outage' } }],
    });
    await insertIncident({
      id: 'drill-1',
      drill: true,
      components: ['notifications'],
      declaredAgoMs: 60_000,
      updates: [{ agoMs: 30_000, states: { notifications: 'major_outage' } }],
    });

    const built = await rebuildStatusPage(db, COMPONENTS);
    expect(stateOf(built, 'payments')).toBe('partial_outage');
    expect(stateOf(built, 'car-unlock')).toBe('degraded');
    expect(stateOf(built, 'booking-api')).toBe('operational'); // closed
    expect(stateOf(built, 'notifications')).toBe('operational'); // drill
    expect(built.overall).toBe('partial_outage');
    expect(built.activeIncidents.map((i) => i.incidentId)).toEqual(['pay-1']);
    expect(built.activeIncidents[0].updates.map((u) => u.message)).toEqual(['Recovering.', 'Card payments fail.']);
    const bookingApi = built.history.find((h) => h.component === 'booking-api')!;
    expect(bookingApi.incidents.map((i) => [i.incidentId, i.worstState])).toEqual([['old-1', 'major_outage']]);
    expect(bookingApi.days.filter((d) => d.state === 'major_outage').length).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(built)).not.toMatch(/drill-1|secret internal note|communications:abcd1234/);

    const json = await get('/v1/status');
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toMatch(/application\/json/);
    expect(json.headers['cache-control']).toBe('public, max-age=15');
    expect(json.body).toEqual(built);

    const html = await get('/status');
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.headers['cache-control']).toBe('public, max-age=15');
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    expect(html.text).toContain('<meta http-equiv="refresh" content="30">');
    expect(html.text).toContain('Payments failing &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html.text).not.toContain('<script');
    expect(html.text).toContain('Recovering.');
    expect(html.text).toMatch(/<span class="name">payments<\/span><span class="badge s-partial-outage">Partial outage<\/span>/);
    expect(html.text).toContain(`Last updated <time datetime="${built.generatedAt}">`);
  });

  test('GET serves the stored document: a new incident shows only after the next rebuild', async () => {
    await rebuildStatusPage(db, COMPONENTS);
    const before = (await get('/v1/status')).body as StatusDocument;
    expect(before.overall).toBe('operational');

    await insertIncident({ id: 'car-1', components: ['car-unlock'], declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { 'car-unlock': 'major_outage' } }] });
    const stale = await get('/v1/status');
    expect(stale.body).toEqual(before);
    expect((await get('/status')).text).not.toContain('Incident car-1');

    await rebuildStatusPage(db, COMPONENTS);
    const after = (await get('/v1/status')).body as StatusDocument;
    expect(after.overall).toBe('major_outage');
    expect(after.activeIncidents.map((i) => i.incidentId)).toEqual(['car-1']);
    expect((await get('/status')).text).toContain('Incident car-1');
  });

  test('resolving the incident (and rebuilding) returns its components to operational', async () => {
    await insertIncident({ id: 'car-2', components: ['car-unlock'], declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { 'car-unlock': 'major_outage' } }] });
    expect((await rebuildStatusPage(db, COMPONENTS)).overall).toBe('major_outage');
    const resolvedAt = new Date();
    const row = await db.incident.findUniqueOrThrow({ where: { id: 'car-2' } });
    await db.incident.update({
      where: { id: 'car-2' },
      data: {
        status: 'RESOLVED',
        resolvedAt,
        snapshot: { ...(row.snapshot as object), status: 'RESOLVED', resolvedAt: resolvedAt.toISOString() },
      },
    });
    const doc = await rebuildStatusPage(db, COMPONENTS);
    expect(doc.overall).toBe('operational');
    expect(doc.activeIncidents).toEqual([]);
    expect(doc.history.find((h) => h.component === 'car-unlock')!.incidents.map((i) => i.incidentId)).toEqual(['car-2']);
  });

  test('long incidents: one declared before the window but resolved inside it is in the history; an old open one is active', async () => {
    await insertIncident({
      id: 'long-resolved',
      status: 'RESOLVED',
      components: ['payments'],
      declaredAgoMs: 95 * DAY,
      resolvedAgoMs: 85 * DAY,
      updates: [{ agoMs: 95 * DAY, states: { payments: 'degraded' } }],
    });
    await insertIncident({ id: 'ancient-open', components: ['car-unlock'], declaredAgoMs: 400 * DAY, updates: [{ agoMs: 400 * DAY, states: { 'car-unlock': 'degraded' } }] });
    await insertIncident({
      id: 'gone',
      status: 'CLOSED',
      components: ['payments'],
      declaredAgoMs: 200 * DAY,
      resolvedAgoMs: 199 * DAY,
      updates: [{ agoMs: 200 * DAY, states: { payments: 'major_outage' } }],
    });
    const doc = await rebuildStatusPage(db, COMPONENTS);
    const payments = doc.history.find((h) => h.component === 'payments')!;
    expect(payments.incidents.map((i) => i.incidentId)).toEqual(['long-resolved']);
    expect(payments.days.slice(0, 5).map((d) => d.state)).toEqual(Array(5).fill('degraded'));
    expect(doc.activeIncidents.map((i) => i.incidentId)).toEqual(['ancient-open']);
    expect(stateOf(doc, 'car-unlock')).toBe('degraded');
    expect(doc.history.find((h) => h.component === 'car-unlock')!.days.every((d) => d.state === 'degraded')).toBe(true);
  });

  test('only drills: the page stays untouched by them', async () => {
    const empty = await rebuildStatusPage(db, COMPONENTS, new Date('2026-11-26T12:00:00Z'));
    await insertIncident({ id: 'drill-2', drill: true, components: ['payments'], declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'major_outage' } }] });
    const again = await rebuildStatusPage(db, COMPONENTS, new Date('2026-11-26T12:00:00Z'));
    expect(again).toEqual(empty);
  });

  test('rebuild is idempotent and safe concurrently: one row, the same document', async () => {
    await insertIncident({ id: 'pay-2', declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'degraded' } }] });
    const now = new Date();
    const docs = await Promise.all(Array.from({ length: 6 }, () => rebuildStatusPage(db, COMPONENTS, now)));
    for (const d of docs) expect(d).toEqual(docs[0]);
    expect(await db.statusPage.count()).toBe(1);
    const row = await db.statusPage.findUniqueOrThrow({ where: { id: STATUS_PAGE_ID } });
    expect(row.document).toEqual(docs[0]);
    expect(await readStatusPage(db, COMPONENTS)).toEqual(docs[0]);
  });

  test('a rebuild waiting for a concurrent one reads incidents only after it got the lock (no stale overwrite)', async () => {
    await rebuildStatusPage(db, COMPONENTS);
    let release!: () => void;
    let locked!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const isLocked = new Promise<void>((r) => (locked = r));
    // Another rebuild in progress: it holds the row lock.
    const other = db.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT "id" FROM "status_page" WHERE "id" = ${STATUS_PAGE_ID} FOR UPDATE`;
        locked();
        await held;
      },
      { timeout: 20_000 },
    );
    await isLocked;
    let done = false;
    const waiting = rebuildStatusPage(db, COMPONENTS).then((d) => ((done = true), d));
    // An incident committed while the second rebuild waits for the lock.
    await insertIncident({ id: 'late', declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'major_outage' } }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    release();
    await other;
    const doc = await waiting;
    expect(doc.activeIncidents.map((i) => i.incidentId)).toEqual(['late']);
    expect((await readStatusPage(db, COMPONENTS)).overall).toBe('major_outage');
  });

  test('the source query is bounded by the indexes (no sequential scan of incidents)', async () => {
    // Enough rows that the plan is a real choice, then forbid seq scans: the query must still be answerable by indexes.
    await db.$executeRaw`
      INSERT INTO "incidents" ("id", "title", "severity", "status", "drill", "components", "workflow_id", "runbook_version", "snapshot", "declared_at", "resolved_at")
      SELECT 'bulk-' || g, 'bulk', 'SEV4', 'CLOSED', false, ARRAY['payments'], 'incident-bulk-' || g, '1', '{}'::jsonb,
             now() - (g || ' days')::interval, now() - (g || ' days')::interval + interval '1 hour'
      FROM generate_series(1, 5000) g`;
    await db.$executeRaw`ANALYZE "incidents"`;
    const plan = await db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
      const rows = await tx.$queryRaw<Array<Record<string, string>>>(Prisma.sql`EXPLAIN ${statusSourceQuery(new Date())}`);
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    expect(plan).not.toMatch(/Seq Scan/);
    if (process.env.KEEL_SHOW_PLAN) console.log(plan);
    // Each branch is a range on an index, not a full index walk with a filter.
    expect(plan).toMatch(/Index Cond: \(declared_at >= /);
    expect(plan).toMatch(/Index Cond: \(\(status = ANY .*\) AND \(declared_at < /);
    // The bulk rows older than 90 days are outside the window.
    const doc = await rebuildStatusPage(db, COMPONENTS);
    expect(doc.overall).toBe('operational');
  });
});

describe('static export', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keel-status-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('writes index.html and status.json with the same content as /v1/status', async () => {
    await insertIncident({ id: 'pay-3', title: 'Slow payments', declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'degraded' } }] });
    await rebuildStatusPage(db, COMPONENTS);
    const out = path.join(dir, 'nested', 'public');
    const result = await exportStatusPage(db, COMPONENTS, out);
    const api = (await get('/v1/status')).body;
    expect(JSON.parse(await fs.readFile(path.join(out, 'status.json'), 'utf8'))).toEqual(api);
    const html = await fs.readFile(path.join(out, 'index.html'), 'utf8');
    expect(html).toBe((await get('/status')).text);
    expect(html).toContain('Slow payments');
    expect(result.document).toEqual(api);
    expect((await fs.readdir(out)).sort()).toEqual(['index.html', 'status.json']); // no temporary files left
  });

  test('before any rebuild, the export is the all-operational page', async () => {
    await exportStatusPage(db, COMPONENTS, dir);
    const doc = JSON.parse(await fs.readFile(path.join(dir, 'status.json'), 'utf8')) as StatusDocument;
    const { generatedAt: _g, ...rest } = doc;
    const { generatedAt: _e, ...expected } = buildStatusDocument([], COMPONENTS, new Date(doc.generatedAt));
    expect(rest).toEqual(expected);
  });

  describe('npm run status:export (the script)', () => {
    const tsx = path.join(__dirname, '../../node_modules/.bin/tsx');
    const script = path.join(__dirname, '../../scripts/status-export.ts');
    const run = (args: string[], env: Record<string, string | undefined>) => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
      return spawnSync(tsx, [script, ...args], { env: childEnv, encoding: 'utf8', timeout: 60_000 });
    };

    test('exits 1 with a clear message without a directory or without DATABASE_URL', () => {
      const noDir = run([], { DATABASE_URL: database.url });
      expect(noDir.status).toBe(1);
      expect(noDir.stderr).toMatch(/No output directory given/);
      expect(noDir.stderr).toMatch(/usage: npm run status:export -- <dir>/);
      // KEEL_DATA_DIR without a dev stack's database-url file: nothing to fall back to.
      const noUrl = run([dir], { DATABASE_URL: undefined, KEEL_DATA_DIR: `${dir}-no-dev-stack` });
      expect(noUrl.status).toBe(1);
      expect(noUrl.stderr).toMatch(/DATABASE_URL is not set/);
    });

    test('writes both files from the stored document, with KEEL_STATUS_COMPONENTS', async () => {
      await insertIncident({ id: 'pay-4', declaredAgoMs: 60_000, updates: [{ agoMs: 30_000, states: { payments: 'partial_outage' } }] });
      await rebuildStatusPage(db, ['payments', 'car-unlock']);
      const res = run([dir], { DATABASE_URL: database.url, KEEL_STATUS_COMPONENTS: 'payments,car-unlock' });
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      expect(res.stdout).toMatch(/Wrote .*index\.html and .*status\.json \(overall: partial_outage/);
      const doc = JSON.parse(await fs.readFile(path.join(dir, 'status.json'), 'utf8'));
      expect(doc).toEqual((await get('/v1/status')).body);
      expect(doc.components).toEqual([
        { name: 'payments', state: 'partial_outage' },
        { name: 'car-unlock', state: 'operational' },
      ]);
      expect(await fs.readFile(path.join(dir, 'index.html'), 'utf8')).toContain('Partial outage');
    });
  });
});
