// The automated incident checks against the real PostgreSQL and the real Temporal dev server: ok in a
// healthy setup, and a clear fail/warn result (never an exception, and bounded by the call deadline,
// never a hang) when something is wrong.
import net from 'node:net';
import { Connection, type Client, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import { createCheckActivities, DEFAULT_CHECK_THRESHOLDS, type CheckDeps } from '../../activities/checks';
import { createDb, type Db } from '../../db/client';
import { CHECK_NAMES, type CheckName, type CheckResult } from '../../domain/incident';
import { TASK_QUEUES, taskQueue } from '../../domain/task-queues';
import type { bookingWorkflow } from '../../workflows/booking';
import { createTestDatabase } from '../helpers/database';
import { eventually, sleep, uid, workflowBundle } from '../helpers/stack';
import { testClient, testTemporalAddress, uniquePrefix } from '../helpers/temporal';

const MIN = 60_000;

let database: { url: string; drop(): Promise<void> };
let db: Db;
let client: Client;
let connection: Connection;
let closeClient: () => Promise<void>;
let native: NativeConnection;
const prefix = uniquePrefix('checks');
const workers: Worker[] = [];
const running: Promise<void>[] = [];
const closers: (() => Promise<unknown>)[] = [];

/** A worker polling `queue` for workflow tasks (with the real bundle) and/or activity tasks. */
async function startWorker(queue: string, polls: { workflows: boolean; activities: boolean }): Promise<void> {
  const worker = await Worker.create({
    connection: native,
    namespace: 'default',
    taskQueue: queue,
    identity: `checks-test@${queue}`,
    ...(polls.workflows ? { workflowBundle: await workflowBundle() } : {}),
    ...(polls.activities ? { activities: { async keelChecksTestNoop() {} } } : {}),
  });
  workers.push(worker);
  running.push(worker.run());
}

beforeAll(async () => {
  try {
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
    });
  } catch {
    // already installed in this jest worker
  }
  database = await createTestDatabase();
  db = createDb(database.url);
  ({ client, connection, close: closeClient } = await testClient());
  native = await NativeConnection.connect({ address: testTemporalAddress() });
  // Every queue Keel has, polled for the task types its real worker polls.
  await startWorker(taskQueue('bookings', prefix), { workflows: true, activities: true });
  await startWorker(taskQueue('notifications', prefix), { workflows: false, activities: true });
  await startWorker(taskQueue('incidents', prefix), { workflows: true, activities: true });
  await startWorker(taskQueue('ops', prefix), { workflows: true, activities: true });
}, 60_000);

afterAll(async () => {
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  await Promise.allSettled(running);
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await native?.close();
  await closeClient?.();
  await db?.$disconnect();
  await database?.drop();
});

function checks(over: Partial<CheckDeps> = {}) {
  return createCheckActivities({ db, connection, namespace: 'default', taskQueuePrefix: prefix, ...over });
}

async function timed(p: Promise<CheckResult>): Promise<CheckResult & { tookMs: number }> {
  const started = Date.now();
  const r = await p;
  return { ...r, tookMs: Date.now() - started };
}

describe('a healthy setup', () => {
  test.each(CHECK_NAMES)('%s is ok', async (name) => {
    const c = checks();
    // Pollers register with the server within a moment of the workers starting.
    const result = await eventually(async () => {
      const r = await c.runCheck(name);
      return r.status === 'ok' && r;
    }, 15_000, 250).catch(async () => c.runCheck(name));
    expect(result).toMatchObject({ check: name, status: 'ok' });
    expect(result.summary.length).toBeGreaterThan(5);
    expect(Date.parse(result.checkedAt)).not.toBeNaN();
    expect(JSON.parse(JSON.stringify(result))).toEqual(result); // crosses Temporal as JSON unchanged
  });

  test('evidence: latencies, server version, pollers per queue', async () => {
    const c = checks();
    expect((await c.runCheck('database')).evidence).toEqual({ latencyMs: expect.any(Number) });
    expect((await c.runCheck('temporal')).evidence).toMatchObject({ serverVersion: expect.stringMatching(/^\d+\.\d+/), latencyMs: expect.any(Number), namespaceState: 'registered' });
    const pollers = await c.runCheck('pollers');
    const queues = pollers.evidence.queues as { taskQueue: string; type: string; pollers: number; identities: string[] }[];
    expect(queues.map((q) => `${q.taskQueue}/${q.type}`)).toEqual([
      `${prefix}-bookings/workflow`, `${prefix}-bookings/activity`, `${prefix}-notifications/activity`,
      `${prefix}-incidents/workflow`, `${prefix}-incidents/activity`, `${prefix}-ops/workflow`, `${prefix}-ops/activity`,
    ]);
    for (const q of queues) {
      expect(q.pollers).toBeGreaterThan(0);
      expect(q.identities).toContain(`checks-test@${q.taskQueue}`);
    }
  });
});

