// /v1/playbooks: the parameterised SQL pulls customer service runs (playbooks/*.sql): list them,
// show one, run one (JSON, or CSV with Accept: text/csv), through services/playbooks.ts.
//
// Roles: operator and commander. Playbooks read personal data across customers (bookings, contacts,
// who holds which code), so neither the viewer key (a read-only dashboard key, e.g. on a wall screen)
// nor the service key (held by client applications, where a leak must not expose bulk pulls) may run
// or even list them; customer service gets an operator key.
import { Router } from 'express';
import { z } from 'zod';
import type { Services } from '../../services/context';
import * as playbooks from '../../services/playbooks';
import { allow } from '../auth';
import { commandContext } from '../context';
import { toCsv } from '../csv';
import { parse } from '../validation';

export const RunPlaybookBody = z.strictObject({
  params: z
    .record(z.string(), z.union([z.string(), z.number()]), { error: 'must be an object of parameter values (strings, or numbers for integer and limit)' })
    .optional(),
});

export function playbooksRouter(services: Services): Router {
  const r = Router();
  const CS = allow('operator', 'commander');

  r.get('/', CS, (_req, res) => {
    res.json(playbooks.listPlaybooks(services));
  });

  r.get('/:name', CS, (req, res) => {
    res.json(playbooks.getPlaybook(services, String(req.params.name)));
  });

  r.post('/:name/run', CS, async (req, res) => {
    const body = parse(RunPlaybookBody, req.body);
    const result = await playbooks.runPlaybook(commandContext(services, req), String(req.params.name), body.params ?? {});
    if (req.accepts(['application/json', 'text/csv']) === 'text/csv') {
      res.setHeader('Content-Type', 'text/csv; charset=utf-8; header=present');
      res.setHeader('Content-Disposition', `attachment; filename="${result.name}.csv"`);
      res.setHeader('X-Playbook-Row-Count', String(result.rowCount));
      res.setHeader('X-Playbook-Truncated', String(result.truncated));
      res.send(toCsv(result.columns.map((c) => c.name), result.rows));
      return;
    }
    res.json(result);
  });

  return r;
}
