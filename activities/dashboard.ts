// Dashboard activities (ops task queue): the reconciliation of the summary rows against the raw tables.
// Idempotent by nature: a second run finds no drift and records a reconciliation that corrected nothing.
import { Context, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { reconcileDashboard, type ReconcileReport } from '../db/dashboard-store';

export interface ReconcileInput {
  /** ISO time; revenue buckets from here on are recounted (default: the last 48 hours). */
  revenueSince?: string;
}

export function createDashboardActivities(deps: { db: Db }) {
  return {
    async reconcileDashboard(input: ReconcileInput = {}): Promise<ReconcileReport> {
      const report = await reconcileDashboard(deps.db, {
        revenueSince: input.revenueSince ? new Date(input.revenueSince) : undefined,
        workflowId: Context.current().info.workflowExecution?.workflowId,
      });
      // Drift means some write bypassed the booking write path (or a bug in it): say so loudly.
      if (report.corrected > 0) log.warn('dashboard drift corrected', { corrected: report.corrected, drift: report.drift, reconciliationId: report.id });
      else log.info('dashboard reconciled, no drift', { durationMs: report.durationMs, lockWaitMs: report.lockWaitMs });
      return report;
    },
  };
}

export type DashboardActivities = ReturnType<typeof createDashboardActivities>;
