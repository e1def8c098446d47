// Liveness and readiness, without a key: load balancers and orchestrators call these.
import { Router } from 'express';
import type { Services } from '../../services/context';
import { checkReadiness } from '../../services/health';

export function healthRouter(services: Pick<Services, 'db' | 'temporal'>): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const { ready, checks } = await checkReadiness(services);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks });
  });
  return r;
}
