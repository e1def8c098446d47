// The stuck-work watchdog end to end: the Temporal Schedule `stuck-work-watchdog` runs the workflow on
// the ops worker, findings are stored and served by GET /v1/health/stuck, and one incident is opened
// however many runs find stuck work. The ops worker is the test's own (see ./ops-worker.ts), so the
// booking workers can be stopped or cut off from the database while the watchdog keeps watching.
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { detectStuckWork } from '../../services/watchdog';
import { ensureSchedules, WATCHDOG_SCHEDULE_ID } from '../../workers/schedules';
import { WATCHDOG_DEDUPE_KEY, type StuckFinding } from '../../domain/watchdog';
import { workerMetrics } from '../../activities/metrics';
import { bookingBody, eventually, sleep, startStack, uid, type Stack } from '../helpers/stack';
import { startOpsWorker } from './ops-worker';

interface StuckBody {
  source: string;
  checkedAt: string | null;
  stale: boolean;
  stuck: StuckFinding[];
  counts: Record<string, number>;
  errors: Array<{ detector: string; error: string }>;
  incidentId: string | null;
}

let stack: Stack;
let ops: { stop(): Promise<void> };
let scheduleId: string;

beforeAll(async () => {
  // Every queue but ops: the watchdog gets its own worker below.
  stack = await startStack({ name: 'watchdog', workers: ['bookings', 'notifications', 'incidents'] });
  ops = await startOpsWorker(stack, { graceMs: 1000, maxAttempts: 3, campaignStallMs: 5000, callTimeoutMs: 5000 });
  scheduleId = `${stack.prefix}-${WATCHDOG_SCHEDULE_ID}`;
});

afterAll(async () => {
  await stack?.client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
  await ops?.stop();
  await stack?.stop();
});

// The latest run is readable by every role (a viewer here); a fresh run is for operators and commanders.
const stuck = async (query = ''): Promise<StuckBody> =>
  (await stack.api(query.includes('fresh=true') ? 'operator' : 'viewer').get(`/v1/health/stuck${query}`).expect(200)).body;

let lastTrigger = 0;
/** Trigger the schedule once and wait for that run to be stored; answers GET /v1/health/stuck after it. */
async function scheduledRun(): Promise<StuckBody> {
  // A scheduled run's workflow id is the schedule id and the time to the second: two triggers within
  // one second would be one run.
  await sleep(Math.max(0, lastTrigger + 1100 - Date.now()));
  const since = new Date();
  lastTrigger = since.getTime();
  await stack.client.schedule.getHandle(scheduleId).trigger();
  await eventually(() => stack.db.watchdogRun.findFirst({ where: { startedAt: { gte: since } } }), 30_000, 200);
  return stuck();
}

const watchdogIncidents = () => stack.db.incident.findMany({ where: { dedupeKey: WATCHDOG_DEDUPE_KEY } });
/** keel_workflow_starts_total{workflow="incidentWorkflow"} of this process, where the test's ops worker runs. */
const incidentStarts = async () =>
  (await workerMetrics().workflowStarts.get()).values.find((v) => v.labels.workflow === 'incidentWorkflow')?.value ?? 0;

