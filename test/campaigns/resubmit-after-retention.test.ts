// Campaigns refuse duplicates forever. Temporal forgets a closed run after the namespace's retention
// (deleteWorkflowExecution stands in for it here); the campaign row does not: the same submit answers
// the campaign as it always did and starts nothing, and a run revived anyway (started by hand) cannot
// move the finished campaign - its first status write is a compare-and-set that is refused for good.
import { randomBytes } from 'node:crypto';
import type { ActivityFailure, ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { createCampaignActivities } from '../../activities/campaigns';
import { createOutboxProvider } from '../../providers/outbox';
import type { CampaignInput } from '../../workflows/campaign-messages';
import { DEFAULT_CAMPAIGN_SETTINGS, eventually, startStack, type Stack } from '../helpers/stack';
import { forgetClosedRun } from '../helpers/retention';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'campaign-resubmit', workers: ['notifications'], campaignSettings: { pageSize: 100, concurrency: 2 } });
});
afterAll(() => stack?.stop());

async function seedUsers(n: number): Promise<string[]> {
  const prefix = `u${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await stack.db.user.createMany({ data: ids.map((id) => ({ id, email: `${id}@example.test`, firstName: 'Ann' })) });
  return ids;
}

/** A deletion took up to ~30 s to show on the loaded shared dev server. */
const RETENTION_TEST_MS = 180_000;
const key = () => `k-${randomBytes(6).toString('hex')}`;
const submit = (k: string, body: object) => stack.api('service').post('/v1/campaigns', body).set('Idempotency-Key', k);
const campaign = async (id: string) => (await stack.api('viewer').get(`/v1/campaigns/${id}`).expect(200)).body;
const until = (id: string, test: (c: { status: string; sent: number }) => boolean, ms = 60_000) =>
  eventually(async () => { const c = await campaign(id); return test(c) ? c : undefined; }, ms, 200);
const messages = (k: string) => stack.db.outboxMessage.count({ where: { idempotencyKey: { startsWith: `campaign:${k}:` } } });

// By name: the SDK's error classes may be loaded twice (node_modules is a symlink here), and instanceof then fails.
const noRun = (workflowId: string) => expect(stack.client.workflow.getHandle(workflowId).describe()).rejects.toMatchObject({ name: 'WorkflowNotFoundError' });

describe('a finished campaign whose run Temporal no longer knows', () => {
  test('COMPLETED: the same submit answers 200 with the campaign, starts no run, sends nothing more; another body is 409', async () => {
    const k = key();
    const body = { name: 'once', channel: 'email', template: { body: 'hi {{firstName}}' }, audience: { userIds: await seedUsers(5) } };
    await submit(k, body).expect(202);
    await until(k, (c) => c.status === 'COMPLETED');
    expect(await messages(k)).toBe(5);
    await forgetClosedRun(stack.client, `campaign-${k}`);

    const again = await submit(k, body).expect(200);
    expect(again.body).toEqual({ campaignId: k, workflowId: `campaign-${k}`, status: 'COMPLETED' });
    // The answer comes after any start would have happened: there is still no run.
    await noRun(`campaign-${k}`);
    expect(await messages(k)).toBe(5);
    expect(await stack.db.delivery.count({ where: { campaignId: k } })).toBe(5);
    expect((await submit(k, { ...body, name: 'other' }).expect(409)).body.error.code).toBe('DUPLICATE_CONFLICT');
    await noRun(`campaign-${k}`);
  }, RETENTION_TEST_MS);

  test('CANCELLED with deliveries still pending: the same submit answers 200 CANCELLED and none of them is sent', async () => {
    const k = key();
    const body = { name: 'cancelled', channel: 'email', template: { body: 'x' }, audience: { userIds: await seedUsers(40) }, ratePerSecond: 4 };
    await submit(k, body).expect(202);
    await until(k, (c) => c.status === 'RUNNING' && c.sent > 0);
    await stack.api('service').post(`/v1/campaigns/${k}/cancel`).expect(200);
    const cancelled = await until(k, (c) => c.status === 'CANCELLED');
    expect(cancelled.sent).toBeLessThan(40);
    const sent = await messages(k);
    await forgetClosedRun(stack.client, `campaign-${k}`);

    expect((await submit(k, body).expect(200)).body).toEqual({ campaignId: k, workflowId: `campaign-${k}`, status: 'CANCELLED' });
    await noRun(`campaign-${k}`);
    expect(await messages(k)).toBe(sent);
    expect(await stack.db.delivery.count({ where: { campaignId: k, status: 'PENDING' } })).toBe(40 - cancelled.sent);
  }, RETENTION_TEST_MS);

  test('a run revived by hand for a COMPLETED campaign fails at its first status write, not retried, and sends nothing', async () => {
    const k = key();
    const body = { name: 'revived', channel: 'email', template: { body: 'x' }, audience: { userIds: await seedUsers(3) } };
    await submit(k, body).expect(202);
    await until(k, (c) => c.status === 'COMPLETED');
    await forgetClosedRun(stack.client, `campaign-${k}`);
    // Reset the deliveries to PENDING, as if nothing had been sent: only the status write stands in the way.
    await stack.db.delivery.updateMany({ where: { campaignId: k }, data: { status: 'PENDING' } });

    const input: CampaignInput = { campaignId: k, channel: 'email', template: { body: 'x' }, marketing: false, settings: DEFAULT_CAMPAIGN_SETTINGS };
    const handle = await stack.client.workflow.start('campaignWorkflow', { taskQueue: `${stack.prefix}-notifications`, workflowId: `campaign-${k}`, args: [input] });
    const err = (await handle.result().then(() => undefined, (e: unknown) => e)) as WorkflowFailedError;
    expect(err?.name).toBe('WorkflowFailedError');
    const activity = err.cause as ActivityFailure;
    expect({ name: activity.name, activityType: activity.activityType }).toEqual({ name: 'ActivityFailure', activityType: 'setCampaignStatus' });
    const cause = activity.cause as ApplicationFailure;
    expect({ name: cause.name, type: cause.type, nonRetryable: cause.nonRetryable }).toEqual({ name: 'ApplicationFailure', type: 'StaleCampaignStatus', nonRetryable: true });
    expect(cause.message).toContain('is COMPLETED, not SCHEDULED');
    // One attempt only: the history holds a single start of the activity.
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1]);
    const row = await stack.db.campaign.findUniqueOrThrow({ where: { id: k } });
    expect(row.status).toBe('COMPLETED');
    expect(await messages(k)).toBe(3);
    expect(await stack.db.delivery.count({ where: { campaignId: k, status: 'PENDING' } })).toBe(3);
  }, RETENTION_TEST_MS);
});

describe('the status write is a compare-and-set', () => {
  test('from a status the row is not in: refused non-retryably, row unchanged; the same write after its commit is a no-op; the right one writes', async () => {
    const id = key();
    await stack.db.campaign.create({
      data: {
        id, idempotencyKey: id, requestHash: '0'.repeat(64), name: 'cas', channel: 'email', template: { body: 'x' }, audience: { listed: 0 },
        status: 'COMPLETED', workflowId: `campaign-${id}`,
      },
    });
    const outbox = createOutboxProvider(stack.db);
    const acts = createCampaignActivities({ db: stack.db, providers: { email: outbox, sms: outbox, push: outbox } });

    const refused = (await acts.setCampaignStatus({ campaignId: id, status: 'RUNNING', from: 'SCHEDULED' }).then(() => undefined, (e: unknown) => e)) as ApplicationFailure;
    expect({ name: refused?.name, type: refused?.type, nonRetryable: refused?.nonRetryable }).toEqual({ name: 'ApplicationFailure', type: 'StaleCampaignStatus', nonRetryable: true });
    expect((await stack.db.campaign.findUniqueOrThrow({ where: { id } })).status).toBe('COMPLETED');

    await stack.db.campaign.update({ where: { id }, data: { status: 'RUNNING' } });
    // An activity retried after its transaction committed finds the row already where it wanted it.
    await acts.setCampaignStatus({ campaignId: id, status: 'RUNNING', from: 'SCHEDULED' });
    await acts.setCampaignStatus({ campaignId: id, status: 'PAUSED', from: 'RUNNING' });
    expect((await stack.db.campaign.findUniqueOrThrow({ where: { id } })).status).toBe('PAUSED');
  });
});
