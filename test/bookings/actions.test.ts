// Booking actions are bounded and idempotent: the caller's Idempotency-Key is the Temporal update id,
// a retry answers the first result, another body under the same key is refused, and an action no
// worker takes in time answers 503 WORKER_UNAVAILABLE and is applied exactly once when a worker returns.
import { bookingBody, eventually, startStack, type Stack } from '../helpers/stack';
import { startWorkerProcess } from '../helpers/worker-process';

let stack: Stack;
const UPDATE_TIMEOUT_MS = 2000;
beforeAll(async () => {
  stack = await startStack({ name: 'actions', workers: ['bookings'], updateTimeoutMs: UPDATE_TIMEOUT_MS });
});
afterAll(() => stack?.stop());

const eventsOf = (bookingId: string, action: string) => stack.db.bookingEvent.count({ where: { bookingId, action } });

test('a repeated extend with one Idempotency-Key answers 200 twice with the same result and extends once', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  const endsAt = new Date(Date.parse(body.endsAt) + 30 * 60_000).toISOString();
  const first = await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt }).set('Idempotency-Key', 'ext-1').expect(200);
  const again = await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt }).set('Idempotency-Key', 'ext-1').expect(200);
  expect(again.body).toEqual(first.body);
  expect(first.body.endsAt).toBe(endsAt);
  expect(await eventsOf(body.bookingId, 'extend')).toBe(1);
  // Without the key the same body is a new request: refused, since the end is no longer later.
  const fresh = await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt }).expect(409);
  expect(fresh.body.error.code).toBe('INVALID_TRANSITION');
});

test('the same Idempotency-Key with another body answers 409 IDEMPOTENCY_CONFLICT and changes nothing', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  const endsAt = new Date(Date.parse(body.endsAt) + 30 * 60_000).toISOString();
  await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt }).set('Idempotency-Key', 'k-2').expect(200);
  const later = new Date(Date.parse(body.endsAt) + 60 * 60_000).toISOString();
  const other = await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt: later }).set('Idempotency-Key', 'k-2').expect(409);
  expect(other.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  const cancel = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, {}).set('Idempotency-Key', 'k-2').expect(409);
  expect(cancel.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  const now = await stack.api().get(`/v1/bookings/${body.bookingId}`).expect(200);
  expect(now.body).toMatchObject({ status: 'CONFIRMED', endsAt });
  expect(await eventsOf(body.bookingId, 'extend')).toBe(1);
});

test('a refused action frees its key: the same key may carry the corrected request', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  const refused = await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt: body.startsAt }).set('Idempotency-Key', 'k-3').expect(409);
  expect(refused.body.error.code).toBe('INVALID_TRANSITION');
  const endsAt = new Date(Date.parse(body.endsAt) + 30 * 60_000).toISOString();
  await stack.api().post(`/v1/bookings/${body.bookingId}/extend`, { endsAt }).set('Idempotency-Key', 'k-3').expect(200);
});

test('a malformed Idempotency-Key is a 400', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  const res = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, {}).set('Idempotency-Key', 'has spaces').expect(400);
  expect(res.body.error.code).toBe('VALIDATION_FAILED');
});

test('with the bookings worker down, cancel answers 503 WORKER_UNAVAILABLE with Retry-After; once it is back the same request answers 200 and cancels once', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  await stack.stopWorkers();
  try {
    const t0 = Date.now();
    const down = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer called' }).set('Idempotency-Key', 'cancel-1');
    const took = Date.now() - t0;
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('WORKER_UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    // Bounded by the update deadline (plus the request's own database work), never a hang.
    expect(took).toBeGreaterThanOrEqual(UPDATE_TIMEOUT_MS);
    expect(took).toBeLessThan(UPDATE_TIMEOUT_MS + 10_000);
    // A client retrying while the worker is still away gets the same answer, not a second cancel.
    const stillDown = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer called' }).set('Idempotency-Key', 'cancel-1');
    expect(stillDown.status).toBe(503);
  } finally {
    await stack.startWorkers();
  }
  // A client retries with the same key until it gets an answer (a worker just back may still be warming up).
  const ok = await eventually(async () => {
    const res = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer called' }).set('Idempotency-Key', 'cancel-1');
    if (res.status !== 503) return res;
  }, 60_000, 500);
  expect(ok.status).toBe(200);
  expect(ok.body.status).toBe('CANCELLED');
  const again = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer called' }).set('Idempotency-Key', 'cancel-1').expect(200);
  expect(again.body).toEqual(ok.body);
  expect(await eventsOf(body.bookingId, 'cancel')).toBe(1);
});

