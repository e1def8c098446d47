// Temporal Schedules Keel relies on, created by the worker that runs them (idempotently: an existing
// schedule is left as the operators may have tuned or paused it in the Web UI).
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { taskQueue } from '../domain/task-queues';

export const STATUS_PAGE_SCHEDULE_ID = 'status-page-refresh';

export async function ensureSchedules(client: Client, taskQueuePrefix = ''): Promise<string[]> {
  const created: string[] = [];
  try {
    await client.schedule.create({
      scheduleId: taskQueuePrefix ? `${taskQueuePrefix}-${STATUS_PAGE_SCHEDULE_ID}` : STATUS_PAGE_SCHEDULE_ID,
      spec: { intervals: [{ every: '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'statusPageRefreshWorkflow',
        taskQueue: taskQueue('incidents', taskQueuePrefix),
        args: [],
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
      state: { note: 'Rebuilds the public status page hourly so its 90-day history advances.', triggerImmediately: true },
    });
    created.push(STATUS_PAGE_SCHEDULE_ID);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  return created;
}
