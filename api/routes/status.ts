// The public status page, without a key (mounted before authentication): GET /status as HTML and
// GET /v1/status as JSON. Both serve the one precomputed document (db/status-store.ts): a primary-key
// lookup per request, however long the incident history, so the page stays up under load in a crisis.
import { Router, type Response } from 'express';
import type { Db } from '../../db/client';
import { readStatusPage } from '../../db/status-store';
import { renderStatusHtml } from '../../domain/status-page';

export interface StatusRouterDeps {
  db: Db;
  components: string[];
  /** The page's heading and <title>; "Service status" by default. */
  title?: string;
}

const CACHE = 'public, max-age=15';

function publicHeaders(res: Response): void {
  res.setHeader('Cache-Control', CACHE);
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

export function statusRouter(deps: StatusRouterDeps): Router {
  const r = Router();

  r.get('/status', async (_req, res) => {
    const doc = await readStatusPage(deps.db, deps.components);
    publicHeaders(res);
    // The page needs no script and loads nothing: forbid both, so even an escaping bug cannot run code.
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.type('html').send(renderStatusHtml(doc, deps.title ? { title: deps.title } : {}));
  });

  r.get('/v1/status', async (_req, res) => {
    const doc = await readStatusPage(deps.db, deps.components);
    publicHeaders(res);
    res.json(doc);
  });

  return r;
}
