// An incident's dedupe key outlives no workflow: whether the workflow was terminated, timed out,
// cancelled or resolved, the next declare with the key opens a new incident (new id, new workflow),
// also when several declares race for it; the dead incident is marked ABANDONED with the reason. The
// watchdog reports open rows whose workflow has ended or does not exist.
import { initialIncidentState, type IncidentState, type RunbookSnapshot, type Severity } from '../../domain/incident';
import { declareIncident as insertIncident } from '../../db/incident-store';
import { taskQueue } from '../../domain/task-queues';
import { detectStuckWork } from '../../services/watchdog';
import { eventually, startStack, uid, type Stack } from '../helpers/stack';

// Manual steps only: nothing runs on declare, so a workflow can be ended at any moment.
const runbook = (severity: Severity): RunbookSnapshot => ({
  severity, version: 'test+1',
  steps: [{ id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected.', role: 'communications' }],
});
const runbooks = new Map<Severity, RunbookSnapshot>((['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((s) => [s, runbook(s)]));

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'inc-ended', workers: ['incidents', 'notifications'], runbooks });
}, 120_000);
afterAll(() => stack?.stop());

const cmd = () => stack.api('commander');
const declare = (dedupeKey: string) => cmd().post('/v1/incidents', { title: 'Cars do not unlock', severity: 'SEV2', components: ['car-unlock'], dedupeKey });
const get = async (id: string): Promise<IncidentState> => (await stack.api('viewer').get(`/v1/incidents/${id}`).expect(200)).body;
const handle = (id: string) => stack.client.workflow.getHandle(`incident-${id}`);

/** Declared and recorded once by its workflow. */
async function declared(key: string): Promise<string> {
  const { body } = await declare(key).expect(201);
  await eventually(async () => ((await stack.db.incident.findUnique({ where: { id: body.incidentId } }))?.version ?? 0) >= 1, 30_000);
  return body.incidentId as string;
}

async function expectReplaced(key: string, oldId: string, workflowStatus: string): Promise<string> {
  const again = await declare(key).expect(201);
  expect(again.body.deduplicated).toBe(false);
  expect(again.body.incidentId).not.toBe(oldId);
  expect(again.body.workflowId).toBe(`incident-${again.body.incidentId}`);
  expect((await handle(again.body.incidentId).describe()).status.name).toBe('RUNNING');
  const old = await get(oldId);
  expect(old.status).toBe('ABANDONED');
  expect(old.abandonedReason).toBe(`its workflow incident-${oldId} is ${workflowStatus}`);
  expect(old.timeline.at(-1)).toMatchObject({ kind: 'abandoned', actor: 'system' });
  // The key now belongs to the new incident: declaring again answers it.
  const third = await declare(key).expect(200);
  expect(third.body).toMatchObject({ incidentId: again.body.incidentId, deduplicated: true });
  return again.body.incidentId as string;
}

describe('a dedupe key is released when its incident workflow ends', () => {
  test('terminated: the next declare opens a new incident; the old one is ABANDONED and its actions answer 409', async () => {
    const key = uid('alert');
    const id = await declared(key);
    await declare(key).expect(200);
    await handle(id).terminate('operator pulled the plug');
    await expectReplaced(key, id, 'TERMINATED');
    const note = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'anyone there?' }).expect(409);
    expect(note.body.error.message).toMatch(/ABANDONED/);
    expect((await stack.api('viewer').get('/v1/incidents?status=abandoned').expect(200)).body.incidents.map((i: { incidentId: string }) => i.incidentId)).toContain(id);
  });

  test('cancelled: the next declare opens a new incident', async () => {
    const key = uid('alert');
    const id = await declared(key);
    await handle(id).cancel();
    await eventually(async () => (await handle(id).describe()).status.name === 'CANCELLED', 30_000);
    await expectReplaced(key, id, 'CANCELLED');
  });

  test('timed out (a run with a short execution timeout): the next declare opens a new incident', async () => {
    // The row as the declare path writes it, with a workflow started by hand with a 1 s timeout.
    const key = uid('alert');
    const declaredAt = new Date().toISOString();
    const d = { incidentId: uid('inc-timeout'), title: 'Short-lived', severity: 'SEV3' as const, components: ['payments'], drill: false,
      dedupeKey: key, declaredAt, declaredBy: 'test', runbook: runbook('SEV3') };
    await insertIncident(stack.db, initialIncidentState(d));
    await stack.client.workflow.start('incidentWorkflow', {
      workflowId: `incident-${d.incidentId}`, taskQueue: taskQueue('incidents', stack.prefix), workflowExecutionTimeout: '1 second',
      args: [{ declare: d, notificationsTaskQueue: taskQueue('notifications', stack.prefix) }],
    });
    await eventually(async () => (await handle(d.incidentId).describe()).status.name === 'TIMED_OUT', 30_000);
    await expectReplaced(key, d.incidentId, 'TIMED_OUT');
  });

  test('resolved: the next declare opens a new incident while the resolved one keeps its status', async () => {
    const key = uid('alert');
    const id = await declared(key);
    await cmd().post(`/v1/incidents/${id}/resolve`, { summary: 'flap' }).expect(200);
    const again = await declare(key).expect(201);
    expect(again.body.incidentId).not.toBe(id);
    expect((await get(id)).status).toBe('RESOLVED');
  });

  test('six concurrent declares after the holder was terminated open exactly one new incident; the others answer it', async () => {
    const key = uid('alert');
    const id = await declared(key);
    await handle(id).terminate('gone');
    const res = await Promise.all(Array.from({ length: 6 }, () => declare(key)));
    expect(res.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    const ids = new Set(res.map((r) => r.body.incidentId as string));
    expect(ids.size).toBe(1);
    const [fresh] = [...ids];
    expect(fresh).not.toBe(id);
    expect(res.filter((r) => r.body.deduplicated).length).toBe(5);
    const rows = await stack.db.incident.findMany({ where: { dedupeKey: key }, orderBy: { declaredAt: 'asc' } });
    expect(rows.map((r) => [r.id, r.status])).toEqual([[id, 'ABANDONED'], [fresh, 'OPEN']]);
    expect((await handle(fresh).describe()).status.name).toBe('RUNNING');
  });
});

