// An incident with 600 notes of 4,000 characters (2.4 MB of text) keeps working: the workflow records
// each change, not its state, keeps only the last few entries itself and continues as new (at a low
// threshold here, so the run chain is long), and the API pages the timeline from the database.
import type { temporal } from '@temporalio/proto';
import type { IncidentState, RunbookSnapshot, Severity } from '../../domain/incident';
import { postmortemFromTemporal } from '../../scripts/postmortem';
import { eventually, startStack, type Stack } from '../helpers/stack';

type History = temporal.api.history.v1.IHistory;

const runbooks = new Map<Severity, RunbookSnapshot>((['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((severity) => [severity, {
  severity, version: 'test+1',
  steps: [
    { id: 'database', kind: 'auto', title: 'Database reachable', check: 'database' },
    { id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected.', role: 'communications' },
  ],
}]));

const NOTES = 600;
const NOTE_CHARS = 4000;
const CONCURRENCY = 6;
const HISTORY_LIMIT = 500;
const KB64 = 64 * 1024;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'inc-notes', workers: ['incidents', 'notifications'], runbooks, incidentHistoryEventsLimit: HISTORY_LIMIT });
}, 120_000);
afterAll(() => stack?.stop());

const cmd = () => stack.api('commander');
const get = async (id: string): Promise<IncidentState> => (await stack.api('viewer').get(`/v1/incidents/${id}`).expect(200)).body;

/** An action as a client sends it on a loaded machine: retried under its key while no worker answers in time. */
async function send(path: string, body: object, key: string) {
  return eventually(async () => {
    const res = await cmd().post(path, body).set('Idempotency-Key', key);
    if (res.status === 503) return undefined;
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
    return res;
  }, 60_000, 200);
}

/** Every run of the chain, oldest first. */
async function runs(workflowId: string): Promise<History[]> {
  const out: History[] = [];
  let runId: string | undefined;
  do {
    const h = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    out.unshift(h);
    runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  } while (runId);
  return out;
}

/** Bytes of every payload in an event (inputs, results, update arguments). */
function payloadBytes(value: unknown): number {
  if (!value || typeof value !== 'object') return 0;
  if (value instanceof Uint8Array) return 0;
  const o = value as Record<string, unknown>;
  if (o.data instanceof Uint8Array && 'metadata' in o) return o.data.length;
  return Object.values(o).reduce<number>((n, v) => n + payloadBytes(v), 0);
}

test('600 notes of 4,000 characters: every write carries one change (< 64 KB), the workflow continues as new and still works, GET pages the timeline', async () => {
  const { body } = await cmd().post('/v1/incidents', { title: 'Cars do not unlock', severity: 'SEV2', components: ['car-unlock'] }).expect(201);
  const id = body.incidentId as string;
  const base = `/v1/incidents/${id}`;
  await eventually(async () => (await get(id)).checklist.every((c) => c.step.kind === 'manual' || c.result), 30_000);

  const text = (i: number) => `note ${i} `.padEnd(NOTE_CHARS, 'abcdefghij');
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < NOTES; i = next++) await send(`${base}/notes`, { text: text(i) }, `note-${i}`);
  }));

  // It still works: a note, a step, a public update, resolve, an action item.
  const last = await send(`${base}/notes`, { text: 'one more' }, 'note-last');
  expect(last.body.timeline.at(-1).text).toBe('one more');
  await send(`${base}/steps/first-update/complete`, { note: 'posted' }, 'step');
  await send(`${base}/status-updates`, { message: 'Unlock is slow.', componentStates: { 'car-unlock': 'degraded' } }, 'update');
  await send(`${base}/resolve`, { summary: 'renewed the certificate' }, 'resolve');
  const item = await send(`${base}/action-items`, { title: 'Alert on expiry', owner: 'carol', dueDate: '2026-12-15' }, 'item');
  expect(item.body.actionItems.map((a: { id: string }) => a.id)).toEqual(['ai-1']);

  // GET answers the newest 50 entries and the total; /timeline pages all of them, in order.
  const s = await get(id);
  expect(s.status).toBe('RESOLVED');
  expect(s.checklist.find((c) => c.step.id === 'first-update')?.state).toBe('done');
  expect(s.timeline).toHaveLength(50);
  const total = s.timelineTotal!;
  // declared, 1 check, the notes, step, public update, resolved, action item.
  expect(total).toBe(1 + 1 + NOTES + 1 + 1 + 1 + 1 + 1);
  expect(s.timeline.at(-1)?.kind).toBe('action_item');
  const seqs: number[] = [];
  let noteTexts = 0;
  for (let after: number | null = 0; after !== null;) {
    const page: { body: { entries: Array<{ seq: number; kind: string; text: string }>; nextAfterSeq: number | null } } =
      await stack.api('viewer').get(`${base}/timeline?after=${after}&limit=200`).expect(200);
    seqs.push(...page.body.entries.map((e) => e.seq));
    noteTexts += page.body.entries.filter((e) => e.kind === 'note' && e.text.length === NOTE_CHARS).length;
    after = page.body.nextAfterSeq;
  }
  expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(noteTexts).toBe(NOTES);
  await stack.api('viewer').get(`${base}/timeline?limit=0`).expect(400);

  // The workflow continued as new several times, and every payload in every run stayed small.
  const chain = await runs(`incident-${id}`);
  expect(chain.length).toBeGreaterThan(2);
  let maxActivityInput = 0;
  let maxEventPayloads = 0;
  for (const h of chain) {
    for (const e of h.events ?? []) {
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled?.activityType?.name === 'recordIncidentChanges') maxActivityInput = Math.max(maxActivityInput, payloadBytes(scheduled.input));
      maxEventPayloads = Math.max(maxEventPayloads, payloadBytes(e));
    }
    // A run stops near the threshold: the events of the changes in flight when it was crossed, no more.
    expect(h.events!.length).toBeLessThan(HISTORY_LIMIT + 200);
  }
  expect(maxActivityInput).toBeGreaterThan(NOTE_CHARS);
  expect(maxActivityInput).toBeLessThan(KB64);
  expect(maxEventPayloads).toBeLessThan(KB64);

  // The record in the histories is whole: the post-mortem folded from every run equals the API's.
  const fromApi = (await stack.api('viewer').get(`${base}/postmortem`).expect(200)).text;
  expect(fromApi).toContain(text(NOTES - 1));
  expect(await postmortemFromTemporal(stack.client, id)).toBe(fromApi);
}, 600_000);
