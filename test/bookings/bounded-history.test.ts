// A booking's history stays bounded however often the car is connected: a connect while connected is
// answered from state (no write, no timer restart), and a run whose history passes
// DEFAULT_CONTINUE_AS_NEW_EVENTS continues as new with its state. 3,000 connects on one booking, through
// the API, and its timers still fire: it goes OVERDUE at its end and completes when returned.
import type { temporal } from '@temporalio/proto';
import { DEFAULT_CONTINUE_AS_NEW_EVENTS, type BookingView } from '../../workflows/booking-messages';
import { bookingBody, eventually, startStack, type Stack } from '../helpers/stack';

const CONNECTS = 3000;
const CONCURRENCY = 8;
/**
 * Events per run, at most: the continue-as-new threshold, plus what arrives in the workflow task that
 * crosses it (each of the <= CONCURRENCY updates in flight adds its accepted and completed events),
 * plus the task's own events, a cancelled timer and the continue-as-new event.
 */
const BOUND = DEFAULT_CONTINUE_AS_NEW_EVENTS + 100;

let stack: Stack;
beforeAll(async () => {
  // A generous update deadline: 3,000 updates on a loaded 2-core machine must not time out into 503s.
  stack = await startStack({ name: 'bounded-history', updateTimeoutMs: 30_000 });
});
afterAll(() => stack?.stop());

const statusOf = async (id: string) => (await stack.api('viewer').get(`/v1/bookings/${id}`).expect(200)).body.status as string;

/** Every run of the workflow, newest first, with its history length: followed back through continue-as-new. */
async function runsOf(workflowId: string): Promise<Array<{ runId: string; events: number; closedBy: string | undefined }>> {
  const runs = [];
  let runId: string | undefined = (await stack.client.workflow.getHandle(workflowId).describe()).runId;
  while (runId) {
    const events: temporal.api.history.v1.IHistoryEvent[] = (await stack.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const last = events.at(-1);
    runs.push({ runId, events: events.length, closedBy: last && Object.keys(last).find((k) => k.startsWith('workflowExecution') && k.endsWith('Attributes')) });
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs;
}

test(`${CONNECTS} connects on one booking: every one answered, history bounded per run, then OVERDUE at its end and COMPLETED when returned`, async () => {
  // The end leaves room for the connects to be sent before it on an idle machine; on a loaded one
  // OVERDUE comes during them, which a connect allows too.
  const body = bookingBody({}, 2000, 60_000);
  await stack.api().post('/v1/bookings', body).expect(201);
  await eventually(async () => (await statusOf(body.bookingId)) === 'ONGOING', 60_000, 100);

  let next = 0;
  const refused: string[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < CONNECTS) {
      next++;
      const res = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`);
      if (res.status !== 200 || !res.body.connectAllowed) refused.push(`${res.status} ${JSON.stringify(res.body)}`);
    }
  }));
  expect(refused).toEqual([]);

  await eventually(async () => (await statusOf(body.bookingId)) === 'OVERDUE', 120_000, 200);
  const returned = await stack.api().post(`/v1/bookings/${body.bookingId}/return`).expect(200);
  expect(returned.body.status).toBe('COMPLETED');
  const final: BookingView = await stack.client.workflow.getHandle(`booking-${body.bookingId}`).result();
  expect(final).toMatchObject({ status: 'COMPLETED', pendingWrites: 0 });
  // The state survived every continue-as-new: one entry per change, the connect recorded once.
  expect(final.history.map((h) => h.action)).toEqual(['start', 'connect', 'overdue', 'return']);

  const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId }, include: { events: { orderBy: { id: 'asc' } } } });
  expect(row).toMatchObject({ status: 'COMPLETED', version: 5 });
  expect(row.events.map((e) => e.action)).toEqual(['create', 'start', 'connect', 'overdue', 'return']);

  const runs = await runsOf(`booking-${body.bookingId}`);
  const total = runs.reduce((n, r) => n + r.events, 0);
  process.stderr.write(`[bounded-history] ${runs.length} runs, ${total} events in all, longest run ${Math.max(...runs.map((r) => r.events))} (bound ${BOUND})\n`);
  // Each connect costs at least its update's accepted and completed events: 6,000 and more, beyond one
  // run's bound, so the history did continue as new, and each run stayed within it.
  expect(runs.length).toBeGreaterThan(1);
  for (const r of runs) expect(r.events).toBeLessThanOrEqual(BOUND);
  expect(runs[0].closedBy).toBe('workflowExecutionCompletedEventAttributes');
  for (const r of runs.slice(1)) expect(r.closedBy).toBe('workflowExecutionContinuedAsNewEventAttributes');
}, 600_000);
