// Dashboard commands: read the operations summary (from the summary rows, db/dashboard-store.ts, so a
// read costs a few dozen row reads however many bookings exist), and reconcile it now instead of
// waiting for the hourly schedule.
import { readDashboard as readSummary, type ReconcileReport } from '../db/dashboard-store';
import type { ReconcileInput } from '../activities/dashboard';
import type { CommandContext, Services } from './context';

export const MANUAL_RECONCILE_WORKFLOW_ID = 'dashboard-reconcile-manual';

export async function readDashboard(ctx: Pick<Services, 'db' | 'settings'>, q: { timeZone?: string }) {
  const { reconciliation, ...dashboard } = await readSummary(ctx.db, { timeZone: q.timeZone ?? ctx.settings.timeZone });
  return { ...dashboard, lastReconciliation: reconciliation };
}

export type ReconcileOutcome = { workflowId: string; report: ReconcileReport } | { workflowId: string; status: 'running' };

/**
 * Starts the manual reconciliation (a request while one runs joins it: USE_EXISTING) and waits up to
 * settings.reconcileWaitMs for its report; a longer run answers `running`, and the report then shows
 * in the dashboard's lastReconciliation.
 */
export async function reconcileDashboard(ctx: CommandContext, input: ReconcileInput): Promise<ReconcileOutcome> {
  const prefix = ctx.temporal.taskQueuePrefix;
  const { handle } = await ctx.temporal.start('dashboardReconcileWorkflow', {
    workflowId: prefix ? `${prefix}-${MANUAL_RECONCILE_WORKFLOW_ID}` : MANUAL_RECONCILE_WORKFLOW_ID,
    args: [{ revenueSince: input.revenueSince } satisfies ReconcileInput],
    memo: { requestedBy: ctx.actor, requestId: ctx.requestId ?? null },
    summary: 'Dashboard reconciliation requested by an operator',
  });
  let timer: NodeJS.Timeout | undefined;
  const report = await Promise.race([
    handle.result() as Promise<ReconcileReport>,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ctx.settings.reconcileWaitMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return report ? { workflowId: handle.workflowId, report } : { workflowId: handle.workflowId, status: 'running' };
}
