// The default campaign rate (KEEL_CAMPAIGN_DEFAULT_RATE): a campaign that names no ratePerSecond is sent
// at the configured default, one that names a rate keeps its own, and PATCH {ratePerSecond: null} lifts
// the limit of a running campaign.
import { randomBytes } from 'node:crypto';
import { eventually, startStack, type Stack } from '../helpers/stack';

const DEFAULT_RATE = 50;
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    name: 'default-rate', workers: ['notifications'],
    campaignSettings: { pageSize: 100, concurrency: 4, defaultRatePerSecond: DEFAULT_RATE },
  });
});
afterAll(() => stack?.stop());

async function seedUsers(n: number): Promise<string[]> {
  const prefix = `dr${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
  await stack.db.user.createMany({ data: ids.map((id) => ({ id, email: `${id}@example.test`, timezone: 'UTC' })) });
  return ids;
}

const key = () => `dr-${randomBytes(6).toString('hex')}`;
const campaign = async (id: string) => (await stack.api('viewer').get(`/v1/campaigns/${id}`).expect(200)).body;
const until = (id: string, status: string, ms: number) =>
  eventually(async () => ((await campaign(id)).status === status ? campaign(id) : undefined), ms, 200);

/** Deliveries per second over the send, first to last sent_at. */
async function achievedRate(campaignId: string): Promise<number> {
  const times = (await stack.db.delivery.findMany({ where: { campaignId }, select: { sentAt: true } }))
    .map((r) => r.sentAt!.getTime()).sort((a, b) => a - b);
  return (times.length - 1) / ((times.at(-1)! - times[0]) / 1000);
}

test('a campaign without ratePerSecond is sent at the default rate; its own rate wins when given', async () => {
  const users = await seedUsers(200);
  const k = key();
  await stack.api('service').post('/v1/campaigns', { name: 'default', channel: 'email', template: { body: 'x' }, audience: { userIds: users } })
    .set('Idempotency-Key', k).expect(202);
  const done = await until(k, 'COMPLETED', 30_000);
  expect(done.ratePerSecond).toBe(DEFAULT_RATE); // the limit in force is shown, not null
  const rate = await achievedRate(k);
  console.log(`default campaign rate: achieved ${rate.toFixed(1)}/s for a default of ${DEFAULT_RATE}/s`);
  expect(rate).toBeGreaterThan(DEFAULT_RATE * 0.9);
  expect(rate).toBeLessThan(DEFAULT_RATE * 1.1);

  const faster = key();
  await stack.api('service').post('/v1/campaigns', { name: 'own rate', channel: 'email', template: { body: 'x' }, audience: { userIds: users }, ratePerSecond: 150 })
    .set('Idempotency-Key', faster).expect(202);
  await until(faster, 'COMPLETED', 30_000);
  // Its own 150/s, well above the default (the exact accuracy is the rate test's business).
  expect(await achievedRate(faster)).toBeGreaterThan(DEFAULT_RATE * 1.5);
});

test('PATCH {ratePerSecond: null} lifts the default limit of a running campaign', async () => {
  const users = await seedUsers(1500);
  const k = key();
  const t0 = Date.now();
  await stack.api('service').post('/v1/campaigns', { name: 'lift', channel: 'email', template: { body: 'x' }, audience: { userIds: users } })
    .set('Idempotency-Key', k).expect(202);
  await eventually(async () => ((await campaign(k)).sent > 0 ? true : undefined), 20_000, 100);
  await stack.api('operator').patch(`/v1/campaigns/${k}`, { ratePerSecond: null }).expect(200);
  expect((await until(k, 'COMPLETED', 30_000)).ratePerSecond).toBeNull();
  // At the default 50/s the 1,500 messages would take 30 s; unlimited they take a few seconds.
  expect(Date.now() - t0).toBeLessThan(20_000);
  expect(await stack.db.delivery.count({ where: { campaignId: k, status: 'SENT' } })).toBe(1500);
});
