// The operator consoles: static pages under /console that ask for an API key and call the API with it.
import express, { Router, type RequestHandler } from 'express';

// sendFile's `root` and express.static resolve the directory themselves (a '..' in the root is fine;
// one in the request path is refused).
const CONSOLE_DIR = `${__dirname}/../../console`;

export function consoleRouter(): Router {
  const r = Router();
  // The consoles take an API key: no other site may frame them (clickjacking). CSP frame-ancestors
  // for current browsers, X-Frame-Options for old ones.
  r.use('/console', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  });
  const page = (file: string): RequestHandler => (_req, res) => res.sendFile(file, { root: CONSOLE_DIR });
  r.get('/console/incidents/:id', page('incident.html'));
  r.get('/console/incidents', page('incidents.html'));
  r.get('/console/campaigns/:id', page('campaign.html'));
  r.get('/console/campaigns', page('campaigns.html'));
  r.use('/console/assets', express.static(`${CONSOLE_DIR}/assets`, { maxAge: '5m' }));
  return r;
}
