// An explicit audience of 100,000 user ids of 40 characters (about 4 MB of ids, twice Temporal's
// payload limit): the ids are stored with the campaign, the workflow only ever carries its id, and
// every user gets exactly one message. The provider only counts messages (the outbox is not what is
// tested here), and pages are large, so the run takes well under two minutes on a busy machine.
import { randomBytes } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import type { BatchingProvider } from '../../activities/campaigns';
import type { OutgoingMessage, SendResult } from '../../providers/types';
import { MAX_AUDIENCE_IDS } from '../../domain/campaign-audience';
import { eventually, startStack, type Stack } from '../helpers/stack';

const N = 100_000;
const sends = new Map<string, number>();
const send = (m: OutgoingMessage): SendResult => {
  sends.set(m.idempotencyKey, (sends.get(m.idempotencyKey) ?? 0) + 1);
  return { ok: true, providerMessageId: m.idempotencyKey };
};
const counting: BatchingProvider = {
  name: 'counting',
  send: (m) => Promise.resolve(send(m)),
  sendMany: (ms) => Promise.resolve(ms.map(send)),
};

let stack: Stack;
beforeAll(async () => {
  // 40 pages of 2,500 and a continue-as-new every 10 pages: the carried-over input is checked too.
  stack = await startStack({
    name: 'campaign-audience', workers: ['notifications'], providers: { email: counting },
    campaignSettings: { pageSize: 2500, concurrency: 4, pagesPerRun: 10 },
  });
});
afterAll(() => stack?.stop());

/** Bytes of binary data (payloads) anywhere in a history event. */
function payloadBytes(x: unknown): number {
  if (x instanceof Uint8Array) return x.length;
  if (Array.isArray(x)) return x.reduce((n: number, v) => n + payloadBytes(v), 0);
  if (x && typeof x === 'object') return Object.values(x).reduce((n: number, v) => n + payloadBytes(v), 0);
  return 0;
}

/** Every run of a workflow id, newest first, by walking continue-as-new links back from the latest. */
async function runHistories(workflowId: string): Promise<temporal.api.history.v1.IHistory[]> {
  const histories: temporal.api.history.v1.IHistory[] = [];
  let runId: string | undefined = (await stack.client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const h = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    histories.push(h);
    runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return histories;
}

describe('a campaign naming 100,000 users by id', () => {
  test('202, each user gets exactly one delivery and one message (repeated ids once), and no workflow payload holds the ids', async () => {
    const prefix = `u${randomBytes(3).toString('hex')}-`;
    const idOf = (i: number) => `${prefix}${String(i).padStart(40 - prefix.length, '0')}`;
    await stack.db.$executeRaw`
      INSERT INTO "users" ("id", "email", "first_name")
      SELECT ${prefix} || lpad(i::text, ${40 - prefix.length}, '0'), 'r' || i || '@example.test', 'Ann' || i FROM generate_series(1, ${N}) AS i`;
    const ids = Array.from({ length: N }, (_, i) => idOf(i + 1));
    expect(ids.every((id) => id.length === 40)).toBe(true);
    const k = `big-${randomBytes(6).toString('hex')}`;
    // The first 500 ids twice: sent once each.
    const body = { name: 'everyone by id', channel: 'email', template: { body: 'Hello {{firstName}}' }, audience: { userIds: [...ids, ...ids.slice(0, 500)] } };
    expect(JSON.stringify(body).length).toBeGreaterThan(4_000_000);

    const res = await stack.api('service').post('/v1/campaigns', body).set('Idempotency-Key', k).expect(202);
    expect(res.body).toMatchObject({ campaignId: k, workflowId: `campaign-${k}` });
    expect(await stack.db.campaignAudienceMember.count({ where: { campaignId: k } })).toBe(N);
    // The row keeps the count, not the ids.
    expect((await stack.db.campaign.findUniqueOrThrow({ where: { id: k } })).audience).toEqual({ listed: N });

    const done = await eventually(async () => {
      const c = (await stack.api('viewer').get(`/v1/campaigns/${k}`).expect(200)).body;
      return c.status === 'COMPLETED' ? c : undefined;
    }, 150_000, 500);
    // A failure's reason in the assertion, so a red run says why (not only how many).
    const failures = await stack.db.delivery.findMany({ where: { campaignId: k, status: { not: 'SENT' } }, select: { userId: true, status: true, lastError: true }, take: 5 });
    expect({ counts: done, failures }).toMatchObject({ counts: { total: N, sent: N, failed: 0, skipped: 0, pending: 0 }, failures: [] });
    const [rows] = await stack.db.$queryRaw<Array<{ n: number; users: number; sent: number }>>`
      SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS users, count(*) FILTER (WHERE status = 'SENT')::int AS sent
      FROM "deliveries" WHERE campaign_id = ${k}`;
    expect(rows).toEqual({ n: N, users: N, sent: N });
    const mine = [...sends.entries()].filter(([key]) => key.startsWith(`campaign:${k}:`));
    expect(mine).toHaveLength(N);
    expect(mine.every(([, n]) => n === 1)).toBe(true);

    const histories = await runHistories(`campaign-${k}`);
    expect(histories.length).toBeGreaterThanOrEqual(4); // 40 pages, 10 per run
    for (const h of histories) {
      const first = h.events![0];
      // The start input (the first run's and every continued run's) is the template and settings: bytes, not megabytes.
      expect(payloadBytes(first.workflowExecutionStartedEventAttributes?.input)).toBeLessThan(4 * 1024);
      // No activity input or result either (snapshot, pages, status writes) carries anything user-sized.
      expect(Math.max(...h.events!.map(payloadBytes))).toBeLessThan(8 * 1024);
    }
  }, 240_000);

  test(`more than ${MAX_AUDIENCE_IDS.toLocaleString('en-US')} ids: 400 VALIDATION_FAILED, nothing stored`, async () => {
    const k = `huge-${randomBytes(6).toString('hex')}`;
    const userIds = Array.from({ length: MAX_AUDIENCE_IDS + 1 }, (_, i) => `x${i.toString(36)}`);
    const res = await stack.api('service').post('/v1/campaigns', { name: 'too many', channel: 'email', template: { body: 'x' }, audience: { userIds } })
      .set('Idempotency-Key', k).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(res.body.error)).toContain('at most 1,000,000 user ids');
    expect(await stack.db.campaign.count({ where: { id: k } })).toBe(0);
  }, 60_000);
});