describe('bookings_not_started', () => {
  async function insertBooking(status: 'CONFIRMED' | 'ONGOING', startsAt: Date): Promise<string> {
    const id = uid('bk');
    await db.booking.create({
      data: {
        id, customerId: uid('cust'), carId: uid('car'), startsAt, endsAt: new Date(startsAt.getTime() + 60 * MIN),
        amountCents: 4200, currency: 'EUR', status, requestHash: 'x'.repeat(64), workflowId: `booking-${id}`,
      },
    });
    return id;
  }

  afterEach(async () => {
    await db.booking.deleteMany({});
  });

  test('fails for a CONFIRMED booking 5 minutes past its start, naming it', async () => {
    const stuck = await insertBooking('CONFIRMED', new Date(Date.now() - 5 * MIN));
    await insertBooking('CONFIRMED', new Date(Date.now() - 1 * MIN)); // within the 2 minutes grace
    await insertBooking('ONGOING', new Date(Date.now() - 10 * MIN)); // started: fine
    await insertBooking('CONFIRMED', new Date(Date.now() + 10 * MIN)); // future: fine
    const r = await checks().runCheck('bookings_not_started');
    expect(r).toMatchObject({
      check: 'bookings_not_started',
      status: 'fail',
      evidence: { count: 1, ids: [stuck], graceMs: 2 * MIN },
    });
    expect(r.summary).toContain(stuck);
    expect(r.summary).toMatch(/^1 confirmed booking should have started/);
    expect(Date.parse(r.evidence.oldestStartsAt as string)).toBeLessThan(Date.now() - 4 * MIN);
  });

  test('lists at most 20 ids, oldest first, and says how many more', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) ids.push(await insertBooking('CONFIRMED', new Date(Date.now() - (30 - i) * MIN)));
    const r = await checks().runCheck('bookings_not_started');
    expect(r.status).toBe('fail');
    expect(r.evidence.count).toBe(23);
    expect(r.evidence.ids).toEqual(ids.slice(0, 20));
    expect(r.summary).toMatch(/and 3 more$/);
  });

  test('the grace period is configurable', async () => {
    await insertBooking('CONFIRMED', new Date(Date.now() - 5 * MIN));
    expect((await checks({ thresholds: { bookingStartGraceMs: 10 * MIN } }).runCheck('bookings_not_started')).status).toBe('ok');
  });
});

describe('pollers', () => {
  test('fails, listing every queue, when no worker polls a prefix', async () => {
    const other = uniquePrefix('checks-nobody');
    const r = await timed(checks({ taskQueuePrefix: other }).runCheck('pollers'));
    expect(r.status).toBe('fail');
    for (const q of TASK_QUEUES) expect(r.summary).toContain(`${other}-${q}`);
    expect(r.summary).toContain('never seen');
    expect((r.evidence.queues as { pollers: number }[]).every((q) => q.pollers === 0)).toBe(true);
    expect(r.summary).not.toMatch(/no answer within/); // an answer (nobody polls), not the deadline
  });

  test('fails when a queue is polled only by a worker that stopped', async () => {
    const half = uniquePrefix('checks-half');
    await startWorker(taskQueue('bookings', half), { workflows: true, activities: true });
    await startWorker(taskQueue('incidents', half), { workflows: true, activities: true });
    await startWorker(taskQueue('ops', half), { workflows: true, activities: true });
    const notifications = taskQueue('notifications', half);
    await startWorker(notifications, { workflows: false, activities: true });
    const c = checks({ taskQueuePrefix: half });
    await eventually(async () => (await c.runCheck('pollers')).status === 'ok', 15_000, 250);

    const worker = workers[workers.length - 1];
    worker.shutdown();
    await running[running.length - 1];
    // The server remembers a stopped poller for minutes, with its last access time: seen from two
    // minutes later (injected clock), it is no longer counted.
    const later = checks({ taskQueuePrefix: half, now: () => new Date(Date.now() + 2 * MIN) });
    const r = await later.runCheck('pollers');
    expect(r.status).toBe('fail');
    expect(r.summary).toContain(`${notifications} (activity, last seen `);
  });

  test('a poller seen within the freshness window counts (the default allows for the ~1 min long poll)', () => {
    expect(DEFAULT_CHECK_THRESHOLDS.pollerFreshMs).toBeGreaterThanOrEqual(70_000);
  });
});

