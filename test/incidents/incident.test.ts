// Incident response end to end through the API: checks on declare, chain of command, steps,
// escalation, public updates on the status page, resolution, post-mortem (from the API and from the
// workflow history), dedupe, drills, and every refusal.
import type { RunbookSnapshot, Severity, IncidentState } from '../../domain/incident';
import { postmortemFromTemporal } from '../../scripts/postmortem';
import { eventually, startStack, type Stack } from '../helpers/stack';

function runbook(severity: Severity, version = 'test+1', limitMs = 4000): RunbookSnapshot {
  return {
    severity,
    version,
    steps: [
      { id: 'database', kind: 'auto', title: 'Database reachable', check: 'database' },
      { id: 'late-bookings', kind: 'auto', title: 'Bookings started on time', check: 'bookings_not_started' },
      { id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected.', role: 'communications', timeLimitMs: limitMs },
      { id: 'verify-unlock', kind: 'manual', title: 'Confirm customers can connect to cars', instructions: 'Try one car.', role: 'operations' },
    ],
  };
}

const runbooks = new Map<Severity, RunbookSnapshot>((['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((s) => [s, runbook(s)]));
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'incidents', runbooks });
});
afterAll(() => stack?.stop());

const cmd = () => stack.api('commander');
const declare = (body: Record<string, unknown>) => cmd().post('/v1/incidents', { title: 'Cars do not unlock', severity: 'SEV2', components: ['car-unlock'], ...body });
const get = async (id: string): Promise<IncidentState> => (await stack.api('viewer').get(`/v1/incidents/${id}`).expect(200)).body;

