// GET /v1/health/stuck: what the stuck-work watchdog found on its latest run (Temporal Schedule
// `stuck-work-watchdog`, every minute), or with ?fresh=true a detection run inline, bounded by the
// watchdog's per-call timeouts, that neither stores anything nor opens an incident (a GET has no
// side effects; the schedule does both within a minute).
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { latestWatchdogRun } from '../../db/watchdog-store';
import { emptyCounts, type WatchdogSettings } from '../../domain/watchdog';
import { detectStuckWork } from '../../services/watchdog';
import { allow } from '../auth';
import { parse } from '../validation';

export interface StuckRouterDeps {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  settings?: Partial<WatchdogSettings>;
}

/** The watchdog runs every minute: a latest run older than this means the watchdog itself is stuck. */
export const WATCHDOG_STALE_MS = 3 * 60_000;

export const StuckQuery = z.strictObject({
  fresh: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
});

export function stuckRouter(deps: StuckRouterDeps): Router {
  const r = Router();
  r.get('/stuck', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const q = parse(StuckQuery, req.query, 'query');
    if (q.fresh === 'true') {
      const report = await detectStuckWork(deps);
      res.json({ source: 'fresh', checkedAt: report.checkedAt, stale: false, stuck: report.stuck, counts: report.counts, errors: report.errors, incidentId: null });
      return;
    }
    const run = await latestWatchdogRun(deps.db);
    if (!run) {
      res.json({ source: 'none', checkedAt: null, stale: true, stuck: [], counts: emptyCounts(), errors: [], incidentId: null,
        message: 'the watchdog has not run yet: is a worker hosting the ops task queue running?' });
      return;
    }
    res.json({
      source: 'schedule', runId: run.runId, checkedAt: run.checkedAt, stale: Date.now() - Date.parse(run.checkedAt) > WATCHDOG_STALE_MS,
      stuck: run.stuck, counts: run.counts, errors: run.errors, incidentId: run.incidentId,
    });
  });
  return r;
}
