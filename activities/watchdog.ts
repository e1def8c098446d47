// The stuck-work watchdog's activity (ops task queue): one call does a whole run (services/watchdog.ts),
// so the scheduled workflow's history stays a handful of events and the findings live in the database.
// Idempotent: the run is stored under the workflow id (a retry rewrites it) and the incident is
// deduplicated by its key.
import type { Client } from '@temporalio/client';
import type { Logger } from '../config/logger';
import type { Db } from '../db/client';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import type { WatchdogRunSummary, WatchdogSettings } from '../domain/watchdog';
import { runWatchdog } from '../services/watchdog';

export interface WatchdogActivityDeps {
  db: Db;
  client: Client;
  taskQueuePrefix?: string;
  runbooks: Map<Severity, RunbookSnapshot>;
  components: string[];
  settings?: Partial<WatchdogSettings>;
  logger?: Logger;
}

export function createWatchdogActivities(deps: WatchdogActivityDeps) {
  return {
    async runStuckWorkWatchdog(input: { runId: string }): Promise<WatchdogRunSummary> {
      return runWatchdog(deps, input.runId);
    },
  };
}

export type WatchdogActivities = ReturnType<typeof createWatchdogActivities>;