describe('notification_backlog', () => {
  test('warns, then fails, as reminders pile up on a notifications queue nobody polls', async () => {
    // Booking workflows (a real bookings worker) schedule their reminders at once on a notifications
    // queue without a worker: the tasks wait in Temporal, which is the backlog this check reads.
    const p = uniquePrefix('checks-backlog');
    await startWorker(taskQueue('bookings', p), { workflows: true, activities: false });
    const handles: WorkflowHandle[] = [];
    for (let i = 0; i < 3; i++) {
      const bookingId = uid('bk');
      const startsAt = new Date(Date.now() + 60 * MIN);
      handles.push(
        await client.workflow.start<typeof bookingWorkflow>('bookingWorkflow', {
          workflowId: `booking-${bookingId}`,
          taskQueue: taskQueue('bookings', p),
          args: [{
            bookingId, customerId: uid('cust'), carId: uid('car'), startsAt: startsAt.toISOString(),
            endsAt: new Date(startsAt.getTime() + 60 * MIN).toISOString(), amountCents: 100, currency: 'EUR',
            settings: { noShowGraceMs: 30 * MIN, remindersBeforeStartMs: [60 * MIN - 1_000], remindersBeforeEndMs: [], notificationsTaskQueue: taskQueue('notifications', p) },
          }],
        }),
      );
    }
    closers.push(() => Promise.all(handles.map((h) => h.terminate('test done').catch(() => undefined))));

    const strict = checks({ taskQueuePrefix: p, thresholds: { notificationBacklogWarnCount: 1, notificationBacklogFailCount: 3 } });
    const failed = await eventually(async () => {
      const r = await strict.runCheck('notification_backlog');
      return r.status === 'fail' && r;
    }, 30_000, 500);
    expect(failed.evidence).toMatchObject({ taskQueue: `${p}-notifications`, backlogCount: 3 });
    expect(failed.summary).toMatch(/^3 notifications waiting, oldest \d+ s$/);

    const lenient = checks({ taskQueuePrefix: p, thresholds: { notificationBacklogWarnCount: 2, notificationBacklogFailCount: 100 } });
    expect((await lenient.runCheck('notification_backlog')).status).toBe('warn');
    const byAge = checks({ taskQueuePrefix: p, thresholds: { notificationBacklogWarnAgeMs: 1, notificationBacklogFailAgeMs: 60 * MIN } });
    expect((await byAge.runCheck('notification_backlog')).status).toBe('warn');
    // The defaults tolerate a small, fresh backlog.
    expect((await checks({ taskQueuePrefix: p }).runCheck('notification_backlog')).status).toBe('ok');
  }, 60_000);
});

