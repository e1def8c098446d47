// The booking clock's early wake (KEEL_TIMER_EARLY_WAKE): with a lead set, the workflow wakes that long
// before the start and arms a short final timer, visible in the history as "(early wake)"; with 0 it
// arms one timer. Either way the start lands at startsAt, never before it, and is recorded as due then.
// How late it lands under load is measured by the benchmark (bench/bookings.ts), not asserted here.
import { bookingBody, eventually, startStack, type Stack } from '../helpers/stack';

/** Timer summaries of a workflow's history, in order. */
async function timerSummaries(stack: Stack, workflowId: string): Promise<string[]> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const converter = stack.client.options.loadedDataConverter.payloadConverter;
  return (history.events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => (e.userMetadata?.summary ? String(converter.fromPayload(e.userMetadata.summary)) : ''));
}

async function startOnce(stack: Stack): Promise<{ timers: string[]; startsAt: number; occurredAt: number; scheduledAt?: number }> {
  // startsAt well ahead: the early wake needs more than twice its lead left when the first workflow task
  // runs, which on a busy machine can be seconds after the request.
  const body = bookingBody({}, 10_000, 60_000);
  await stack.api().post('/v1/bookings', body).expect(201);
  const started = await eventually(
    () => stack.db.bookingEvent.findFirst({ where: { bookingId: body.bookingId, action: 'start' } }),
    30_000, 50,
  );
  return {
    timers: await timerSummaries(stack, `booking-${body.bookingId}`),
    startsAt: Date.parse(body.startsAt),
    occurredAt: started.occurredAt.getTime(),
    scheduledAt: started.scheduledAt?.getTime(),
  };
}

for (const earlyWakeMs of [1500, 0]) {
  describe(`earlyWakeMs ${earlyWakeMs}`, () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ name: `early-${earlyWakeMs}`, workers: ['bookings'], settings: { earlyWakeMs } });
    });
    afterAll(() => stack?.stop());

    test(earlyWakeMs ? 'wakes early, arms a short final timer, starts at startsAt (not before)' : 'one timer to the start, starts at startsAt (not before)', async () => {
      const { timers, startsAt, occurredAt, scheduledAt } = await startOnce(stack);
      const startTimers = timers.filter((t) => t.startsWith('start -> ONGOING'));
      expect(startTimers).toEqual(earlyWakeMs ? ['start -> ONGOING (early wake)', 'start -> ONGOING'] : ['start -> ONGOING']);
      expect(occurredAt).toBeGreaterThanOrEqual(startsAt);
      expect(scheduledAt).toBe(startsAt);
    });
  });
}
