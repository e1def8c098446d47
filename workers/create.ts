// Builds Keel's workers, one per task queue: `bookings` runs booking workflows and their database
// activities; `notifications` only notification activities, so a notification backlog can never hold
// up a booking transition (campaign workflows run there too); `incidents` runs incident workflows, their automated checks and records;
// `ops` runs Keel's own housekeeping.
// One process may host all of them (laptop) or one each (production scaling).
import { Client, type Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createBookingActivities } from '../activities/bookings';
import { createCampaignActivities, type BatchingProvider } from '../activities/campaigns';
import { createCheckActivities } from '../activities/checks';
import { createDashboardActivities } from '../activities/dashboard';
import { createIncidentActivities } from '../activities/incidents';
import { createNotificationActivities } from '../activities/notifications';
import { createLogLevelActivities } from '../activities/log-level';
import { countWorkflowStart } from '../activities/metrics';
import { createWatchdogActivities } from '../activities/watchdog';
import type { Logger } from '../config/logger';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import type { WatchdogSettings } from '../domain/watchdog';
import { loadRunbooks } from '../runbooks/load';
import { redactingProviders } from '../providers/redacting';
import { TemporalGateway } from '../services/temporal';
import type { Db } from '../db/client';
import type { Channel } from '../domain/campaign';
import { taskQueue, type TaskQueueName } from '../domain/task-queues';

export interface WorkerDeps {
  connection: NativeConnection;
  /** A client connection for the health checks (task-queue pollers, system info). */
  clientConnection: Connection;
  namespace: string;
  db: Db;
  taskQueuePrefix?: string;
  statusComponents: string[];
  /** Message providers per channel (providers/index.ts builds them from configuration). */
  providers: Record<Channel, BatchingProvider>;
  /** Where operations alerts are e-mailed (KEEL_OPS_ALERT_EMAILS); never a user id. */
  operationsAddresses?: readonly string[];
  /** Provider limits per channel, messages per second. */
  channelRates?: Partial<Record<Channel, number>>;
  /** Pre-bundled workflow code (tests bundle once); otherwise bundled from workflows/ at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  identity?: string;
  /** Runbooks for incidents opened by Keel itself (the watchdog); default: the shipped runbooks/. */
  runbooks?: Map<Severity, RunbookSnapshot>;
  /** Stuck-work watchdog thresholds (KEEL_WATCHDOG_*); defaults in domain/watchdog.ts. */
  watchdog?: Partial<WatchdogSettings>;
  /** pino logger for the watchdog's findings; none: not logged (the run is still stored). */
  logger?: Logger;
}

export async function createWorker(name: TaskQueueName, deps: WorkerDeps): Promise<Worker> {
  // Provider error texts lose any address before an activity logs or records them (providers/redacting.ts).
  const providers = redactingProviders(deps.providers);
  const common = {
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: taskQueue(name, deps.taskQueuePrefix),
    ...(deps.identity ? { identity: deps.identity } : {}),
  };
  const workflows = deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath: require.resolve('../workflows') };
  switch (name) {
    case 'bookings':
      // The SDK's default task slots (40): fewer arm timers more exactly but fall off the sticky queue
      // at the peak rate (bench/README.md, "Worker tuning").
      return Worker.create({ ...common, ...workflows, activities: createBookingActivities({ db: deps.db }) });
    case 'notifications':
      // Campaign workflows and every message activity: a campaign of any size competes only with other
      // messages, never with booking transitions.
      return Worker.create({
        ...common,
        ...workflows,
        activities: {
          ...createNotificationActivities({ db: deps.db, providers, operationsAddresses: deps.operationsAddresses }),
          ...createCampaignActivities({ db: deps.db, providers, channelRates: deps.channelRates }),
        },
      });
    case 'incidents':
      return Worker.create({
        ...common,
        ...workflows,
        activities: {
          ...createIncidentActivities({ db: deps.db, statusComponents: deps.statusComponents }),
          ...createCheckActivities({
            db: deps.db, connection: deps.clientConnection, namespace: deps.namespace, taskQueuePrefix: deps.taskQueuePrefix,
          }),
        },
      });
    case 'ops':
      // Keel's own housekeeping: dashboard reconciliation, the stuck-work watchdog, log-level windows.
      // Kept off the business queues so it can neither delay nor be delayed by bookings or messages.
      return Worker.create({
        ...common,
        ...workflows,
        activities: {
          // ops activity factories are spread here
          ...createDashboardActivities({ db: deps.db }),
          ...createLogLevelActivities({ db: deps.db }),
          ...createWatchdogActivities({
            db: deps.db,
            // The watchdog declares its incident through the command layer: starts counted in this
            // process's keel_workflow_starts_total.
            temporal: new TemporalGateway({
              client: new Client({ connection: deps.clientConnection, namespace: deps.namespace }),
              taskQueuePrefix: deps.taskQueuePrefix, onStart: countWorkflowStart,
            }),
            settings: { incidents: { runbooks: deps.runbooks ?? loadRunbooks(), components: deps.statusComponents }, watchdog: deps.watchdog },
            logger: deps.logger,
          }),
        },
      });
  }
}