describe('watchdog', () => {
  test('reports an open incident whose workflow was terminated and one whose workflow does not exist, not a running one', async () => {
    const running = await declared(uid('alert'));
    const killed = await declared(uid('alert'));
    await handle(killed).terminate('lost');
    // A row whose workflow never existed, declared long enough ago not to be "still starting".
    const d = { incidentId: uid('inc-orphan'), title: 'Orphan', severity: 'SEV4' as const, components: ['payments'], drill: false,
      declaredAt: new Date(Date.now() - 10 * 60_000).toISOString(), declaredBy: 'test', runbook: runbook('SEV4') };
    await insertIncident(stack.db, initialIncidentState(d));

    const report = await detectStuckWork({ db: stack.db, client: stack.client, taskQueuePrefix: stack.prefix, settings: { callTimeoutMs: 10_000 } });
    expect(report.errors).toEqual([]);
    const gone = report.stuck.filter((f) => f.kind === 'incident_workflow_gone');
    const byId = new Map(gone.map((f) => [f.id, f]));
    expect(byId.get(killed)).toMatchObject({
      workflowId: `incident-${killed}`, summary: `incident ${killed} is OPEN but its workflow incident-${killed} is TERMINATED`,
      evidence: { incidentStatus: 'OPEN', workflowStatus: 'TERMINATED' },
    });
    expect(byId.get(d.incidentId)).toMatchObject({ evidence: { incidentStatus: 'OPEN', workflowStatus: 'NOT_FOUND' } });
    expect(byId.has(running)).toBe(false);
    expect(report.counts.incident_workflow_gone).toBe(gone.length);
  });
});
