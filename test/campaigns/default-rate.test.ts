// The default campaign rate (KEEL_CAMPAIGN_DEFAULT_RATE): a campaign that names no ratePerSecond is held
// to the configured default, one that names a rate keeps its own, and PATCH {ratePerSecond: null} lifts
// the limit of a running campaign. Asserted as what a limit allows or rules out (never faster than it;
// denser than it could be), which a busy machine cannot break; how close a send comes to its rate is
// measured by the benchmark (bench/campaigns.ts).
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

/** sent_at of every delivery of a campaign, in order. */
async function sentTimes(campaignId: string): Promise<number[]> {
  return (await stack.db.delivery.findMany({ where: { campaignId }, select: { sentAt: true } }))
    .map((r) => r.sentAt!.getTime()).sort((a, b) => a - b);
}

/** Deliveries per second over the send, first to last sent_at (printed, not asserted: bench/campaigns.ts measures it). */
const achievedRate = (times: number[]) => (times.length - 1) / ((times.at(-1)! - times[0]) / 1000);

/** The most deliveries whose sent_at falls within any `windowMs`. */
function densest(times: number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j] - times[i] >= windowMs) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

// What the default limit allows at most: every send waits for a slot reserved at 50/s, in chunks of a
// fifth of a second's worth (10), and each of the 4 pages holds at most one chunk reserved but not yet
// sent. A busy machine only spreads sends out, except that those held-back chunks may go out together:
// so at most a second's worth (4 held-back chunks + one) goes out at once, and any 200 ms holds at most
// 4 + 1 + 1 chunks = 60 sends. 100 sends within 200 ms cannot happen under the default limit. A page of
// 100 sent without a limit goes out and is recorded as one batch: its 100 sends share one instant.
const WINDOW_MS = 200;
const BEYOND_DEFAULT = 100;

test('a campaign without ratePerSecond is held to the default rate; its own rate wins when given', async () => {
  const users = await seedUsers(200);
  const k = key();
  await stack.api('service').post('/v1/campaigns', { name: 'default', channel: 'email', template: { body: 'x' }, audience: { userIds: users } })
    .set('Idempotency-Key', k).expect(202);
  const done = await until(k, 'COMPLETED', 30_000);
  expect(done.ratePerSecond).toBe(DEFAULT_RATE); // the limit in force is shown, not null
  const times = await sentTimes(k);
  expect(times).toHaveLength(200);
  console.log(`default campaign rate: achieved ${achievedRate(times).toFixed(1)}/s for a default of ${DEFAULT_RATE}/s, at most ${densest(times, WINDOW_MS)} sends in ${WINDOW_MS} ms`);
  // Never faster than the default: with at most a second's worth going out together (see above), the
  // 200 messages span at least (200 - 50) / 50 = 3 s from the first to the last.
  expect(times.at(-1)! - times[0]).toBeGreaterThanOrEqual(((200 - DEFAULT_RATE) / DEFAULT_RATE) * 1000);
  expect(densest(times, WINDOW_MS)).toBeLessThan(BEYOND_DEFAULT);

  // Its own rate, far above the default, wins: sends come denser than the default could ever let out.
  const more = await seedUsers(400);
  const faster = key();
  await stack.api('service').post('/v1/campaigns', { name: 'own rate', channel: 'email', template: { body: 'x' }, audience: { userIds: more }, ratePerSecond: 1000 })
    .set('Idempotency-Key', faster).expect(202);
  expect((await until(faster, 'COMPLETED', 30_000)).ratePerSecond).toBe(1000);
  const fasterTimes = await sentTimes(faster);
  expect(fasterTimes).toHaveLength(400);
  console.log(`own rate 1000/s: at most ${densest(fasterTimes, WINDOW_MS)} sends in ${WINDOW_MS} ms`);
  expect(densest(fasterTimes, WINDOW_MS)).toBeGreaterThanOrEqual(BEYOND_DEFAULT);
});

test('PATCH {ratePerSecond: null} lifts the default limit of a running campaign', async () => {
  const users = await seedUsers(1500);
  const k = key();
  await stack.api('service').post('/v1/campaigns', { name: 'lift', channel: 'email', template: { body: 'x' }, audience: { userIds: users } })
    .set('Idempotency-Key', k).expect(202);
  await eventually(async () => ((await campaign(k)).sent > 0 ? true : undefined), 20_000, 100);
  const patchedAt = Date.now();
  await stack.api('operator').patch(`/v1/campaigns/${k}`, { ratePerSecond: null }).expect(200);
  // Generous: at the default 50/s the 1,500 would take 30 s, unlimited a few; the assertion is below.
  expect((await until(k, 'COMPLETED', 60_000)).ratePerSecond).toBeNull();
  expect(await stack.db.delivery.count({ where: { campaignId: k, status: 'SENT' } })).toBe(1500);
  // After the PATCH, sends come denser than the default limit could ever let out.
  const after = (await sentTimes(k)).filter((t) => t >= patchedAt);
  console.log(`limit lifted: at most ${densest(after, WINDOW_MS)} sends in ${WINDOW_MS} ms after the PATCH`);
  expect(densest(after, WINDOW_MS)).toBeGreaterThanOrEqual(BEYOND_DEFAULT);
}, 90_000);
