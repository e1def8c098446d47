// Task queues per concern, so a backlog in one (a notification storm) never starves another
// (booking transitions); `ops` runs Keel's own housekeeping (dashboard reconciliation, the stuck-work
// watchdog, emergency log-level windows). A prefix isolates tests or tenants sharing one Temporal namespace.
export const TASK_QUEUES = ['bookings', 'notifications', 'incidents', 'ops'] as const;
export type TaskQueueName = (typeof TASK_QUEUES)[number];

export function taskQueue(name: TaskQueueName, prefix = ''): string {
  return prefix ? `${prefix}-${name}` : name;
}
