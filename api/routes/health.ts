// Liveness and readiness, without a key: load balancers and orchestrators call these.
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Db } from '../../db/client';

async function check(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRouter(deps: { db: Db; client: Client }): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      check(() => deps.db.$queryRaw`SELECT 1`),
      // A gRPC deadline, so the call itself ends (no retries left running behind the timeout).
      check(() => deps.client.withDeadline(Date.now() + 2000, () => deps.client.workflowService.getSystemInfo({}))),
    ]);
    const ready = database.ok && temporal.ok;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { database, temporal } });
  });
  return r;
}