describe('incident lifecycle', () => {
  test('declare, checks, handoff, steps, escalation, public update, resolve, post-mortem, close', async () => {
    const created = await declare({ summary: 'Customers report the app spinning on unlock' }).expect(201);
    const id = created.body.incidentId;
    expect(created.body).toMatchObject({ workflowId: `incident-${id}`, status: 'OPEN', drill: false });

    // Chain of command: assign, hand off; both in the timeline.
    await cmd().post(`/v1/incidents/${id}/roles`, { role: 'commander', holder: 'alice' }).expect(200);
    await cmd().post(`/v1/incidents/${id}/roles`, { role: 'deputy', holder: 'bob' }).expect(200);
    const handoff = await cmd().post(`/v1/incidents/${id}/roles`, { role: 'commander', holder: 'bob' }).expect(200);
    expect(handoff.body.roles.commander.holder).toBe('bob');
    expect(handoff.body.roleHistory.map((r: { holder: string }) => r.holder)).toEqual(['alice', 'bob', 'bob']);
    expect(handoff.body.timeline.at(-1).text).toBe('commander handed off from alice to bob');
    await cmd().post(`/v1/incidents/${id}/roles`, { role: 'commander', holder: 'bob' }).expect(409);

    // The automated checks run at once on declare.
    const checked = await eventually(async () => {
      const s = await get(id);
      return s.checklist.filter((c) => c.step.kind === 'auto').every((c) => c.result) ? s : undefined;
    }, 30_000);
    const db = checked.checklist.find((c) => c.step.id === 'database')!;
    expect(db.state).toBe('ok');
    expect(db.result?.evidence).toHaveProperty('latencyMs');
    expect(checked.timeline.filter((e) => e.kind === 'check')).toHaveLength(2);

    // The 4 s limit on the first public update passes: escalation to commander and deputy.
    const escalated = await eventually(async () => {
      const s = await get(id);
      return s.timeline.find((e) => e.kind === 'escalation') ? s : undefined;
    }, 15_000);
    expect(escalated.checklist.find((c) => c.step.id === 'first-update')?.escalatedAt).toBeTruthy();
    const notes = await eventually(async () => {
      const rows = await stack.db.notificationOutbox.findMany({ where: { kind: 'incident.escalation', idempotencyKey: { startsWith: `incident-${id}:` } } });
      return rows.length === 2 ? rows : undefined;
    });
    expect(notes.map((n) => n.recipient).sort()).toEqual(['bob', 'bob']);

    // Steps: complete once, not twice; skip needs a reason; unknown step 404; auto step not completable.
    const done = await cmd().post(`/v1/incidents/${id}/steps/first-update/complete`, { note: 'posted' }).expect(200);
    expect(done.body.checklist.find((c: { step: { id: string } }) => c.step.id === 'first-update')).toMatchObject({ state: 'done', note: 'posted' });
    const twice = await cmd().post(`/v1/incidents/${id}/steps/first-update/complete`, {}).expect(409);
    expect(twice.body.error.message).toMatch(/already done/);
    expect((await cmd().post(`/v1/incidents/${id}/steps/verify-unlock/skip`, {}).expect(400)).body.error.details.fields[0].field).toBe('reason');
    await cmd().post(`/v1/incidents/${id}/steps/no-such-step/complete`, {}).expect(404);
    await cmd().post(`/v1/incidents/${id}/steps/database/complete`, {}).expect(409);
    await cmd().post(`/v1/incidents/${id}/steps/verify-unlock/skip`, { reason: 'covered by the unlock check' }).expect(200);

    // Re-run checks; note; public update reaches /status; severity change.
    await cmd().post(`/v1/incidents/${id}/checks/run`, {}).expect(200);
    await cmd().post(`/v1/incidents/${id}/notes`, { text: 'Hypothesis: unlock gateway certificate expired' }).expect(200);
    await cmd().post(`/v1/incidents/${id}/status-updates`, { message: 'Some customers cannot unlock cars.', componentStates: { 'car-unlock': 'major_outage' } }).expect(200);
    // The API process serves the page from a copy it refreshes within a second of a rebuild.
    const carUnlock = async (want: string) => {
      const res = await stack.api(null).get('/v1/status').expect(200);
      return res.body.components.find((c: { name: string }) => c.name === 'car-unlock').state === want ? res : undefined;
    };
    const status = await eventually(() => carUnlock('major_outage'));
    expect(status.body.activeIncidents.map((i: { incidentId: string }) => i.incidentId)).toContain(id);
    const html = await stack.api(null).get('/status').expect(200);
    expect(html.text).toContain('Some customers cannot unlock cars.');
    await cmd().post(`/v1/incidents/${id}/severity`, { severity: 'SEV1', reason: 'all cities affected' }).expect(200);

    await cmd().post(`/v1/incidents/${id}/mitigate`, { note: 'gateway restarted' }).expect(200);
    await cmd().post(`/v1/incidents/${id}/mitigate`, {}).expect(409);
    await cmd().post(`/v1/incidents/${id}/close`, {}).expect(409); // not resolved yet
    await cmd().post(`/v1/incidents/${id}/resolve`, { summary: 'Expired certificate on the unlock gateway; renewed.' }).expect(200);
    await eventually(() => carUnlock('operational'));
    await cmd().post(`/v1/incidents/${id}/status-updates`, { message: 'late', componentStates: { 'car-unlock': 'degraded' } }).expect(409);
    await cmd().post(`/v1/incidents/${id}/action-items`, { title: 'Alert on certificate expiry', owner: 'carol', dueDate: '2026-12-15' }).expect(200);

    // The post-mortem holds every timeline entry, in order.
    const state = await get(id);
    const pm = (await stack.api('viewer').get(`/v1/incidents/${id}/postmortem`).expect(200)).text;
    let last = -1;
    for (const e of state.timeline) {
      const at = pm.indexOf(`| ${e.seq} | ${e.at} | ${e.kind} |`);
      expect(at).toBeGreaterThan(last);
      last = at;
    }
    for (const heading of ['## Summary', '## Roles over time', '## Timeline', '## Action items', '## What went well', '## What was hard', '## Where we got lucky', '## Contributing factors']) {
      expect(pm).toContain(heading);
    }
    expect(pm).toContain('Alert on certificate expiry');

    const closed = await cmd().post(`/v1/incidents/${id}/close`, { whatWentWell: 'Checks pointed at the gateway in a minute.' }).expect(200);
    expect(closed.body.status).toBe('CLOSED');
    await cmd().post(`/v1/incidents/${id}/notes`, { text: 'too late' }).expect(409);

    // The post-mortem rebuilt from Temporal's history alone equals the API's.
    await stack.client.workflow.getHandle(`incident-${id}`).result();
    const fromApi = (await stack.api('viewer').get(`/v1/incidents/${id}/postmortem`).expect(200)).text;
    await stack.db.incident.delete({ where: { id } });
    expect(await postmortemFromTemporal(stack.client, id)).toBe(fromApi);
    expect(fromApi).toContain('Checks pointed at the gateway in a minute.');
  });

  test('concurrent declares with one dedupe key make one incident; a resolved incident frees the key', async () => {
    const key = `alert-${Date.now()}`;
    const res = await Promise.all(Array.from({ length: 6 }, () => declare({ dedupeKey: key })));
    expect(res.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    const ids = new Set(res.map((r) => r.body.incidentId));
    expect(ids.size).toBe(1);
    expect(await stack.db.incident.count({ where: { dedupeKey: key } })).toBe(1);
    const [id] = [...ids];
    await cmd().post(`/v1/incidents/${id}/resolve`, { summary: 'flap' }).expect(200);
    const again = await declare({ dedupeKey: key }).expect(201);
    expect(again.body.incidentId).not.toBe(id);
  });

  test('the runbook an incident started with stays, whatever changes later', async () => {
    const first = await declare({ severity: 'SEV3' }).expect(201);
    runbooks.set('SEV3', { ...runbook('SEV3', 'test+2'), steps: [{ id: 'new-step', kind: 'manual', title: 'New', instructions: 'x', role: 'scribe' }] });
    const second = await declare({ severity: 'SEV3' }).expect(201);
    const a = await get(first.body.incidentId);
    const b = await get(second.body.incidentId);
    expect(a.runbook.version).toBe('test+1');
    expect(a.checklist.map((c) => c.step.id)).toEqual(['database', 'late-bookings', 'first-update', 'verify-unlock']);
    expect(b.runbook.version).toBe('test+2');
    expect(b.checklist.map((c) => c.step.id)).toEqual(['new-step']);
    await cmd().post(`/v1/incidents/${first.body.incidentId}/steps/verify-unlock/complete`, {}).expect(200);
  });

  test('a drill runs everything but never touches the public status page', async () => {
    const before = (await stack.api(null).get('/v1/status').expect(200)).body;
    const drill = await declare({ drill: true, components: ['payments'] }).expect(201);
    const id = drill.body.incidentId;
    expect(drill.body.drill).toBe(true);
    await cmd().post(`/v1/incidents/${id}/status-updates`, { message: 'DRILL payments down', componentStates: { payments: 'major_outage' } }).expect(200);
    await cmd().post(`/v1/incidents/${id}/resolve`, { summary: 'drill over' }).expect(200);
    // The stored document itself (the API may answer from its copy of up to a second ago).
    expect(JSON.stringify((await stack.db.statusPage.findFirst())?.document ?? {})).not.toContain(id);
    const after = (await stack.api(null).get('/v1/status').expect(200)).body;
    expect(after.components).toEqual(before.components);
    expect(JSON.stringify(after)).not.toContain(id);
    expect((await stack.api(null).get('/status')).text).not.toContain('DRILL payments down');
    const pm = (await stack.api('viewer').get(`/v1/incidents/${id}/postmortem`).expect(200)).text;
    expect(pm).toContain('DRILL');
  });

  test('lists by status', async () => {
    const open = await declare({ title: 'Listing check' }).expect(201);
    const list = await stack.api('viewer').get('/v1/incidents?status=open').expect(200);
    expect(list.body.incidents.map((i: { incidentId: string }) => i.incidentId)).toContain(open.body.incidentId);
    expect(list.body.incidents.every((i: { status: string }) => ['OPEN', 'MITIGATED'].includes(i.status))).toBe(true);
    await stack.api('viewer').get('/v1/incidents?status=sleeping').expect(400);
  });
});

describe('bad input and authorization', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['unknown severity', { severity: 'SEV9' }, 'severity'],
    ['unknown component', { components: ['mainframe'] }, 'components'],
    ['no components', { components: [] }, 'components'],
    ['empty title', { title: '  ' }, 'title'],
    ['unknown field', { priority: 'high' }, 'priority'],
    ['drill not boolean', { drill: 'yes' }, 'drill'],
  ];
  test.each(cases)('declare with %s: 400 naming %s', async (_n, patch, field) => {
    const res = await declare(patch).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(res.body.error.details)).toContain(field);
  });

  test('actions: 400 for bad bodies, 404 for unknown incidents, 403 for roles that may not act', async () => {
    const { body } = await declare({}).expect(201);
    const id = body.incidentId;
    await cmd().post(`/v1/incidents/${id}/roles`, { role: 'janitor', holder: 'x' }).expect(400);
    await cmd().post(`/v1/incidents/${id}/status-updates`, { message: 'x', componentStates: { 'car-unlock': 'on_fire' } }).expect(400);
    const other = await cmd().post(`/v1/incidents/${id}/status-updates`, { message: 'x', componentStates: { payments: 'degraded' } }).expect(400);
    expect(other.body.error.message).toMatch(/not affected by this incident/);
    await cmd().post(`/v1/incidents/${id}/action-items`, { title: 'x', owner: 'y', dueDate: 'soon' }).expect(400);
    await cmd().post(`/v1/incidents/${id}/resolve`, {}).expect(400);
    await cmd().post(`/v1/incidents/${id}/severity`, { severity: 'SEV2' }).expect(409);
    await cmd().post('/v1/incidents/inc-nope/notes', { text: 'x' }).expect(404);
    await stack.api('viewer').get('/v1/incidents/inc-nope').expect(404);
    await stack.api('operator').post(`/v1/incidents/${id}/notes`, { text: 'operators may act' }).expect(200);
    await stack.api('viewer').post(`/v1/incidents/${id}/notes`, { text: 'x' }).expect(403);
    await stack.api('service').get(`/v1/incidents/${id}`).expect(403);
    await stack.api('service').post('/v1/incidents', { title: 'x', severity: 'SEV4', components: ['payments'] }).expect(403);
    await stack.api(null).get(`/v1/incidents/${id}`).expect(401);
  });
});