describe('stuck-work watchdog', () => {
  test('before any run, GET /v1/health/stuck says so; bad queries are 400; every role may read it, no key may not', async () => {
    const body = await stuck();
    expect(body).toMatchObject({ source: 'none', checkedAt: null, stale: true, stuck: [], incidentId: null });
    for (const role of ['service', 'operator', 'commander', 'viewer'] as const) await stack.api(role).get('/v1/health/stuck').expect(200);
    await stack.api(null).get('/v1/health/stuck').expect(401);
    const bad = await stack.api('viewer').get('/v1/health/stuck?fresh=maybe').expect(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(bad.body.error.message).toContain('fresh');
    await stack.api('viewer').get('/v1/health/stuck?limit=3').expect(400);
  });

  test('the schedule exists once, every minute, overlap SKIP, on the ops queue', async () => {
    expect(await ensureSchedules(stack.client, stack.prefix, [WATCHDOG_SCHEDULE_ID])).toEqual([WATCHDOG_SCHEDULE_ID]);
    expect(await ensureSchedules(stack.client, stack.prefix, [WATCHDOG_SCHEDULE_ID])).toEqual([]);
    const d = await stack.client.schedule.getHandle(scheduleId).describe();
    expect(d.policies.overlap).toBe('SKIP');
    expect(d.spec.intervals?.[0]?.every).toBe(60_000);
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'stuckWorkWatchdogWorkflow', taskQueue: `${stack.prefix}-ops` });
  });

  test('a booking whose worker was stopped over its start is found by the next run, one incident for all runs, clean once it moves', async () => {
    const body = bookingBody({}, 2000, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const handle = stack.client.workflow.getHandle(`booking-${body.bookingId}`);
    await eventually(async () => (await handle.fetchHistory()).events!.length > 3);
    await stack.stopWorkers();
    try {
      // Past the start and the 1 s grace: the first run after that must list it.
      await sleep(Math.max(0, Date.parse(body.startsAt) + 1500 - Date.now()));
      const startsBefore = await incidentStarts();
      const first = await scheduledRun();
      const finding = first.stuck.find((f) => f.kind === 'booking_not_started' && f.id === body.bookingId);
      expect(finding).toMatchObject({
        since: new Date(body.startsAt).toISOString(),
        workflowId: `booking-${body.bookingId}`,
        evidence: { status: 'CONFIRMED', startsAt: new Date(body.startsAt).toISOString(), carId: body.carId },
      });
      expect(finding!.ageMs).toBeGreaterThanOrEqual(1000);
      expect(finding!.link).toContain(encodeURIComponent(`booking-${body.bookingId}`));
      expect(first.counts.booking_not_started).toBe(1);
      expect(first).toMatchObject({ source: 'schedule', stale: false });
      expect(first.incidentId).toBeTruthy();

      // More runs: the same open incident each time, never a second one.
      const second = await scheduledRun();
      const third = await scheduledRun();
      expect(second.incidentId).toBe(first.incidentId);
      expect(third.incidentId).toBe(first.incidentId);
      const incidents = await watchdogIncidents();
      expect(incidents).toHaveLength(1);
      expect(incidents[0]).toMatchObject({ id: first.incidentId, title: 'Stuck work detected', severity: 'SEV3', status: 'OPEN' });
      expect(incidents[0].components).toEqual(['booking-api', 'car-unlock']);
      expect(incidents[0].snapshot).toMatchObject({ declaredBy: 'system:watchdog' });
      // Declared through the command layer: its one start is counted, the deduplicated runs are not.
      expect((await incidentStarts()) - startsBefore).toBe(1);
      const runs = await stack.db.watchdogRun.findMany({ where: { stuckCount: { gt: 0 } } });
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(new Set(runs.map((r) => r.incidentId))).toEqual(new Set([first.incidentId]));
    } finally {
      await stack.startWorkers();
    }
    // The worker is back: the booking starts, and the next run is clean.
    await eventually(async () => (await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status === 'ONGOING', 20_000);
    const clean = await scheduledRun();
    expect(clean.stuck).toEqual([]);
    expect(clean.errors).toEqual([]);
    expect(clean.incidentId).toBeNull();
    expect(await watchdogIncidents()).toHaveLength(1);
    // The run's workflow is a few events long: safe to run every minute.
    const latest = await stack.db.watchdogRun.findFirstOrThrow({ orderBy: { finishedAt: 'desc' } });
    const history = await stack.client.workflow.getHandle(latest.id).fetchHistory();
    expect(history.events!.length).toBeLessThan(20);
  });

  test('a transition write retrying against an unreachable database is reported with its attempts and last error', async () => {
    const body = bookingBody({}, 1500, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const handle = stack.client.workflow.getHandle(`booking-${body.bookingId}`);
    await stack.dbProxy.block();
    try {
      await eventually(async () => {
        const d = await handle.describe();
        return (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) >= 3);
      }, 30_000, 250);
      await sleep(Math.max(0, Date.parse(body.startsAt) + 1200 - Date.now()));
      const run = await scheduledRun();
      const retrying = run.stuck.find((f) => f.kind === 'activity_retrying' && f.workflowId === `booking-${body.bookingId}`);
      expect(retrying).toBeDefined();
      expect(retrying!.evidence).toMatchObject({ activityType: 'recordBookingChange', maxAttempts: 3 });
      expect(retrying!.evidence.attempt as number).toBeGreaterThanOrEqual(3);
      expect(retrying!.evidence.lastFailure).toBeTruthy();
      expect(retrying!.summary).toContain('recordBookingChange');
      // The row never moved either: the same booking is listed as not started.
      expect(run.stuck.some((f) => f.kind === 'booking_not_started' && f.id === body.bookingId)).toBe(true);
      expect(run.counts.activity_retrying).toBeGreaterThanOrEqual(1);
      expect((await watchdogIncidents()).map((i) => i.id)).toEqual([run.incidentId]);
    } finally {
      await stack.dbProxy.unblock();
    }
    await eventually(async () => (await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).status === 'ONGOING', 30_000);
  });

  test('booking rows whose workflow is gone or terminated, and an ONGOING booking past its end, are found', async () => {
    // A booking far in the future whose workflow an operator terminated: nothing will ever start it.
    const future = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', future).expect(201);
    await stack.client.workflow.getHandle(`booking-${future.bookingId}`).terminate('test: killed by hand');
    // A row left ONGOING an hour past its end, its workflow unknown to Temporal.
    const ghost = uid('ghost');
    const endsAt = new Date(Date.now() - 10 * 60_000);
    await stack.db.booking.create({
      data: {
        id: ghost, customerId: uid('cust'), carId: uid('car'), startsAt: new Date(endsAt.getTime() - 60 * 60_000), endsAt, amountCents: 100,
        currency: 'EUR', status: 'ONGOING', requestHash: '0'.repeat(64), workflowId: `booking-${ghost}`,
      },
    });
    const run = await eventually(async () => {
      const r = await scheduledRun();
      return r.stuck.some((f) => f.kind === 'booking_workflow_not_running' && f.id === future.bookingId) ? r : undefined;
    }, 60_000, 0);
    expect(run.stuck.find((f) => f.kind === 'booking_workflow_not_running' && f.id === future.bookingId)).toMatchObject({
      workflowId: `booking-${future.bookingId}`, evidence: { bookingStatus: 'CONFIRMED', workflowStatus: 'TERMINATED' },
    });
    expect(run.stuck.find((f) => f.kind === 'booking_not_ended' && f.id === ghost)).toMatchObject({
      since: endsAt.toISOString(), evidence: { status: 'ONGOING', endsAt: endsAt.toISOString(), connectedAt: null },
    });
    expect(run.stuck.find((f) => f.kind === 'booking_workflow_not_running' && f.id === ghost)).toMatchObject({
      evidence: { bookingStatus: 'ONGOING', workflowStatus: 'NOT_FOUND' },
    });
    // ?fresh=true detects inline (with the API's default 2 min grace: the ghost is 10 min late) and stores nothing.
    const runsBefore = await stack.db.watchdogRun.count();
    const fresh = await stuck('?fresh=true');
    expect(fresh.source).toBe('fresh');
    expect(fresh.stuck.some((f) => f.kind === 'booking_not_ended' && f.id === ghost)).toBe(true);
    expect(fresh.incidentId).toBeNull();
    expect(await stack.db.watchdogRun.count()).toBe(runsBefore);
  });

  test('a RUNNING campaign with deliveries due and no progress is stalled; one waiting out quiet hours is not', async () => {
    const user = uid('user');
    await stack.db.user.create({ data: { id: user, email: `${user}@example.test` } });
    const old = new Date(Date.now() - 60_000);
    const campaign = async (label: string, updatedAt: Date, notBefore: Date | null) => {
      const id = `${label}-${randomBytes(4).toString('hex')}`;
      await stack.db.campaign.create({
        data: {
          id, idempotencyKey: id, requestHash: '0'.repeat(64), name: label, channel: 'email', template: { body: 'hi' }, audience: { all: true },
          status: 'RUNNING', total: 1, workflowId: `campaign-${id}`, startedAt: old, updatedAt,
        },
      });
      await stack.db.delivery.create({ data: { campaignId: id, userId: user, seq: 1, status: 'PENDING', notBefore } });
      return id;
    };
    const stalled = await campaign('stalled', old, null);
    const quiet = await campaign('quiet', old, new Date(Date.now() + 60 * 60_000));
    const moving = await campaign('moving', new Date(), null);
    const run = await scheduledRun();
    const found = run.stuck.filter((f) => f.kind === 'campaign_stalled').map((f) => f.id);
    expect(found).toContain(stalled);
    expect(found).not.toContain(quiet);
    expect(found).not.toContain(moving);
    expect(run.stuck.find((f) => f.kind === 'campaign_stalled' && f.id === stalled)).toMatchObject({
      since: old.toISOString(), workflowId: `campaign-${stalled}`, evidence: { total: 1, sent: 0, lastProgressAt: old.toISOString() },
    });
    // Still the one incident.
    expect((await watchdogIncidents()).map((i) => i.id)).toEqual([run.incidentId]);
  });

  test('a RUNNING campaign whose workflow was terminated and deleted, and a SCHEDULED one whose workflow was terminated, are found', async () => {
    const users = Array.from({ length: 30 }, () => uid('reader'));
    await stack.db.user.createMany({ data: users.map((id) => ({ id, email: `${id}@example.test` })) });
    const submit = async (over: object) => {
      const k = `wd-${randomBytes(5).toString('hex')}`;
      await stack.api('service').post('/v1/campaigns', { name: k, channel: 'email', template: { body: 'x' }, audience: { userIds: users }, ...over })
        .set('Idempotency-Key', k).expect(202);
      return k;
    };
    // 1 message a second: still RUNNING long after its workflow is gone.
    const running = await submit({ ratePerSecond: 1 });
    const scheduled = await submit({ sendAt: new Date(Date.now() + 60 * 60_000).toISOString() });
    await eventually(async () => (await stack.db.campaign.findUniqueOrThrow({ where: { id: running } })).status === 'RUNNING', 30_000);
    const gone = stack.client.workflow.getHandle(`campaign-${running}`);
    await gone.terminate('test: killed by hand');
    const { runId } = await gone.describe();
    await stack.client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: `campaign-${running}`, runId } });
    await eventually(() => gone.describe().then(() => false, (err: Error) => err.name === 'WorkflowNotFoundError'), 90_000, 200);
    await stack.client.workflow.getHandle(`campaign-${scheduled}`).terminate('test: killed by hand');

    const mine = (r: StuckBody, id: string) => r.stuck.find((f) => f.kind === 'campaign_workflow_not_running' && f.id === id);
    const run = await eventually(async () => {
      const r = await scheduledRun();
      return mine(r, running) && mine(r, scheduled) ? r : undefined;
    }, 60_000, 0);
    expect(mine(run, running)).toMatchObject({
      workflowId: `campaign-${running}`, evidence: { campaignStatus: 'RUNNING', workflowStatus: 'NOT_FOUND' },
    });
    expect(mine(run, scheduled)).toMatchObject({
      workflowId: `campaign-${scheduled}`, evidence: { campaignStatus: 'SCHEDULED', workflowStatus: 'TERMINATED' },
    });
    expect(run.counts.campaign_workflow_not_running).toBeGreaterThanOrEqual(2);
    // Found like the others: in the one watchdog incident.
    expect((await watchdogIncidents()).map((i) => i.id)).toEqual([run.incidentId]);
  }, 180_000);

  test('a detector that cannot reach Temporal is reported, never a silently clean run; the database detectors still answer', async () => {
    const connection = Connection.lazy({ address: '127.0.0.1:1' });
    try {
      const dead = new Client({ connection, namespace: 'default' });
      const report = await detectStuckWork({ db: stack.db, client: dead, taskQueuePrefix: stack.prefix, settings: { graceMs: 1000, callTimeoutMs: 1000 } });
      expect(report.errors.map((e) => e.detector)).toEqual(expect.arrayContaining(['bookings_transition_overdue', 'describe_workflows', 'booking_workflows_closed', 'campaign_workflows']));
      expect(report.errors.every((e) => e.error.length > 0)).toBe(true);
      // The ghost ONGOING row of the test above is still found from the database alone.
      expect(report.stuck.some((f) => f.kind === 'booking_not_ended')).toBe(true);
    } finally {
      // Let the gRPC retries that ran into their deadlines finish before the channel goes.
      await sleep(2000);
      await connection.close().catch(() => undefined);
    }
  });
});
