// Reconciles the dashboard's summary rows against the raw tables and reports the drift it corrected:
// run hourly by the Temporal Schedule `dashboard-reconcile` (workers/schedules.ts), or on demand by an
// operator (POST /v1/dashboard/reconcile). Runs on the `ops` task queue.
import * as wf from '@temporalio/workflow';
import type { DashboardActivities, ReconcileInput } from '../activities/dashboard';
import type { ReconcileReport } from '../db/dashboard-store';

const { reconcileDashboard } = wf.proxyActivities<DashboardActivities>({
  // At a million bookings the recount takes about a second; a stuck lock wait fails the attempt (lock_timeout).
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
  summary: 'recount the dashboard summary and correct drift',
});

export async function dashboardReconcileWorkflow(input: ReconcileInput = {}): Promise<ReconcileReport> {
  return reconcileDashboard(input);
}
