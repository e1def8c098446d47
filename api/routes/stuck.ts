// GET /v1/health/stuck: what the stuck-work watchdog found on its latest run, or with ?fresh=true a
// detection run now that stores nothing and opens no incident (services/health.ts).
import { Router } from 'express';
import { z } from 'zod';
import type { Services } from '../../services/context';
import { readStuckWork } from '../../services/health';
import { allow } from '../auth';
import { parse } from '../validation';

export const StuckQuery = z.strictObject({
  fresh: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
});

export function stuckRouter(services: Services): Router {
  const r = Router();
  r.get('/stuck', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const q = parse(StuckQuery, req.query, 'query');
    res.json(await readStuckWork(services, { fresh: q.fresh === 'true' }));
  });
  return r;
}
