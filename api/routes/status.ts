// The public status page, without a key (mounted before authentication): GET /status as HTML and
// GET /v1/status as JSON, both the one precomputed document (services/status.ts).
import { Router, type Response } from 'express';
import { renderStatusHtml } from '../../domain/status-page';
import type { Services } from '../../services/context';
import { getStatusPage } from '../../services/status';

export interface StatusPageOptions {
  components: string[];
  /** The page's heading and <title>; "Service status" by default. */
  title?: string;
}

const CACHE = 'public, max-age=15';

function publicHeaders(res: Response): void {
  res.setHeader('Cache-Control', CACHE);
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

export function statusRouter(services: Pick<Services, 'db'>, page: StatusPageOptions): Router {
  const r = Router();

  r.get('/status', async (_req, res) => {
    const doc = await getStatusPage(services, page.components);
    publicHeaders(res);
    // The page needs no script and loads nothing: forbid both, so even an escaping bug cannot run code.
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.type('html').send(renderStatusHtml(doc, page.title ? { title: page.title } : {}));
  });

  r.get('/v1/status', async (_req, res) => {
    const doc = await getStatusPage(services, page.components);
    publicHeaders(res);
    res.json(doc);
  });

  return r;
}
