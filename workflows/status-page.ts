// Keeps the public status page's 90-day history moving when nothing else happens: run hourly by the
// Temporal Schedule `status-page-refresh` (workers/schedules.ts).
import * as wf from '@temporalio/workflow';
import type { IncidentActivities } from '../activities/incidents';

const { refreshStatusPage } = wf.proxyActivities<IncidentActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
});

export async function statusPageRefreshWorkflow(): Promise<{ generatedAt: string }> {
  return refreshStatusPage();
}
