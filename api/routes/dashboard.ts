// GET /v1/dashboard: the operations summary, read from the summary rows (db/dashboard-store.ts), so a
// page load costs a few dozen row reads however many bookings exist. POST /v1/dashboard/reconcile lets an
// operator run the reconciliation now instead of waiting for the hourly schedule.
import { Router } from 'express';
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { readDashboard } from '../../db/dashboard-store';
import { isValidTimeZone } from '../../domain/business-day';
import { taskQueue } from '../../domain/task-queues';
import { allow } from '../auth';
import { isoTime, parse } from '../validation';
import type { ReconcileReport } from '../../db/dashboard-store';

export const DashboardQuery = z
  .object({
    /** Another business time zone for this read (default KEEL_BUSINESS_TIME_ZONE). */
    timeZone: z.string().refine(isValidTimeZone, 'must be an IANA time zone, e.g. Europe/Paris').optional(),
  })
  .strict();

export const ReconcileBody = z
  .object({
    /** Recount revenue from this time on (default: the last 48 hours); 1970-01-01T00:00:00Z rebuilds it all. */
    // From 1970 on (as written): nothing is older, and PostgreSQL has no year 0 (the recount would fail).
    revenueSince: isoTime.regex(/^(?:19[7-9][0-9]|[2-9][0-9]{3})-/, 'must be 1970-01-01 or later').optional(),
  })
  .strict();

export const MANUAL_RECONCILE_WORKFLOW_ID = 'dashboard-reconcile-manual';

export interface DashboardRouterDeps {
  db: Db;
  client: Client;
  taskQueuePrefix?: string;
  timeZone: string;
  /** How long POST /reconcile waits for the result before answering 202 (default 20 s). */
  reconcileWaitMs?: number;
}

export function dashboardRouter(deps: DashboardRouterDeps): Router {
  const r = Router();
  r.get('/', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const q = parse(DashboardQuery, req.query, 'query');
    const { reconciliation, ...dashboard } = await readDashboard(deps.db, { timeZone: q.timeZone ?? deps.timeZone });
    res.setHeader('Cache-Control', 'no-store');
    res.json({ ...dashboard, lastReconciliation: reconciliation });
  });

  r.post('/reconcile', allow('operator'), async (req, res) => {
    const body = parse(ReconcileBody, req.body);
    const prefix = deps.taskQueuePrefix ?? '';
    // One manual run at a time: a second request while one runs joins it rather than queueing another.
    const handle = await deps.client.workflow.start('dashboardReconcileWorkflow', {
      workflowId: prefix ? `${prefix}-${MANUAL_RECONCILE_WORKFLOW_ID}` : MANUAL_RECONCILE_WORKFLOW_ID,
      taskQueue: taskQueue('ops', prefix),
      args: [{ revenueSince: body.revenueSince }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: 'Dashboard reconciliation requested by an operator',
    });
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      handle.result() as Promise<ReconcileReport>,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), deps.reconcileWaitMs ?? 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    if (waited) res.json({ workflowId: handle.workflowId, report: waited });
    else res.status(202).json({ workflowId: handle.workflowId, status: 'running' });
  });
  return r;
}
