// The stuck-work watchdog, started every minute by the Temporal Schedule `stuck-work-watchdog`
// (workers/schedules.ts, overlap SKIP) on the `ops` task queue. One activity does the run, so each
// execution is a few events long: safe to run forever, once a minute.
import * as wf from '@temporalio/workflow';
import type { WatchdogActivities } from '../activities/watchdog';
import type { WatchdogRunSummary } from '../domain/watchdog';

// Bounded well under the minute between runs: a run that cannot finish gives way to the next one.
const { runStuckWorkWatchdog } = wf.proxyActivities<WatchdogActivities>({
  startToCloseTimeout: '50 seconds',
  scheduleToCloseTimeout: '110 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
  summary: 'find stuck work, store the findings, open or find the incident',
});

export async function stuckWorkWatchdogWorkflow(): Promise<WatchdogRunSummary> {
  return runStuckWorkWatchdog({ runId: wf.workflowInfo().workflowId });
}
