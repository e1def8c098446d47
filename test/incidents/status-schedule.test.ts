// The hourly schedule that keeps the status page's day strip moving: created once, idempotently, and
// its run rebuilds the stored page.
import { ensureSchedules, STATUS_PAGE_SCHEDULE_ID } from '../../workers/schedules';
import { eventually, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'status-schedule' });
});
afterAll(async () => {
  await stack.client.schedule.getHandle(`${stack.prefix}-${STATUS_PAGE_SCHEDULE_ID}`).delete().catch(() => undefined);
  await stack?.stop();
});

test('ensureSchedules creates the status-page schedule once; its first run rebuilds the page', async () => {
  expect(await stack.db.statusPage.count()).toBe(0);
  expect(await ensureSchedules(stack.client, stack.prefix, [STATUS_PAGE_SCHEDULE_ID])).toEqual([STATUS_PAGE_SCHEDULE_ID]);
  expect(await ensureSchedules(stack.client, stack.prefix, [STATUS_PAGE_SCHEDULE_ID])).toEqual([]);
  const d = await stack.client.schedule.getHandle(`${stack.prefix}-${STATUS_PAGE_SCHEDULE_ID}`).describe();
  expect(d.spec.intervals?.[0]?.every).toBe(3_600_000);
  const page = await eventually(() => stack.db.statusPage.findFirst(), 30_000, 200);
  expect(Date.now() - page.updatedAt.getTime()).toBeLessThan(60_000);
  const doc = (await stack.api(null).get('/v1/status').expect(200)).body;
  expect(doc.components.map((c: { name: string }) => c.name)).toEqual(['booking-api', 'car-unlock', 'payments']);
});