test('with no worker polling, a cancel that timed out is applied when the worker returns, even if the client never retries', async () => {
  const body = bookingBody();
  await stack.api().post('/v1/bookings', body).expect(201);
  // The workflow's first task has completed before the workers stop (under load it may still be in
  // flight in the stopping worker), so the cancel is the only task left waiting for a worker.
  await eventually(async () => (await stack.client.workflow.getHandle(`booking-${body.bookingId}`).describe()).historyLength > 3, 30_000);
  await stack.stopWorkers();
  try {
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, {}).set('Idempotency-Key', 'cancel-late').expect(503);
  } finally {
    await stack.startWorkers();
  }
  // A returning worker may first wait out the old worker's sticky queue (its schedule-to-start timeout).
  const deadline = Date.now() + 60_000;
  while ((await eventsOf(body.bookingId, 'cancel')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  expect(await eventsOf(body.bookingId, 'cancel')).toBe(1);
  // The retry now finds the late-applied result (the workflow has closed; Temporal still answers it).
  const retried = await eventually(async () => {
    const res = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, {}).set('Idempotency-Key', 'cancel-late');
    if (res.status !== 503) return res;
  }, 60_000, 500);
  expect(retried.status).toBe(200);
  expect(retried.body.status).toBe('CANCELLED');
  expect(await eventsOf(body.bookingId, 'cancel')).toBe(1);
}, 150_000);

test('bookings worker frozen (SIGSTOP): cancel answers 503 within the deadline; after SIGCONT the same request answers 200 with exactly one cancel event', async () => {
  // A worker process that holds its task and does nothing. This test's bookings run on a stack of their
  // own whose only bookings worker is that child process.
  const frozenStack = await startStack({ name: 'actions-frozen', workers: [], updateTimeoutMs: UPDATE_TIMEOUT_MS });
  const worker = await startWorkerProcess({ databaseUrl: frozenStack.workerDbUrl, taskQueuePrefix: frozenStack.prefix, workers: 'bookings' });
  try {
    const body = bookingBody();
    await frozenStack.api().post('/v1/bookings', body).expect(201);
    // The workflow's first task has run (its search attributes are set) before the worker freezes.
    await eventually(async () => (await frozenStack.client.workflow.getHandle(`booking-${body.bookingId}`).describe()).historyLength > 3, 30_000);
    worker.child.kill('SIGSTOP');
    const answers: number[] = [];
    try {
      // Past the workflow task timeout, so both refusals the server gives a frozen worker are seen.
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        const t0 = Date.now();
        const res = await frozenStack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'frozen' }).set('Idempotency-Key', 'frozen-1');
        expect(Date.now() - t0).toBeLessThan(UPDATE_TIMEOUT_MS + 10_000);
        answers.push(res.status);
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('WORKER_UNAVAILABLE');
        expect(res.headers['retry-after']).toBeDefined();
      }
    } finally {
      worker.child.kill('SIGCONT');
    }
    expect(answers.length).toBeGreaterThan(1);
    const ok = await eventually(async () => {
      const res = await frozenStack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'frozen' }).set('Idempotency-Key', 'frozen-1');
      return res.status === 200 ? res : undefined;
    }, 60_000, 500);
    expect(ok.body.status).toBe('CANCELLED');
    await eventually(async () => (await frozenStack.db.bookingEvent.count({ where: { bookingId: body.bookingId, action: 'cancel' } })) === 1, 30_000);
    const again = await frozenStack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'frozen' }).set('Idempotency-Key', 'frozen-1').expect(200);
    expect(again.body).toEqual(ok.body);
    expect(await frozenStack.db.bookingEvent.count({ where: { bookingId: body.bookingId, action: 'cancel' } })).toBe(1);
  } finally {
    await worker.stop();
    await frozenStack.stop();
  }
}, 180_000);
