// The operator consoles: static pages under /console that ask for an API key and call the API with it.
import path from 'node:path';
import express, { Router } from 'express';

const CONSOLE_DIR = path.resolve(__dirname, '..', '..', 'console');

export function consoleRouter(): Router {
  const r = Router();
  r.get('/console/incidents/:id', (_req, res) => res.sendFile(path.join(CONSOLE_DIR, 'incident.html')));
  r.get('/console/incidents', (_req, res) => res.sendFile(path.join(CONSOLE_DIR, 'incidents.html')));
  r.get('/console/campaigns/:id', (_req, res) => res.sendFile(path.join(CONSOLE_DIR, 'campaign.html')));
  r.get('/console/campaigns', (_req, res) => res.sendFile(path.join(CONSOLE_DIR, 'campaigns.html')));
  r.use('/console/assets', express.static(path.join(CONSOLE_DIR, 'assets'), { maxAge: '5m' }));
  return r;
}
