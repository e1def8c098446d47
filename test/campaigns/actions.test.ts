// Campaign commands through the command layer: each one is audited with its caller in the transaction
// of its change, the workflow alone writes status and rate, and every action is bounded and idempotent
// (Idempotency-Key = update id; another request under a used key is a 409; no worker in time is a 503
// WORKER_UNAVAILABLE, applied once when the worker returns). retry-failed is idempotent by key too.
import { randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import type { BatchingProvider } from '../../activities/campaigns';
import { createOutboxProvider } from '../../providers/outbox';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack';

const UPDATE_TIMEOUT_MS = 3000;
let stack: Stack;
/** Addresses the provider refuses permanently (550), to make failed deliveries for retry-failed. */
const refused = new Set<string>();
let outbox: BatchingProvider | undefined;
const provider: BatchingProvider = {
  name: 'refusing-outbox',
  async send(m) {
    outbox ??= createOutboxProvider(stack.workerDb);
    return refused.has(m.to) ? { ok: false, permanent: true, error: '550 mailbox unavailable' } : outbox.send(m);
  },
};

beforeAll(async () => {
  stack = await startStack({
    name: 'campaign-actions', workers: ['notifications'], updateTimeoutMs: UPDATE_TIMEOUT_MS,
    providers: { email: provider }, campaignSettings: { pageSize: 20, concurrency: 2 },
  });
});
afterAll(() => stack?.stop());

async function users(n: number): Promise<string[]> {
  const prefix = `ca${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  await stack.db.user.createMany({ data: ids.map((id) => ({ id, email: `${id}@example.test`, timezone: 'UTC' })) });
  return ids;
}

const newKey = () => `ca-${randomBytes(6).toString('hex')}`;
async function submit(audience: string[], over: object = {}): Promise<string> {
  const k = newKey();
  await stack.api('service').post('/v1/campaigns', { name: 'actions', channel: 'email', template: { body: 'x' }, audience: { userIds: audience }, ...over })
    .set('Idempotency-Key', k).set('X-Request-Id', `req-create-${k}`).expect(202);
  return k;
}
const campaign = async (id: string) => (await stack.api('viewer').get(`/v1/campaigns/${id}`).expect(200)).body;
const until = (id: string, test: (c: { status: string; sent: number }) => boolean, ms = 30_000) =>
  eventually(async () => { const c = await campaign(id); return test(c) ? c : undefined; }, ms, 100);
const audits = (id: string) => stack.db.auditLog.findMany({ where: { resourceType: 'campaign', resourceId: id }, orderBy: { id: 'asc' } });
const auditCount = (id: string, action: string) => stack.db.auditLog.count({ where: { resourceType: 'campaign', resourceId: id, action } });
const post = (id: string, verb: string, key?: string) => {
  const t = stack.api('operator').post(`/v1/campaigns/${id}/${verb}`, {}).set('X-Request-Id', `req-${verb}-${id}`);
  return key ? t.set('Idempotency-Key', key) : t;
};
/**
 * A pause or cancel answers once no page is sending, which can outlast the short update deadline of
 * this file: retry the same request (same key, or same request id: the same update) as a client would.
 */
async function settled(request: () => PromiseLike<Response>): Promise<Response> {
  return eventually(async () => {
    const res = await request();
    if (res.status !== 503) return res;
  }, 60_000, 200);
}
const actorOf = (role: string) => expect.stringMatching(new RegExp(`^${role}:[0-9a-f]{8}$`));

test('create, rate change, pause, resume and cancel each write their audit row with the actor; the workflow writes the rate', async () => {
  const k = await submit(await users(60), { ratePerSecond: 5 });
  await until(k, (c) => c.sent >= 2);
  const patched = await stack.api('operator').patch(`/v1/campaigns/${k}`, { ratePerSecond: 8 }).set('X-Request-Id', `req-rate-${k}`).expect(200);
  expect(patched.body.ratePerSecond).toBe(8);
  expect((await stack.db.campaign.findUniqueOrThrow({ where: { id: k } })).ratePerSecond).toBe(8);
  expect((await settled(() => post(k, 'pause'))).body.status).toBe('PAUSED');
  expect((await settled(() => post(k, 'resume'))).body.status).toBe('RUNNING');
  expect((await settled(() => post(k, 'cancel'))).body.status).toBe('CANCELLED');

  const rows = await audits(k);
  expect(rows.map((r) => [r.action, r.actor, r.requestId])).toEqual([
    ['campaign.create', actorOf('service'), `req-create-${k}`],
    ['campaign.rate', actorOf('operator'), `req-rate-${k}`],
    ['campaign.pause', actorOf('operator'), `req-pause-${k}`],
    ['campaign.resume', actorOf('operator'), `req-resume-${k}`],
    ['campaign.cancel', actorOf('operator'), `req-cancel-${k}`],
  ]);
  expect(rows[1].details).toMatchObject({ ratePerSecond: 8 });
  expect(rows[4].details).toMatchObject({ status: 'CANCELLED' });
});

test('a rate change before the send starts is written by the workflow too; null lifts the limit', async () => {
  const k = await submit(await users(5), { sendAt: new Date(Date.now() + 3_600_000).toISOString(), ratePerSecond: 3 });
  await stack.api('service').patch(`/v1/campaigns/${k}`, { ratePerSecond: 7 }).expect(200);
  expect((await stack.db.campaign.findUniqueOrThrow({ where: { id: k } })).ratePerSecond).toBe(7);
  const lifted = await stack.api('service').patch(`/v1/campaigns/${k}`, { ratePerSecond: null }).expect(200);
  expect(lifted.body.ratePerSecond).toBeNull();
  expect((await audits(k)).filter((r) => r.action === 'campaign.rate').map((r) => (r.details as { ratePerSecond: number | null }).ratePerSecond)).toEqual([7, null]);
  expect((await settled(() => post(k, 'cancel'))).body.status).toBe('CANCELLED');
  expect(await auditCount(k, 'campaign.cancel')).toBe(1);
});

test('a repeated pause with one Idempotency-Key answers 200 twice and pauses once; another request under that key is a 409', async () => {
  const k = await submit(await users(60), { ratePerSecond: 5 });
  await until(k, (c) => c.sent >= 1);
  const first = await settled(() => post(k, 'pause', 'pause-1'));
  expect(first.status).toBe(200);
  const again = await post(k, 'pause', 'pause-1').expect(200);
  expect(again.body).toEqual(first.body);
  expect(first.body.status).toBe('PAUSED');
  expect(await auditCount(k, 'campaign.pause')).toBe(1);
  const other = await post(k, 'resume', 'pause-1').expect(409);
  expect(other.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  expect((await campaign(k)).status).toBe('PAUSED');

  await stack.api('service').patch(`/v1/campaigns/${k}`, { ratePerSecond: 9 }).set('Idempotency-Key', 'rate-1').expect(200);
  const otherRate = await stack.api('service').patch(`/v1/campaigns/${k}`, { ratePerSecond: 10 }).set('Idempotency-Key', 'rate-1').expect(409);
  expect(otherRate.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  expect((await campaign(k)).ratePerSecond).toBe(9);
  expect(await auditCount(k, 'campaign.rate')).toBe(1);
  expect((await settled(() => post(k, 'cancel'))).status).toBe(200);
});

test('with the notifications worker stopped, pause answers 503 WORKER_UNAVAILABLE with Retry-After; once it is back the same request pauses once', async () => {
  const k = await submit(await users(60), { ratePerSecond: 5 });
  await until(k, (c) => c.sent >= 1);
  await stack.stopWorkers();
  try {
    const t0 = Date.now();
    const down = await post(k, 'pause', 'pause-down');
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('WORKER_UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(UPDATE_TIMEOUT_MS);
    expect((await post(k, 'pause', 'pause-down')).status).toBe(503);
    expect((await stack.db.campaign.findUniqueOrThrow({ where: { id: k } })).status).toBe('RUNNING');
  } finally {
    await stack.startWorkers();
  }
  // The worker first has to take the interrupted pages back (their heartbeats time out): retry as a client would.
  const ok = await settled(() => post(k, 'pause', 'pause-down'));
  expect(ok.status).toBe(200);
  expect(ok.body.status).toBe('PAUSED');
  expect((await post(k, 'pause', 'pause-down').expect(200)).body).toEqual(ok.body);
  expect(await auditCount(k, 'campaign.pause')).toBe(1);
  expect((await settled(() => post(k, 'cancel'))).status).toBe(200);
}, 120_000);

/** A COMPLETED campaign with `bad` of its `n` deliveries failed permanently. */
async function completedWithFailures(n: number, bad: number): Promise<string> {
  const ids = await users(n);
  for (const id of ids.slice(0, bad)) refused.add(`${id}@example.test`);
  const k = await submit(ids);
  // The run has ended, not only written COMPLETED: until then a new run of the id is refused (409).
  await stack.client.workflow.getHandle(`campaign-${k}`).result();
  expect(await campaign(k)).toMatchObject({ status: 'COMPLETED', sent: n - bad, failed: bad });
  for (const id of ids.slice(0, bad)) refused.delete(`${id}@example.test`);
  return k;
}

const runsOf = async (workflowId: string) => {
  const runs: string[] = [];
  for await (const w of stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w.runId);
  return runs;
};

test('retry-failed is audited, idempotent by key (the same request answers the first result and starts no second run)', async () => {
  const k = await completedWithFailures(12, 3);
  const first = await post(k, 'retry-failed', 'retry-1').expect(200);
  expect(first.body).toMatchObject({ retried: 3 });
  expect(['RUNNING', 'COMPLETED']).toContain(first.body.status);
  const done = await until(k, (c) => c.status === 'COMPLETED' && c.sent === 12);
  expect(done).toMatchObject({ failed: 0, pending: 0 });
  const run = await stack.client.workflow.getHandle(`campaign-${k}`).describe();
  expect(run.memo).toMatchObject({ retryOf: 'retry-1' });

  const again = await post(k, 'retry-failed', 'retry-1').expect(200);
  expect(again.body).toEqual(first.body);
  expect((await stack.client.workflow.getHandle(`campaign-${k}`).describe()).runId).toBe(run.runId);
  await eventually(async () => (await runsOf(`campaign-${k}`)).length === 2, 10_000);
  const claims = (await audits(k)).filter((r) => r.action === 'campaign.retry_failed');
  expect(claims.map((r) => [r.actor, r.requestId])).toEqual([[actorOf('operator'), `req-retry-failed-${k}`]]);
  expect(claims[0].details).toMatchObject({ retried: 3, commandId: 'retry-1' });

  // Nothing failed any more: a new request is refused, and changes nothing.
  const refusedRetry = await post(k, 'retry-failed', 'retry-2').expect(409);
  expect(refusedRetry.body.error.code).toBe('INVALID_TRANSITION');
  expect(await auditCount(k, 'campaign.retry_failed')).toBe(1);
  await sleep(500);
  expect((await runsOf(`campaign-${k}`)).length).toBe(2);
});

test('retry-failed with the worker stopped answers 503; the same request later answers the one retry run, which sends the failed ones once', async () => {
  const k = await completedWithFailures(10, 2);
  await stack.stopWorkers();
  try {
    const down = await post(k, 'retry-failed', 'retry-down');
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('WORKER_UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    // Claimed, not yet taken over: the status is still the workflow's COMPLETED.
    expect(await campaign(k)).toMatchObject({ status: 'COMPLETED', failed: 0, pending: 2 });
  } finally {
    await stack.startWorkers();
  }
  const ok = await post(k, 'retry-failed', 'retry-down').expect(200);
  expect(ok.body.retried).toBe(2);
  await until(k, (c) => c.status === 'COMPLETED' && c.sent === 10);
  expect((await stack.db.campaign.findUniqueOrThrow({ where: { id: k } })).finishedAt).toBeTruthy();
  await eventually(async () => (await runsOf(`campaign-${k}`)).length === 2, 10_000);
  expect(await stack.db.outboxMessage.count({ where: { idempotencyKey: { startsWith: `campaign:${k}:` } } })).toBe(10);
  expect(await auditCount(k, 'campaign.retry_failed')).toBe(1);
}, 120_000);
