// The public status page, without a key (mounted before authentication): GET /status as HTML and
// GET /v1/status as JSON, both the one precomputed document, served from bodies rendered once per
// change (services/status-page-cache.ts: no database read per request, the last document kept while
// the database is down). Each body carries a strong ETag; a conditional GET or HEAD whose
// If-None-Match matches answers 304 without a body (express's res.send does that comparison).
import { Router, type Response } from 'express';
import type { RenderedBody, StatusPageCache } from '../../services/status-page-cache';

const CACHE = 'public, max-age=15';
// The page needs no script and loads nothing: forbid both, so even an escaping bug cannot run code.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function send(res: Response, rendered: RenderedBody): void {
  res.setHeader('Cache-Control', CACHE);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Type', rendered.contentType);
  // Set before res.send, which then neither hashes the body again nor replaces it.
  res.setHeader('ETag', rendered.etag);
  res.send(rendered.body);
}

export function statusRouter(statusPage: Pick<StatusPageCache, 'page'>): Router {
  const r = Router();

  r.get('/status', async (_req, res) => {
    const page = await statusPage.page();
    res.setHeader('Content-Security-Policy', CSP);
    send(res, page.html);
  });

  r.get('/v1/status', async (_req, res) => {
    const page = await statusPage.page();
    send(res, page.json);
  });

  return r;
}
