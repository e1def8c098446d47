// Connect exact by construction: a connect at or after startsAt succeeds even when the start's timer
// has not been processed yet. The workflow takes the due start first, within the same update, recorded
// with its scheduled time; GET /v1/bookings/:id says connectAllowed by the clock too. The benchmark
// (bench/bookings.ts) runs the same at 200 and 2,000 bookings; this is the small, deterministic size.
import { bookingBody, eventually, sleep, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'connect-at-start', workers: ['bookings'], settings: { earlyWakeMs: 0 }, updateTimeoutMs: 20_000 });
});
afterAll(() => stack?.stop());

/** n bookings on their own cars, all starting at the same instant `startInMs` from now. */
async function createSharingStart(n: number, startInMs: number) {
  const startsAt = new Date(Date.now() + startInMs).toISOString();
  const bodies = Array.from({ length: n }, () => {
    const b = bookingBody({}, startInMs, 60 * 60_000);
    return { ...b, startsAt, endsAt: new Date(Date.parse(startsAt) + 60 * 60_000).toISOString() };
  });
  for (const b of bodies) await stack.api().post('/v1/bookings', b).expect(201);
  return { bodies, startsAtMs: Date.parse(startsAt) };
}

/** Waits until every booking's workflow has armed its start timer (its first task is done). */
async function timersArmed(ids: string[]): Promise<void> {
  await eventually(async () => {
    for (const id of ids) {
      const h = await stack.client.workflow.getHandle(`booking-${id}`).fetchHistory();
      if (!(h.events ?? []).some((e) => e.timerStartedEventAttributes)) return false;
    }
    return true;
  }, 60_000, 200);
}

async function eventsOf(bookingId: string) {
  return stack.db.bookingEvent.findMany({ where: { bookingId }, orderBy: { occurredAt: 'asc' } });
}

test('20 bookings sharing one startsAt, connect sent 250 ms after it: 20 of 20 accepted', async () => {
  const { bodies, startsAtMs } = await createSharingStart(20, 8_000);
  await timersArmed(bodies.map((b) => b.bookingId));
  await sleep(Math.max(0, startsAtMs + 250 - Date.now()));
  const answers = await Promise.all(bodies.map((b) => stack.api().post(`/v1/bookings/${b.bookingId}/connect`)));
  expect(answers.map((a) => `${a.status} ${a.body.status}`)).toEqual(bodies.map(() => '200 ONGOING'));
  for (const b of bodies) {
    const events = await eventsOf(b.bookingId);
    const start = events.find((e) => e.action === 'start');
    // The start is recorded as due at startsAt, whether the timer or the connect took it.
    expect(start?.scheduledAt?.getTime()).toBe(startsAtMs);
    expect(events.filter((e) => e.action === 'connect')).toHaveLength(1);
  }
});

test('with the start timer fired but not yet processed (no worker), a connect takes the due start first, then connects', async () => {
  const { bodies, startsAtMs } = await createSharingStart(5, 6_000);
  await timersArmed(bodies.map((b) => b.bookingId));
  const id = bodies[0].bookingId;

  // Before startsAt the gate is closed, by the row and by the clock.
  const before = await stack.api().get(`/v1/bookings/${id}`).expect(200);
  expect(before.body).toMatchObject({ status: 'CONFIRMED', connectAllowed: false });

  await stack.stopWorkers();
  let restarted = false;
  try {
    // The timers fire on the server; nobody processes them.
    await sleep(Math.max(0, startsAtMs + 1_000 - Date.now()));
    const byClock = await stack.api().get(`/v1/bookings/${id}`).expect(200);
    expect(byClock.body).toMatchObject({ status: 'CONFIRMED', connectAllowed: true });
    for (const b of bodies) {
      const h = await stack.client.workflow.getHandle(`booking-${b.bookingId}`).fetchHistory();
      expect((h.events ?? []).some((e) => e.timerFiredEventAttributes)).toBe(true);
    }
    // The connects wait for a worker; the first workflow task it runs holds the fired timer and the update.
    const pending = bodies.map((b) => stack.api().post(`/v1/bookings/${b.bookingId}/connect`).then((r) => r));
    await sleep(300);
    restarted = true;
    await stack.startWorkers();
    const answers = await Promise.all(pending);
    expect(answers.map((a) => `${a.status} ${a.body.status}`)).toEqual(bodies.map(() => '200 ONGOING'));
  } finally {
    if (!restarted) await stack.startWorkers();
  }
  for (const b of bodies) {
    const events = await eventsOf(b.bookingId);
    expect(events.map((e) => e.action)).toEqual(['create', 'start', 'connect']);
    expect(events[1].scheduledAt?.getTime()).toBe(startsAtMs);
    expect(events[1].actor).toBe('system');
    // Written once: the timer, processed after the connect, finds the booking started.
    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: b.bookingId } });
    expect(row).toMatchObject({ status: 'ONGOING' });
    expect(row.connectedAt).toBeTruthy();
  }
});

test('with the start due but unprocessed, a cancel is refused: by the clock the booking has started', async () => {
  const { bodies, startsAtMs } = await createSharingStart(1, 6_000);
  const id = bodies[0].bookingId;
  await timersArmed([id]);
  await stack.stopWorkers();
  let restarted = false;
  let answer;
  try {
    await sleep(Math.max(0, startsAtMs + 1_000 - Date.now()));
    const pending = stack.api().post(`/v1/bookings/${id}/cancel`, { reason: 'too late' }).then((r) => r);
    await sleep(300);
    restarted = true;
    await stack.startWorkers();
    answer = await pending;
  } finally {
    if (!restarted) await stack.startWorkers();
  }
  expect(answer.status).toBe(409);
  expect(answer.body.error).toMatchObject({ code: 'INVALID_TRANSITION' });
  expect(answer.body.error.message).toMatch(/only before it starts \(it is ONGOING\)/);
  await eventually(async () => (await stack.db.booking.findUnique({ where: { id } }))?.status === 'ONGOING', 30_000);
  expect((await eventsOf(id)).map((e) => e.action)).toEqual(['create', 'start']);
});
