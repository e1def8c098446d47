// Temporal Schedules Keel relies on, created by the worker that hosts the `ops` queue (idempotently: an
// existing schedule is left as the operators may have tuned or paused it in the Web UI).
import { ScheduleAlreadyRunning, type Client, type ScheduleOptions } from '@temporalio/client';
import { taskQueue } from '../domain/task-queues';

export const STATUS_PAGE_SCHEDULE_ID = 'status-page-refresh';
export const DASHBOARD_RECONCILE_SCHEDULE_ID = 'dashboard-reconcile';
export const WATCHDOG_SCHEDULE_ID = 'stuck-work-watchdog';

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
    { name: DASHBOARD_RECONCILE_SCHEDULE_ID, options: {
      scheduleId: id(DASHBOARD_RECONCILE_SCHEDULE_ID),
      // Off the top of the hour, when bookings start and end in bulk.
      spec: { intervals: [{ every: '1 hour', offset: '7 minutes' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'dashboardReconcileWorkflow',
        taskQueue: taskQueue('ops', taskQueuePrefix),
        args: [{}],
      },
      policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
      state: { note: 'Recounts the dashboard summary from the raw tables and corrects (and records) any drift.' },
    } },
    { name: WATCHDOG_SCHEDULE_ID, options: {
      scheduleId: id(WATCHDOG_SCHEDULE_ID),
      spec: { intervals: [{ every: '1 minute' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'stuckWorkWatchdogWorkflow',
        taskQueue: taskQueue('ops', taskQueuePrefix),
        args: [],
        // With the ops worker down, a run waits at most this long; then the next one takes over.
        workflowExecutionTimeout: '3 minutes',
      },
      // No backlog of catch-up runs after downtime: the next run sees the present, which is what matters.
      policies: { overlap: 'SKIP', catchupWindow: '1 minute' },
      state: { note: 'Finds work that should have moved and has not (GET /v1/health/stuck); opens one incident when something is stuck.' },
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
