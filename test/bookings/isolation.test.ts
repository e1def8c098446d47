// Booking transitions share a process with nothing else: with the notifications worker process frozen
// (SIGSTOP, the state a CPU-pegged event loop is in), bookings still start, in their own worker
// process, the production entry point with KEEL_WORKERS=bookings - while the reminders those same
// bookings sent to the notifications queue wait.
import { bookingBody, eventually, startStack, type Stack } from '../helpers/stack';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

let stack: Stack;
let bookingsWorker: WorkerProcess;
let notificationsWorker: WorkerProcess;
beforeAll(async () => {
  // No in-process workers: each queue is served by a worker process of its own, as npm run dev does.
  stack = await startStack({ name: 'isolation', workers: [], settings: { remindersBeforeStartMs: [15_000], noShowGraceMs: 60 * 60_000 } });
  [bookingsWorker, notificationsWorker] = await Promise.all([
    startWorkerProcess({ databaseUrl: stack.workerDbUrl, taskQueuePrefix: stack.prefix, workers: 'bookings' }),
    startWorkerProcess({ databaseUrl: stack.workerDbUrl, taskQueuePrefix: stack.prefix, workers: 'notifications' }),
  ]);
}, 180_000);
afterAll(async () => {
  notificationsWorker?.child.kill('SIGCONT');
  await Promise.all([bookingsWorker?.stop(), notificationsWorker?.stop()]);
  await stack?.stop();
});

test('with the notifications worker frozen, bookings start in their own worker process and their reminders wait', async () => {
  notificationsWorker.child.kill('SIGSTOP');
  const frozenAt = Date.now();
  // Each booking schedules a reminder on the notifications queue 15 s before its start (so 10 s after
  // creation, a margin for a loaded machine: a reminder whose time has passed at creation is dropped).
  const bodies = Array.from({ length: 5 }, () => bookingBody({}, 25_000, 60 * 60_000));
  for (const b of bodies) await stack.api().post('/v1/bookings', b).expect(201);
  try {
    for (const b of bodies) {
      await eventually(async () => (await stack.api('viewer').get(`/v1/bookings/${b.bookingId}`)).body.status === 'ONGOING', 60_000, 200);
    }
    const starts = await stack.db.bookingEvent.findMany({ where: { bookingId: { in: bodies.map((b) => b.bookingId) }, action: 'start' } });
    expect(starts).toHaveLength(bodies.length);
    for (const s of starts) {
      const b = bodies.find((x) => x.bookingId === s.bookingId)!;
      expect(s.occurredAt.getTime()).toBeGreaterThanOrEqual(Date.parse(b.startsAt)); // never early
      expect(s.occurredAt.getTime()).toBeGreaterThan(frozenAt); // taken while notifications were frozen
    }
    // The reminders those bookings scheduled on the notifications queue are still waiting.
    expect(await stack.db.notificationOutbox.count({ where: { bookingId: { in: bodies.map((b) => b.bookingId) } } })).toBe(0);
    // ... scheduled on the notifications queue and not completed.
    for (const b of bodies) {
      const events = (await stack.client.workflow.getHandle(`booking-${b.bookingId}`).fetchHistory()).events ?? [];
      const reminder = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sendNotification');
      expect(reminder?.activityTaskScheduledEventAttributes?.taskQueue?.name).toBe(`${stack.prefix}-notifications`);
      expect(events.some((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString() === reminder?.eventId?.toString())).toBe(false);
    }
  } finally {
    notificationsWorker.child.kill('SIGCONT');
  }
}, 180_000);
