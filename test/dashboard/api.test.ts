// GET /v1/dashboard through the real API, workflows and PostgreSQL: it equals the naive recount after
// a randomised run of bookings (created, cancelled, started, connected, returned, no-shows, overdue,
// overlapping OVERDUE and ONGOING bookings of one car) with retried transition writes; the hourly
// schedule's reconciliation corrects tampered rows and says so; auth, roles and bad input.
import { randomInt } from 'node:crypto';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { applyBookingChange } from '../../db/booking-store';
import { recomputeDashboard, type Dashboard } from '../../db/dashboard-store';
import type { BookingAction, BookingStatus } from '../../domain/booking';
import { DASHBOARD_RECONCILE_SCHEDULE_ID, ensureSchedules } from '../../workers/schedules';
import { loadRunbooks } from '../../runbooks/load';
import { DEFAULT_CAMPAIGN_SETTINGS, TEST_COMPONENTS, bookingBody, eventually, startStack, uid, type Stack } from '../helpers/stack';

const TZ = 'Europe/Paris';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'dashboard', settings: { noShowGraceMs: 30_000 } });
});
afterAll(async () => {
  await stack?.client.schedule.getHandle(`${stack.prefix}-${DASHBOARD_RECONCILE_SCHEDULE_ID}`).delete().catch(() => undefined);
  await stack?.stop();
});

async function statusOf(id: string): Promise<BookingStatus> {
  return (await stack.db.booking.findUniqueOrThrow({ where: { id }, select: { status: true } })).status;
}
const waitFor = (id: string, status: BookingStatus, timeoutMs = 45_000) => eventually(async () => (await statusOf(id)) === status, timeoutMs, 50);

function withoutTimes(d: Dashboard & { lastReconciliation?: unknown }) {
  const { asOf: _a, lastReconciliation: _l, ...rest } = d;
  return rest;
}

async function expectDashboardEqualsRecount() {
  const res = await stack.api('viewer').get('/v1/dashboard').expect(200);
  const truth = await recomputeDashboard(stack.db, { timeZone: TZ, now: new Date(res.body.asOf) });
  expect(withoutTimes(res.body)).toEqual(withoutTimes(truth));
  return res.body as Dashboard;
}

/** A 200, or an error that says what the booking went through (timers can be late on a busy machine). */
async function expectOk(t: import('supertest').Test, id: string) {
  const r = await t;
  if (r.status === 200) return;
  const ev = await stack.db.bookingEvent.findMany({ where: { bookingId: id }, orderBy: { id: 'asc' } });
  throw new Error(`${r.status} ${JSON.stringify(r.body)}; events: ${ev.map((e) => `${e.action}@${e.occurredAt.toISOString()}`).join(' ')}`);
}

type Plan = 'confirmed' | 'cancel' | 'no_show' | 'return' | 'overdue' | 'overdue_return' | 'ongoing';
const PLANS: Plan[] = ['confirmed', 'cancel', 'no_show', 'return', 'overdue', 'overdue_return', 'ongoing'];

/** Drives one booking through its plan via the API; the clock (workflow timers) does the rest. */
async function drive(plan: Plan, over: Record<string, unknown> = {}, startInMs = 800 + randomInt(1500)): Promise<{ id: string; final: BookingStatus }> {
  // Generous margins: on a loaded 2-core machine a timer can fire seconds late. A booking never
  // connected becomes NO_SHOW at its end (before the 30 s grace).
  const durations: Record<Plan, number> = { confirmed: 0, cancel: 0, no_show: 4000, return: 60_000, overdue: 8000, overdue_return: 8000, ongoing: 120_000 };
  const body = plan === 'confirmed' || plan === 'cancel'
    ? bookingBody(over, 3600_000 + randomInt(3600_000))
    : bookingBody(over, startInMs, durations[plan]);
  body.amountCents = randomInt(100, 50_000);
  body.currency = ['EUR', 'EUR', 'USD', 'CHF'][randomInt(4)];
  await stack.api().post('/v1/bookings', body).expect(201);
  const id = body.bookingId;
  const api = stack.api();
  switch (plan) {
    case 'confirmed':
      return { id, final: 'CONFIRMED' };
    case 'cancel':
      await api.post(`/v1/bookings/${id}/cancel`, { reason: 'plans changed' }).expect(200);
      return { id, final: 'CANCELLED' };
    case 'no_show':
      await waitFor(id, 'NO_SHOW');
      return { id, final: 'NO_SHOW' };
    case 'ongoing':
    case 'return':
      await waitFor(id, 'ONGOING');
      await expectOk(api.post(`/v1/bookings/${id}/connect`), id);
      if (plan === 'ongoing') return { id, final: 'ONGOING' };
      await api.post(`/v1/bookings/${id}/return`).expect(200);
      return { id, final: 'COMPLETED' };
    case 'overdue':
    case 'overdue_return':
      await waitFor(id, 'ONGOING');
      await expectOk(api.post(`/v1/bookings/${id}/connect`), id);
      await waitFor(id, 'OVERDUE');
      if (plan === 'overdue') return { id, final: 'OVERDUE' };
      await api.post(`/v1/bookings/${id}/return`).expect(200);
      return { id, final: 'COMPLETED' };
  }
}

