// GET /v1/health/stuck: what the stuck-work watchdog found on its latest run, or with ?fresh=true a
// detection run now that stores nothing and opens no incident (services/health.ts).
import { Router } from 'express';
import { z } from 'zod';
import type { Services } from '../../services/context';
import { readStuckWork } from '../../services/health';
import { ApiError } from '../errors';
import { allow, callerOf, type Role } from '../auth';
import { parse } from '../validation';

export const StuckQuery = z.strictObject({
  fresh: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
});

/** A fresh run asks Temporal and the database a lot; anyone may read the latest run's result. */
const MAY_RUN_FRESH: readonly Role[] = ['operator', 'commander'];

export function stuckRouter(services: Services): Router {
  const r = Router();
  r.get('/stuck', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const q = parse(StuckQuery, req.query, 'query');
    const { role } = callerOf(req);
    if (q.fresh === 'true' && !MAY_RUN_FRESH.includes(role)) {
      throw new ApiError(403, 'FORBIDDEN', `role ${role} may read the latest run only; ?fresh=true is for: ${MAY_RUN_FRESH.join(', ')}`);
    }
    res.json(await readStuckWork(services, { fresh: q.fresh === 'true' }));
  });
  return r;
}
