// The exactly-once proof: a 20,000-recipient promo campaign whose notifications worker (a real separate
// process) is SIGKILLed in the middle and started again. Every recipient gets exactly one message and
// one code, no code goes to two users, and the counters add up.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack';
import { testTemporalAddress } from '../helpers/temporal';

const N = 20_000;
let stack: Stack;
let worker: ChildProcess | undefined;

function startWorkerProcess(): ChildProcess {
  const root = path.resolve(__dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: stack.workerDbUrl,
      TEMPORAL_ADDRESS: testTemporalAddress(),
      KEEL_TASK_QUEUE_PREFIX: stack.prefix,
      KEEL_WORKERS: 'notifications',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'test',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

beforeAll(async () => {
  // Bookings and incidents in-process; notifications (campaigns) only in the child process.
  stack = await startStack({ name: 'worker-kill', workers: ['bookings', 'incidents'], campaignSettings: { pageSize: 500, concurrency: 4 } });
});
afterAll(async () => {
  worker?.kill('SIGKILL');
  await stack?.stop();
});

test('a worker SIGKILLed mid-campaign: every recipient exactly once, codes unique, counts right', async () => {
  const prefix = `wk${randomBytes(3).toString('hex')}`;
  const ids = Array.from({ length: N }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);
  for (let i = 0; i < N; i += 5000) {
    await stack.db.user.createMany({ data: ids.slice(i, i + 5000).map((id) => ({ id, email: `${id}@example.test`, firstName: 'Max' })) });
  }
  const poolId = `pool-${prefix}`;
  await stack.db.promoPool.create({ data: { id: poolId, name: poolId, idempotencyKey: poolId, requestHash: '0'.repeat(64), size: N } });
  for (let i = 0; i < N; i += 5000) {
    await stack.db.promoCode.createMany({ data: Array.from({ length: 5000 }, (_, j) => ({ poolId, code: `${prefix}-CODE-${i + j}` })) });
  }

  worker = startWorkerProcess();
  const key = `kill-${prefix}`;
  await stack.api('service').post('/v1/campaigns', {
    name: 'kill test', channel: 'email', promoPoolId: poolId, ratePerSecond: 2000,
    template: { subject: 'Hi {{firstName}}', body: 'Code {{promoCode}}' }, audience: { all: true },
  }).set('Idempotency-Key', key).expect(202);

  // Kill it in the middle of the send.
  await eventually(async () => (await stack.db.campaign.findUniqueOrThrow({ where: { id: key } })).sent >= 3000, 90_000, 100);
  worker.kill('SIGKILL');
  await new Promise((r) => worker!.once('exit', r));
  const atKill = (await stack.db.campaign.findUniqueOrThrow({ where: { id: key } })).sent;
  expect(atKill).toBeLessThan(N);
  console.log(`worker SIGKILLed with ${atKill} of ${N} sent`);
  await sleep(1000);
  worker = startWorkerProcess();

  const done = await eventually(async () => {
    const c = await stack.db.campaign.findUniqueOrThrow({ where: { id: key } });
    return c.status === 'COMPLETED' ? c : undefined;
  }, 180_000, 500);
  expect(done).toMatchObject({ total: N, sent: N, failed: 0, skipped: 0 });

  const [counts] = await stack.db.$queryRaw<Array<{ sent: number; codes: number; distinct_codes: number }>>`
    SELECT count(*) FILTER (WHERE status = 'SENT')::int AS sent, count(promo_code)::int AS codes, count(DISTINCT promo_code)::int AS distinct_codes
    FROM deliveries WHERE campaign_id = ${key}`;
  expect(counts).toEqual({ sent: N, codes: N, distinct_codes: N });
  const [msgs] = await stack.db.$queryRaw<Array<{ n: number; users: number }>>`
    SELECT count(*)::int AS n, count(DISTINCT idempotency_key)::int AS users FROM outbox_messages WHERE idempotency_key LIKE ${`campaign:${key}:%`}`;
  expect(msgs).toEqual({ n: N, users: N });
  const [codes] = await stack.db.$queryRaw<Array<{ assigned: number; users: number; mismatched: number }>>`
    SELECT count(*)::int AS assigned, count(DISTINCT c.assigned_user_id)::int AS users,
           count(*) FILTER (WHERE d.promo_code IS DISTINCT FROM c.code)::int AS mismatched
    FROM promo_codes c LEFT JOIN deliveries d ON d.campaign_id = ${key} AND d.user_id = c.assigned_user_id
    WHERE c.pool_id = ${poolId} AND c.assigned_at IS NOT NULL`;
  expect(codes).toEqual({ assigned: N, users: N, mismatched: 0 });
  // Each message carries the code its delivery holds.
  const sample = await stack.db.delivery.findFirstOrThrow({ where: { campaignId: key, userId: ids[12345] } });
  const message = await stack.db.outboxMessage.findUniqueOrThrow({ where: { idempotencyKey: `campaign:${key}:${ids[12345]}` } });
  expect(message.body).toBe(`Code ${sample.promoCode}`);
}, 300_000);
