// Temporal Schedules Keel relies on, created by the worker that hosts the `ops` queue (idempotently: an
// existing schedule is left as the operators may have tuned or paused it in the Web UI).
import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';
import { taskQueue } from '../domain/task-queues';

export const STATUS_PAGE_SCHEDULE_ID = 'status-page-refresh';

export interface ScheduleDefinition {
  /** The schedule's name; its id is the name behind the task-queue prefix, if any. */
  name: string;
  options: ScheduleOptions;
}

/** Every schedule, as a function of the task-queue prefix (tests run several Keels on one server). */
export function scheduleDefinitions(taskQueuePrefix = ''): ScheduleDefinition[] {
  const id = (name: string) => (taskQueuePrefix ? `${taskQueuePrefix}-${name}` : name);
  return [
    { name: STATUS_PAGE_SCHEDULE_ID, options: {
      scheduleId: id(STATUS_PAGE_SCHEDULE_ID),
      spec: { intervals: [{ every: '1 hour' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'statusPageRefreshWorkflow',
        taskQueue: taskQueue('incidents', taskQueuePrefix),
        args: [],
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
      state: { note: 'Rebuilds the public status page hourly so its 90-day history advances.', triggerImmediately: true },
    } },
  ];
}

/** Creates the missing schedules (`only`: just these names) and answers the names it created. */
export async function ensureSchedules(client: Client, taskQueuePrefix = '', only?: string[]): Promise<string[]> {
  const created: string[] = [];
  for (const { name, options } of scheduleDefinitions(taskQueuePrefix)) {
    if (only && !only.includes(name)) continue;
    try {
      await client.schedule.create(options);
      created.push(name);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
  }
  return created;
}
