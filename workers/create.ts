// Builds Keel's workers: `bookings` runs the booking workflows and their database activities,
// `notifications` runs only notification activities, so a notification backlog can never hold up a
// booking transition. One process may host both (laptop) or one each (production scaling).
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createBookingActivities } from '../activities/bookings';
import { createNotificationActivities } from '../activities/notifications';
import type { Db } from '../db/client';
import { taskQueue, type TaskQueueName } from '../domain/task-queues';

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  db: Db;
  taskQueuePrefix?: string;
  /** Pre-bundled workflow code (tests bundle once); otherwise bundled from workflows/ at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
}

export async function createWorker(name: TaskQueueName, deps: WorkerDeps): Promise<Worker> {
  const common = {
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: taskQueue(name, deps.taskQueuePrefix),
    ...(deps.identity ? { identity: deps.identity } : {}),
  };
  if (name === 'bookings') {
    return Worker.create({
      ...common,
      ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
      activities: createBookingActivities({ db: deps.db }),
    });
  }
  return Worker.create({ ...common, activities: createNotificationActivities({ db: deps.db }) });
}
