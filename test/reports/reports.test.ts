// Problem intake through the API: filing a report (idempotent with an Idempotency-Key), reading and
// paginating, linking to an incident or opening one from it, every refusal and the role matrix.
import { bookingBody, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  // Opening an incident starts its workflow; only the incidents worker is needed for that.
  stack = await startStack({ name: 'reports', workers: ['incidents'] });
});
afterAll(() => stack?.stop());

const report = (over: Record<string, unknown> = {}) => ({
  reporter: 'Ana (customer service)',
  contact: 'customer@example.test',
  summary: 'Customer cannot unlock car-7, app spins on "connect"',
  ...over,
});
const file = (body: object, key?: string, role: 'service' | 'operator' | 'commander' = 'service') => {
  const t = stack.api(role).post('/v1/reports', body);
  return key === undefined ? t : t.set('Idempotency-Key', key);
};
const declare = async (title = 'Cars do not unlock') =>
  (await stack.api('commander').post('/v1/incidents', { title, severity: 'SEV2', components: ['car-unlock'] }).expect(201)).body.incidentId as string;

describe('problem reports', () => {
  test('file a report: stored NEW with its author, audited without the contact', async () => {
    const res = await file(report({ severityGuess: 'SEV2' })).expect(201);
    expect(res.body).toMatchObject({
      reportId: expect.stringMatching(/^rep-\d{8}-[0-9a-f]{8}$/), status: 'NEW', severityGuess: 'SEV2', bookingId: null, bookingFound: null,
      incidentId: null, createdBy: expect.stringMatching(/^service:[0-9a-f]{8}$/), deduplicated: false, ...report(),
    });
    const got = await stack.api('viewer').get(`/v1/reports/${res.body.reportId}`).expect(200);
    expect(got.body).toMatchObject({ reportId: res.body.reportId, summary: report().summary, status: 'NEW' });
    const audit = await stack.db.auditLog.findMany({ where: { resourceType: 'problem_report', resourceId: res.body.reportId } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'report.create', actor: res.body.createdBy });
    expect(JSON.stringify(audit[0].details)).not.toContain('customer@example.test');
  });

  test('a known booking id is marked found; an unknown one is kept and flagged', async () => {
    const b = bookingBody();
    await stack.api().post('/v1/bookings', b).expect(201);
    const known = await file(report({ bookingId: b.bookingId })).expect(201);
    expect(known.body).toMatchObject({ bookingId: b.bookingId, bookingFound: true });
    const unknown = await file(report({ bookingId: 'no-such-booking' })).expect(201);
    expect(unknown.body).toMatchObject({ bookingId: 'no-such-booking', bookingFound: false });
  });

  test('double submit with one Idempotency-Key: one report; another body under the key: 409', async () => {
    const key = `cs-ticket-${Date.now()}`;
    const [a, b] = await Promise.all([file(report(), key), file(report(), key)]);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.reportId).toBe(b.body.reportId);
    expect([a.body.deduplicated, b.body.deduplicated].sort()).toEqual([false, true]);
    const again = await file(report(), key).expect(200);
    expect(again.body).toMatchObject({ reportId: a.body.reportId, deduplicated: true });
    expect(await stack.db.problemReport.count({ where: { idempotencyKey: key } })).toBe(1);
    const conflict = await file(report({ summary: 'something else' }), key).expect(409);
    expect(conflict.body.error).toMatchObject({ code: 'DUPLICATE_CONFLICT', details: { reportId: a.body.reportId } });
    // Without a key every submit is a new report.
    const x = await file(report()).expect(201);
    const y = await file(report()).expect(201);
    expect(x.body.reportId).not.toBe(y.body.reportId);
  });

  test('list newest first, filter by status and since, paginate with the cursor', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await file(report({ summary: `page test ${i}` })).expect(201)).body.reportId);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/v1/reports?since=${encodeURIComponent(since)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await stack.api('viewer').get(q).expect(200);
      expect(page.body.reports.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.reports.map((r: { reportId: string }) => r.reportId));
      cursor = page.body.next;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const incidentId = await declare('List filter');
    await stack.api('operator').post(`/v1/reports/${ids[2]}/link`, { incidentId }).expect(200);
    const linked = await stack.api('viewer').get(`/v1/reports?status=LINKED&since=${encodeURIComponent(since)}`).expect(200);
    expect(linked.body.reports.map((r: { reportId: string }) => r.reportId)).toEqual([ids[2]]);
    const fresh = await stack.api('viewer').get(`/v1/reports?status=new&since=${encodeURIComponent(since)}`).expect(200);
    expect(fresh.body.reports.map((r: { reportId: string }) => r.reportId)).toEqual([ids[4], ids[3], ids[1], ids[0]]);
    const future = await stack.api('viewer').get(`/v1/reports?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`).expect(200);
    expect(future.body).toEqual({ reports: [], next: null });
  });

  test('link to an incident: LINKED, audited, idempotent; another incident 409; unknown incident or report 404', async () => {
    const id = (await file(report()).expect(201)).body.reportId;
    const incidentId = await declare('Link target');
    const linked = await stack.api('commander').post(`/v1/reports/${id}/link`, { incidentId }).expect(200);
    expect(linked.body).toMatchObject({ reportId: id, status: 'LINKED', incidentId });
    await stack.api('operator').post(`/v1/reports/${id}/link`, { incidentId }).expect(200);
    expect(await stack.db.auditLog.count({ where: { resourceId: id, action: 'report.link' } })).toBe(1);

    const other = await declare('Another one');
    const conflict = await stack.api('commander').post(`/v1/reports/${id}/link`, { incidentId: other }).expect(409);
    expect(conflict.body.error).toMatchObject({ code: 'ALREADY_LINKED', details: { incidentId } });
    const nope = await stack.api('commander').post(`/v1/reports/${id}/link`, { incidentId: 'inc-20990101-00000000' }).expect(404);
    expect(nope.body.error.message).toContain('inc-20990101-00000000');
    await stack.api('commander').post('/v1/reports/rep-none/link', { incidentId }).expect(404);
    expect((await stack.api('viewer').get(`/v1/reports/${id}`).expect(200)).body.incidentId).toBe(incidentId);
  });

  test('open an incident from a report: declared through the incident workflow, linked, once', async () => {
    const b = bookingBody();
    const id = (await file(report({ severityGuess: 'SEV2', bookingId: b.bookingId })).expect(201)).body.reportId;
    const opened = await stack.api('operator').post(`/v1/reports/${id}/open-incident`, {}).expect(201);
    expect(opened.body).toMatchObject({ incidentId: expect.stringMatching(/^inc-/), status: 'OPEN', deduplicated: false, report: { reportId: id, status: 'LINKED' } });
    const incidentId = opened.body.incidentId;
    expect(opened.body.workflowId).toBe(`incident-${incidentId}`);
    const incident = (await stack.api('viewer').get(`/v1/incidents/${incidentId}`).expect(200)).body;
    expect(incident).toMatchObject({ severity: 'SEV2', dedupeKey: `report:${id}`, components: ['booking-api'], title: `Reported: ${report().summary}` });
    expect(incident.summary).toContain(id);
    expect(incident.summary).toContain(`booking ${b.bookingId}, not found`);
    // The reporter's contact is personal data: it stays on the report.
    expect(JSON.stringify(incident)).not.toContain('customer@example.test');
    const desc = await stack.client.workflow.getHandle(`incident-${incidentId}`).describe();
    expect(desc.type).toBe('incidentWorkflow');

    const again = await stack.api('commander').post(`/v1/reports/${id}/open-incident`).expect(200);
    expect(again.body).toMatchObject({ incidentId, deduplicated: true });
    expect(await stack.db.incident.count({ where: { dedupeKey: `report:${id}` } })).toBe(1);
    expect(await stack.db.auditLog.count({ where: { resourceId: id, action: 'report.open_incident' } })).toBe(1);

    // Explicit severity, title and components.
    const id2 = (await file(report()).expect(201)).body.reportId;
    const second = await stack.api('commander')
      .post(`/v1/reports/${id2}/open-incident`, { severity: 'SEV1', title: 'Unlock outage', components: ['car-unlock', 'payments'] })
      .expect(201);
    const inc2 = (await stack.api('viewer').get(`/v1/incidents/${second.body.incidentId}`).expect(200)).body;
    expect(inc2).toMatchObject({ severity: 'SEV1', title: 'Unlock outage', components: ['car-unlock', 'payments'] });

    // A report already linked to some other incident cannot open one.
    const id3 = (await file(report()).expect(201)).body.reportId;
    await stack.api('commander').post(`/v1/reports/${id3}/link`, { incidentId }).expect(200);
    const refused = await stack.api('commander').post(`/v1/reports/${id3}/open-incident`, {}).expect(409);
    expect(refused.body.error).toMatchObject({ code: 'ALREADY_LINKED', details: { incidentId } });
    await stack.api('commander').post('/v1/reports/rep-none/open-incident', {}).expect(404);
  });

  test('bad input on every endpoint: 4xx with the field named, never 5xx', async () => {
    const bad = async (t: Promise<{ status: number; body: { error: { code: string; message: string } } }>, status: number, mention?: string) => {
      const res = await t;
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBeTruthy();
      if (mention) expect(res.body.error.message).toContain(mention);
    };
    const svc = stack.api('service');
    await bad(svc.post('/v1/reports', {}), 400, 'reporter');
    await bad(svc.post('/v1/reports', report({ reporter: '   ' })), 400, 'reporter');
    await bad(svc.post('/v1/reports', report({ contact: 'x'.repeat(201) })), 400, 'contact');
    await bad(svc.post('/v1/reports', report({ summary: 'x'.repeat(4001) })), 400, 'summary');
    await bad(svc.post('/v1/reports', report({ summary: 42 })), 400, 'summary');
    await bad(svc.post('/v1/reports', report({ severityGuess: 'SEV9' })), 400, 'severityGuess');
    await bad(svc.post('/v1/reports', report({ bookingId: 'has spaces' })), 400, 'bookingId');
    await bad(svc.post('/v1/reports', report({ extra: true })), 400);
    await bad(svc.post('/v1/reports', report()).set('Idempotency-Key', 'bad key!'), 400, 'Idempotency-Key');
    await bad(svc.post('/v1/reports').set('Content-Type', 'application/json').send('{"reporter":'), 400);
    await bad(svc.post('/v1/reports').send([1, 2]), 400);

    const v = stack.api('viewer');
    await bad(v.get('/v1/reports?status=OPEN'), 400, 'status');
    await bad(v.get('/v1/reports?limit=0'), 400, 'limit');
    await bad(v.get('/v1/reports?limit=101'), 400, 'limit');
    await bad(v.get('/v1/reports?limit=abc'), 400, 'limit');
    await bad(v.get('/v1/reports?since=yesterday'), 400, 'since');
    await bad(v.get('/v1/reports?cursor=garbage'), 400, 'cursor');
    await bad(v.get(`/v1/reports?cursor=${Buffer.from('["not a time","x"]').toString('base64url')}`), 400, 'cursor');
    await bad(v.get('/v1/reports?foo=1'), 400);
    await bad(v.get('/v1/reports/not%20an%20id'), 400);
    await bad(v.get('/v1/reports/rep-unknown'), 404);

    const id = (await file(report()).expect(201)).body.reportId;
    const c = stack.api('commander');
    await bad(c.post(`/v1/reports/${id}/link`, {}), 400, 'incidentId');
    await bad(c.post(`/v1/reports/${id}/link`, { incidentId: 'x y' }), 400, 'incidentId');
    await bad(c.post(`/v1/reports/${id}/link`, { incidentId: 'inc-1', more: 1 }), 400);
    await bad(c.post(`/v1/reports/${id}/open-incident`, { severity: 'SEV5' }), 400, 'severity');
    await bad(c.post(`/v1/reports/${id}/open-incident`, { title: '' }), 400, 'title');
    await bad(c.post(`/v1/reports/${id}/open-incident`, { components: ['warp-drive'] }), 400, 'components');
    await bad(c.post(`/v1/reports/${id}/open-incident`, { components: [] }), 400, 'components');
    await bad(c.post(`/v1/reports/${id}/open-incident`, { components: ['payments', 'payments'] }), 400, 'components');
    await bad(c.post('/v1/reports/bad%20id/open-incident', {}), 400);
    // Nothing of the refused calls changed the report.
    expect((await stack.api('viewer').get(`/v1/reports/${id}`).expect(200)).body).toMatchObject({ status: 'NEW', incidentId: null });
  });

  test('roles: service, operator and commander file; everyone reads; commander and operator link and open; no key is 401', async () => {
    const id = (await file(report()).expect(201)).body.reportId;
    await file(report(), undefined, 'operator').expect(201);
    await file(report(), undefined, 'commander').expect(201);
    const viewerFile = await stack.api('viewer').post('/v1/reports', report()).expect(403);
    expect(viewerFile.body.error.code).toBe('FORBIDDEN');
    for (const role of ['service', 'operator', 'commander', 'viewer'] as const) {
      await stack.api(role).get('/v1/reports?limit=1').expect(200);
      await stack.api(role).get(`/v1/reports/${id}`).expect(200);
    }
    const incidentId = await declare('Roles');
    for (const role of ['service', 'viewer'] as const) {
      await stack.api(role).post(`/v1/reports/${id}/link`, { incidentId }).expect(403);
      await stack.api(role).post(`/v1/reports/${id}/open-incident`, {}).expect(403);
    }
    for (const [method, path] of [
      ['post', '/v1/reports'], ['get', '/v1/reports'], ['get', `/v1/reports/${id}`],
      ['post', `/v1/reports/${id}/link`], ['post', `/v1/reports/${id}/open-incident`],
    ] as const) {
      const res = method === 'get' ? await stack.api(null).get(path) : await stack.api(null).post(path, {});
      expect(res.status).toBe(401);
    }
    expect((await stack.api('viewer').get(`/v1/reports/${id}`).expect(200)).body.status).toBe('NEW');
  });

  test('the OpenAPI document lists the report and stuck-work routes', async () => {
    const doc = (await stack.api(null).get('/v1/openapi.json').expect(200)).body;
    for (const p of ['/v1/reports', '/v1/reports/{id}', '/v1/reports/{id}/link', '/v1/reports/{id}/open-incident', '/v1/health/stuck']) {
      expect(doc.paths[p]).toBeDefined();
    }
    expect(doc.paths['/v1/reports'].post.requestBody.content['application/json'].schema.required).toEqual(['reporter', 'contact', 'summary']);
  });
});