describe('api_error_rate', () => {
  // Each case uses its own hour so their rows never share a window.
  let hour = 0;
  async function caseAt(perMinute: [total: number, errors: number][], instance = 'api-1') {
    const at = new Date(Date.UTC(2026, 10, 26, ++hour, 4, 30));
    const firstMinute = Date.UTC(2026, 10, 26, hour, 0);
    await db.apiRequestStat.createMany({
      data: perMinute.map(([total, serverErrors], i) => ({ minute: new Date(firstMinute + i * MIN), instance, total, serverErrors })),
    });
    return checks({ now: () => at }).runCheck('api_error_rate');
  }

  test('ok below 1 %, warn below 5 %, fail from 5 %, over the last 5 minutes of every instance', async () => {
    expect(await caseAt([[100, 0], [100, 0], [100, 1], [100, 0], [100, 0]])).toMatchObject({
      status: 'ok', evidence: { total: 500, serverErrors: 1, windowMinutes: 5 },
    });
    const warn = await caseAt([[100, 1], [100, 1], [100, 1], [100, 1], [100, 1]]);
    expect(warn).toMatchObject({ status: 'warn', evidence: { total: 500, serverErrors: 5, errorRate: 0.01 } });
    expect(warn.summary).toBe('1.0% of 500 API requests answered 5xx in the last 5 min (5 errors)');
    expect(await caseAt([[100, 5], [100, 5], [100, 5], [100, 5], [100, 5]])).toMatchObject({ status: 'fail', evidence: { errorRate: 0.05 } });
  });

  test('rows older than the window do not count', async () => {
    // Minute 0 is 4.5 minutes before `now`; a row at minute -1 (here: the previous hour) is outside.
    const at = new Date(Date.UTC(2026, 10, 26, 20, 4, 30));
    await db.apiRequestStat.createMany({
      data: [
        { minute: new Date(Date.UTC(2026, 10, 26, 19, 59)), instance: 'api-old', total: 1000, serverErrors: 1000 },
        { minute: new Date(Date.UTC(2026, 10, 26, 20, 0)), instance: 'api-old', total: 100, serverErrors: 0 },
      ],
    });
    expect(await checks({ now: () => at }).runCheck('api_error_rate')).toMatchObject({ status: 'ok', evidence: { total: 100, serverErrors: 0 } });
  });

  test('sums instances and reports each', async () => {
    const at = new Date(Date.UTC(2026, 10, 26, 21, 2, 0));
    await db.apiRequestStat.createMany({
      data: [
        { minute: new Date(Date.UTC(2026, 10, 26, 21, 1)), instance: 'api-a', total: 50, serverErrors: 0 },
        { minute: new Date(Date.UTC(2026, 10, 26, 21, 2)), instance: 'api-b', total: 50, serverErrors: 10 },
      ],
    });
    const r = await checks({ now: () => at }).runCheck('api_error_rate');
    expect(r).toMatchObject({
      status: 'fail',
      evidence: { total: 100, serverErrors: 10, instances: [{ instance: 'api-a', total: 50, serverErrors: 0 }, { instance: 'api-b', total: 50, serverErrors: 10 }] },
    });
  });

  test('too few requests to judge is ok', async () => {
    const r = await caseAt([[10, 9]]);
    expect(r).toMatchObject({ status: 'ok', evidence: { total: 10, serverErrors: 9 } });
    expect(r.summary).toMatch(/^too few requests to judge/);
  });
});

describe('failures are results, bounded in time', () => {
  test('database: a closed port fails on the refusal, not at the deadline, without throwing', async () => {
    const closed = createDb('postgresql://keel@127.0.0.1:1/keel');
    closers.push(() => closed.$disconnect());
    const r = await timed(checks({ db: closed }).runCheck('database'));
    expect(r).toMatchObject({ check: 'database', status: 'fail', evidence: { latencyMs: expect.any(Number) } });
    expect(r.summary).toMatch(/^database unreachable: /);
    // The refused connection is reported as such (the server's answer), not as the 5 s deadline running out.
    expect(r.summary).not.toMatch(/no answer within/);
  });

  test('database: a server that accepts but never answers fails at the deadline', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const hung = createDb(`postgresql://keel@127.0.0.1:${(silent.address() as net.AddressInfo).port}/keel`);
    closers.push(() => hung.$disconnect());
    const c = checks({ db: hung, thresholds: { callTimeoutMs: 1_000 } });
    for (const name of ['database', 'bookings_not_started', 'api_error_rate'] as CheckName[]) {
      const r = await timed(c.runCheck(name));
      expect(r.status).toBe('fail');
      expect(r.summary).toMatch(/no answer within 1000 ms/);
      // It waited the deadline (not less) and then gave up; the upper bound only guards against a hang.
      expect(r.tookMs).toBeGreaterThanOrEqual(990);
      expect(r.tookMs).toBeLessThan(15_000);
    }
  });

  test('temporal, pollers and backlog: an unreachable server fails at the deadline, naming it', async () => {
    const nowhere = Connection.lazy({ address: '127.0.0.1:1' });
    // The client's gRPC retry may still have one timer pending after the deadline (its next attempt
    // then ends at once with DEADLINE_EXCEEDED); closing the channel under it would crash the test.
    closers.push(() => sleep(3_000).then(() => nowhere.close()));
    const c = checks({ connection: nowhere, thresholds: { callTimeoutMs: 1_000 } });
    for (const name of ['temporal', 'pollers', 'notification_backlog'] as CheckName[]) {
      const r = await timed(c.runCheck(name));
      expect(r).toMatchObject({ check: name, status: 'fail' });
      // The gRPC deadline (1 s) or the wait around it (1.5 s) ended it, and the summary says so; the upper
      // bound only guards against a hang.
      expect(r.summary).toMatch(/no answer within 1[05]00 ms/);
      expect(r.tookMs).toBeGreaterThanOrEqual(990);
      expect(r.tookMs).toBeLessThan(15_000);
    }
  });

  test('an unknown check name is a programming error and throws', async () => {
    await expect(checks().runCheck('disk' as CheckName)).rejects.toThrow(/unknown check "disk"/);
  });
});