describe('GET /v1/dashboard', () => {
  test('equals a fresh recount after a randomised run through the API and workflows, retried writes included', async () => {
    const runs: Array<Promise<{ id: string; final: BookingStatus }>> = [];
    for (let i = 0; i < 14; i++) runs.push(drive(PLANS[i % PLANS.length]));
    for (let i = 0; i < 6; i++) runs.push(drive(PLANS[randomInt(PLANS.length)]));
    // One car, an OVERDUE booking and the next one ONGOING at the same time: one active car.
    const car = uid('car');
    const first = bookingBody({ carId: car }, 800, 8000);
    const overdue = drive('overdue', { carId: car, startsAt: first.startsAt, endsAt: first.endsAt });
    const ongoing = drive('ongoing', { carId: car }, Date.parse(first.endsAt) - Date.now() + 200);
    runs.push(overdue, ongoing);
    const settled = await Promise.allSettled(runs);
    const failed = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    expect(failed).toEqual([]);
    const results = settled.map((s) => (s as PromiseFulfilledResult<{ id: string; final: BookingStatus }>).value);
    for (const r of results) expect(await statusOf(r.id)).toBe(r.final);
    const dash = await expectDashboardEqualsRecount();
    expect(dash.bookingsByStatus).toMatchObject({ CONFIRMED: expect.any(Number) });
    for (const s of ['CONFIRMED', 'ONGOING', 'OVERDUE', 'COMPLETED', 'CANCELLED', 'NO_SHOW'] as const) expect(dash.bookingsByStatus[s]).toBeGreaterThan(0);
    expect(await stack.db.dashboardCarActivity.findUnique({ where: { carId: car } })).toEqual({ carId: car, active: 2 });
    const expectedRevenue = await stack.db.booking.aggregate({ where: { status: { not: 'CANCELLED' }, currency: 'EUR' }, _sum: { amountCents: true } });
    expect(dash.revenueToday.byCurrency.EUR.amountCents).toBe(expectedRevenue._sum.amountCents);
    expect(dash.revenueToday).toMatchObject({ timeZone: TZ, date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });

    // Every transition written again with its own key, as a retried or duplicated activity would:
    // nothing moves.
    const events = await stack.db.bookingEvent.findMany({ where: { action: { not: 'create' } }, orderBy: { id: 'asc' } });
    expect(events.length).toBeGreaterThan(20);
    // A booking's n-th change after its creation was written at version n (each change adds one).
    const seen = new Map<string, number>();
    const again = await Promise.all(events.map((e) => {
      const expectedVersion = (seen.get(e.bookingId) ?? 0) + 1;
      seen.set(e.bookingId, expectedVersion);
      return applyBookingChange(stack.workerDb, {
        actor: e.actor, bookingId: e.bookingId, transitionKey: e.transitionKey, action: e.action as BookingAction,
        from: e.fromStatus!, expectedVersion, to: e.toStatus,
      });
    }));
    expect(again.every((r) => r.outcome === 'already_applied')).toBe(true);
    const after = await expectDashboardEqualsRecount();
    expect(withoutTimes(after)).toEqual(withoutTimes(dash));
    // A second identical POST of a booking is answered as a duplicate and counts nothing either.
    const dup = bookingBody({}, 3600_000);
    await stack.api().post('/v1/bookings', dup).expect(201);
    await stack.api().post('/v1/bookings', dup).expect(200);
    const withDup = await expectDashboardEqualsRecount();
    expect(withDup.bookingsByStatus.CONFIRMED).toBe(dash.bookingsByStatus.CONFIRMED + 1);
  }, 150_000);

  test('the hourly schedule reconciles: tampered rows are corrected and the drift reported', async () => {
    expect(await ensureSchedules(stack.client, stack.prefix, [DASHBOARD_RECONCILE_SCHEDULE_ID])).toEqual([DASHBOARD_RECONCILE_SCHEDULE_ID]);
    const handle = stack.client.schedule.getHandle(`${stack.prefix}-${DASHBOARD_RECONCILE_SCHEDULE_ID}`);
    const described = await handle.describe();
    expect(described.spec.intervals?.[0].every).toBe(3600_000);
    expect(described.action).toMatchObject({ workflowType: 'dashboardReconcileWorkflow', taskQueue: `${stack.prefix}-ops` });
    await expectDashboardEqualsRecount();

    await stack.db.$executeRaw`UPDATE dashboard_counters SET value = value - 3 WHERE metric = 'bookings.COMPLETED' AND shard = 5`;
    await stack.db.$executeRaw`UPDATE dashboard_counters SET value = value + 1 WHERE metric = 'cars.active' AND shard = 2`;
    const wrong = await stack.api('viewer').get('/v1/dashboard').expect(200);
    const truth = await recomputeDashboard(stack.db, { timeZone: TZ });
    expect(wrong.body.bookingsByStatus.COMPLETED).toBe(truth.bookingsByStatus.COMPLETED - 3);
    expect(wrong.body.activeCars).toBe(truth.activeCars + 1);

    const before = await stack.db.dashboardReconciliation.count();
    await handle.trigger();
    const rec = await eventually(async () => stack.db.dashboardReconciliation.findFirst({ where: { id: { gt: 0 } }, orderBy: { id: 'desc' }, skip: 0 })
      .then((r) => (r && (before === 0 || Number(r.id) > before) ? r : undefined)), 30_000, 200);
    expect(rec.corrected).toBe(2);
    expect(rec.drift).toMatchObject({ bookingsByStatus: { COMPLETED: 3 }, activeCars: -1, carRows: 0, revenue: {} });
    expect(rec.workflowId).toMatch(new RegExp(`^${stack.prefix}-${DASHBOARD_RECONCILE_SCHEDULE_ID}`));
    // The workflow's result carries the same report.
    const result = await stack.client.workflow.getHandle(rec.workflowId!).result();
    expect(result).toMatchObject({ corrected: 2, drift: { bookingsByStatus: { COMPLETED: 3 }, activeCars: -1 } });
    const fixed = await expectDashboardEqualsRecount();
    const res = await stack.api('viewer').get('/v1/dashboard').expect(200);
    expect(res.body.lastReconciliation).toEqual({ at: expect.any(String), corrected: 2 });
    expect(fixed.activeCars).toBe(truth.activeCars);
  });

  test('an operator can reconcile now; other roles cannot; bad bodies are refused', async () => {
    const ok = await stack.api('operator').post('/v1/dashboard/reconcile', {}).expect(200);
    expect(ok.body).toMatchObject({ workflowId: `${stack.prefix}-dashboard-reconcile-manual`, report: { corrected: 0 } });
    const full = await stack.api('operator').post('/v1/dashboard/reconcile', { revenueSince: '1970-01-01T00:00:00Z' }).expect(200);
    expect(full.body.report).toMatchObject({ corrected: 0, revenueSince: '1970-01-01T00:00:00.000Z' });
    for (const role of ['viewer', 'service', 'commander'] as const) {
      const r = await stack.api(role).post('/v1/dashboard/reconcile', {}).expect(403);
      expect(r.body.error.code).toBe('FORBIDDEN');
    }
    const bad = await stack.api('operator').post('/v1/dashboard/reconcile', { revenueSince: 'yesterday' }).expect(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: { fields: [{ field: 'revenueSince' }] } });
    const extra = await stack.api('operator').post('/v1/dashboard/reconcile', { full: true }).expect(400);
    expect(extra.body.error.code).toBe('VALIDATION_FAILED');
    await stack.api(null).post('/v1/dashboard/reconcile', {}).expect(401);
  });

  test('a reconciliation that outlasts the wait answers 202 with its workflow id, and its start is counted', async () => {
    // An API whose wait is shorter than any run (a real one takes a worker round trip).
    const app = createApp({
      db: stack.db, client: stack.client, logger: pino({ level: 'silent' }), apiKeys: `operator:${stack.keys.operator}`,
      workflows: { taskQueuePrefix: stack.prefix, settings: { noShowGraceMs: 30_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
      incidents: { components: TEST_COMPONENTS, runbooks: loadRunbooks() }, campaigns: DEFAULT_CAMPAIGN_SETTINGS,
      reconcileWaitMs: 1,
    });
    const starts = async () => {
      const m = /^keel_workflow_starts_total\{workflow="dashboardReconcileWorkflow"\} (\S+)$/m.exec((await request(app).get('/metrics').expect(200)).text);
      return m ? Number(m[1]) : 0;
    };
    const before = await starts();
    const res = await request(app).post('/v1/dashboard/reconcile').set('Authorization', `Bearer ${stack.keys.operator}`).send({}).expect(202);
    expect(res.body).toEqual({ workflowId: `${stack.prefix}-dashboard-reconcile-manual`, status: 'running' });
    expect(await starts()).toBe(before + 1);
    const report = await stack.client.workflow.getHandle(res.body.workflowId).result();
    expect(report).toMatchObject({ corrected: 0 });
    const after = await stack.api('viewer').get('/v1/dashboard').expect(200);
    expect(after.body.lastReconciliation).toEqual({ at: expect.any(String), corrected: 0 });
  });

  test('every role may read it; no key or an unknown key is 401', async () => {
    for (const role of ['viewer', 'service', 'operator', 'commander'] as const) {
      const r = await stack.api(role).get('/v1/dashboard').expect(200);
      expect(r.body).toEqual({
        activeCars: expect.any(Number),
        bookingsByStatus: { CONFIRMED: expect.any(Number), ONGOING: expect.any(Number), OVERDUE: expect.any(Number), COMPLETED: expect.any(Number), CANCELLED: expect.any(Number), NO_SHOW: expect.any(Number) },
        revenueToday: { date: expect.any(String), timeZone: TZ, from: expect.any(String), to: expect.any(String), byCurrency: expect.any(Object) },
        runningCampaigns: 0,
        openIncidents: expect.any(Number),
        asOf: expect.any(String),
        lastReconciliation: expect.anything(),
      });
      expect(r.headers['cache-control']).toBe('no-store');
    }
    const none = await stack.api(null).get('/v1/dashboard').expect(401);
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    await stack.api(null).get('/v1/dashboard').set('Authorization', 'Bearer not-a-key-of-this-keel-0000').expect(401);
  });

  test('another time zone may be asked for; bad query parameters are 400, never 5xx', async () => {
    const ny = await stack.api('viewer').get('/v1/dashboard?timeZone=America/New_York').expect(200);
    expect(ny.body.revenueToday.timeZone).toBe('America/New_York');
    const truth = await recomputeDashboard(stack.db, { timeZone: 'America/New_York', now: new Date(ny.body.asOf) });
    expect(ny.body.revenueToday).toEqual(truth.revenueToday);
    for (const q of ['timeZone=Mars/Base', 'timeZone=', 'timeZone=Europe/Paris&timeZone=UTC', 'timeZone[a]=1', 'since=yesterday', `timeZone=${'x'.repeat(500)}`]) {
      const r = await stack.api('viewer').get(`/v1/dashboard?${q}`);
      expect([q, r.status]).toEqual([q, 400]);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
    }
    await stack.api('viewer').get('/v1/dashboard/nope').expect(404);
  });
});
