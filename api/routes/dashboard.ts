// GET /v1/dashboard: the operations summary. POST /v1/dashboard/reconcile: an operator runs the
// reconciliation now instead of waiting for the hourly schedule (services/dashboard.ts).
import { Router } from 'express';
import { z } from 'zod';
import { isValidTimeZone } from '../../domain/business-day';
import type { Services } from '../../services/context';
import * as dashboard from '../../services/dashboard';
import { allow } from '../auth';
import { commandContext } from '../context';
import { isoTime, parse } from '../validation';

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
    // Only a string that starts with a year is judged here, so a non-time gets the one message above.
    revenueSince: isoTime.regex(/^(?:(?![0-9]{4}-)|19[7-9][0-9]-|[2-9][0-9]{3}-)/, 'must be 1970-01-01 or later').optional(),
  })
  .strict();

export function dashboardRouter(services: Services): Router {
  const r = Router();
  r.get('/', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const q = parse(DashboardQuery, req.query, 'query');
    const summary = await dashboard.readDashboard(services, q);
    res.setHeader('Cache-Control', 'no-store');
    res.json(summary);
  });

  r.post('/reconcile', allow('operator'), async (req, res) => {
    const body = parse(ReconcileBody, req.body);
    const outcome = await dashboard.reconcileDashboard(commandContext(services, req), body);
    res.status('report' in outcome ? 200 : 202).json(outcome);
  });
  return r;
}
