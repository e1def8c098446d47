// Incident actions are bounded and idempotent like booking actions: the caller's Idempotency-Key is
// the Temporal update id, a retry answers the first result, another request under the same key is
// refused, and an action no worker takes in time answers 503 WORKER_UNAVAILABLE and is applied once
// when the worker returns.
import type { IncidentState, RunbookSnapshot, Severity } from '../../domain/incident';
import { eventually, startStack, type Stack } from '../helpers/stack';

// Manual steps only: no automated checks to wait for, so the worker can be stopped with nothing in flight.
const runbooks = new Map<Severity, RunbookSnapshot>(
  (['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((severity) => [severity, {
    severity, version: 'test+1',
    steps: [{ id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected.', role: 'communications' }],
  }]),
);

let stack: Stack;
const UPDATE_TIMEOUT_MS = 2000;
beforeAll(async () => {
  stack = await startStack({ name: 'inc-actions', workers: ['incidents'], runbooks, updateTimeoutMs: UPDATE_TIMEOUT_MS });
});
afterAll(() => stack?.stop());

const cmd = () => stack.api('commander');
async function declare(): Promise<string> {
  const { body } = await cmd().post('/v1/incidents', { title: 'Cars do not unlock', severity: 'SEV2', components: ['car-unlock'] }).expect(201);
  // Recorded once by its workflow: nothing is left in flight when a test stops the worker.
  await eventually(async () => ((await stack.db.incident.findUnique({ where: { id: body.incidentId } }))?.version ?? 0) >= 1);
  return body.incidentId;
}
const state = async (id: string): Promise<IncidentState> => (await stack.api('viewer').get(`/v1/incidents/${id}`).expect(200)).body;
const notes = async (id: string, text: string) => (await state(id)).timeline.filter((e) => e.kind === 'note' && e.text === text).length;

test('a note added twice with one Idempotency-Key answers 200 twice with the same result and is in the timeline once', async () => {
  const id = await declare();
  const first = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'gateway certificate expired?' }).set('Idempotency-Key', 'note-1').expect(200);
  const again = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'gateway certificate expired?' }).set('Idempotency-Key', 'note-1').expect(200);
  expect(again.body).toEqual(first.body);
  expect(await notes(id, 'gateway certificate expired?')).toBe(1);
  // Without the key the same body is a new request: a second note.
  await cmd().post(`/v1/incidents/${id}/notes`, { text: 'gateway certificate expired?' }).expect(200);
  expect(await notes(id, 'gateway certificate expired?')).toBe(2);
});

test('the same Idempotency-Key with another body or another action answers 409 IDEMPOTENCY_CONFLICT and changes nothing', async () => {
  const id = await declare();
  await cmd().post(`/v1/incidents/${id}/notes`, { text: 'first' }).set('Idempotency-Key', 'k-2').expect(200);
  const other = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'second' }).set('Idempotency-Key', 'k-2').expect(409);
  expect(other.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  const mitigate = await cmd().post(`/v1/incidents/${id}/mitigate`, {}).set('Idempotency-Key', 'k-2').expect(409);
  expect(mitigate.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  // A step action's step is part of the request: the same key on another step is another request.
  await cmd().post(`/v1/incidents/${id}/steps/first-update/skip`, { reason: 'covered' }).set('Idempotency-Key', 'k-step').expect(200);
  const otherStep = await cmd().post(`/v1/incidents/${id}/steps/other-step/skip`, { reason: 'covered' }).set('Idempotency-Key', 'k-step').expect(409);
  expect(otherStep.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  const s = await state(id);
  expect(s.status).toBe('OPEN');
  expect(s.timeline.filter((e) => e.kind === 'note').map((e) => e.text)).toEqual(['first']);
});

test('a refused action frees its key; refusals keep their codes (404 unknown step, 409 wrong state)', async () => {
  const id = await declare();
  const unknown = await cmd().post(`/v1/incidents/${id}/steps/no-such-step/complete`, {}).set('Idempotency-Key', 'k-3').expect(404);
  expect(unknown.body.error.code).toBe('NOT_FOUND');
  await cmd().post(`/v1/incidents/${id}/steps/first-update/complete`, {}).set('Idempotency-Key', 'k-3').expect(200);
  const notResolved = await cmd().post(`/v1/incidents/${id}/close`, {}).set('Idempotency-Key', 'k-4').expect(409);
  expect(notResolved.body.error.code).toBe('INVALID_TRANSITION');
  await cmd().post('/v1/incidents/inc-nope/notes', { text: 'x' }).set('Idempotency-Key', 'k-5').expect(404);
  await cmd().post(`/v1/incidents/${id}/notes`, { text: 'x' }).set('Idempotency-Key', 'has spaces').expect(400);
});

test('with the incidents worker down, an action answers 503 WORKER_UNAVAILABLE with Retry-After; once it is back the same request answers 200 and is applied once', async () => {
  const id = await declare();
  await stack.stopWorkers();
  try {
    const t0 = Date.now();
    const down = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'written while the worker was away' }).set('Idempotency-Key', 'note-down');
    const took = Date.now() - t0;
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('WORKER_UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    expect(took).toBeGreaterThanOrEqual(UPDATE_TIMEOUT_MS);
    expect(took).toBeLessThan(UPDATE_TIMEOUT_MS + 10_000);
    // A client retrying while the worker is still away gets the same answer, not a second note.
    const stillDown = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'written while the worker was away' }).set('Idempotency-Key', 'note-down');
    expect(stillDown.status).toBe(503);
  } finally {
    await stack.startWorkers();
  }
  // The fresh worker replays the workflow and records the note before the update answers, which may
  // take longer than the short deadline on a loaded machine: the client keeps retrying with its key.
  const ok = await eventually(async () => {
    const res = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'written while the worker was away' }).set('Idempotency-Key', 'note-down');
    if (res.status !== 503) return res;
    expect(res.body.error.code).toBe('WORKER_UNAVAILABLE');
    return undefined;
  }, 30_000, 0);
  expect(ok.status).toBe(200);
  expect(ok.body.timeline.filter((e: { text: string }) => e.text === 'written while the worker was away')).toHaveLength(1);
  const again = await cmd().post(`/v1/incidents/${id}/notes`, { text: 'written while the worker was away' }).set('Idempotency-Key', 'note-down').expect(200);
  expect(again.body).toEqual(ok.body);
  expect(await notes(id, 'written while the worker was away')).toBe(1);
});
