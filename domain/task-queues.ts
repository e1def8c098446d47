// Task queues per concern, so a backlog in one (a notification storm) never starves another
// (booking transitions). A prefix isolates tests or tenants sharing one Temporal namespace.
export const TASK_QUEUES = ['bookings', 'notifications', 'incidents'] as const;
export type TaskQueueName = (typeof TASK_QUEUES)[number];

export function taskQueue(name: TaskQueueName, prefix = ''): string {
  return prefix ? `${prefix}-${name}` : name;
}
