// The stuck-work watchdog's activity (ops task queue): one call does a whole run (services/watchdog.ts),
// so the scheduled workflow's history stays a handful of events and the findings live in the database.
// Idempotent: the run is stored under the workflow id (a retry rewrites it) and the incident is
// deduplicated by its key.
import type { WatchdogRunSummary } from '../domain/watchdog';
import { runWatchdog, type WatchdogServices } from '../services/watchdog';

export function createWatchdogActivities(services: WatchdogServices) {
  return {
    async runStuckWorkWatchdog(input: { runId: string }): Promise<WatchdogRunSummary> {
      return runWatchdog(services, input.runId);
    },
  };
}

export type WatchdogActivities = ReturnType<typeof createWatchdogActivities>;
