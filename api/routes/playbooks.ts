// /v1/playbooks: the parameterised SQL pulls customer service runs (playbooks/*.sql): list them,
// show one, run one (JSON, or CSV with Accept: text/csv). Runs go through db/playbook-runner.ts:
// read-only transaction, statement timeout, row limit, audit row.
//
// Roles: operator and commander. Playbooks read personal data across customers (bookings, contacts,
// who holds which code), so neither the viewer key (a read-only dashboard key, e.g. on a wall screen)
// nor the service key (held by client applications, where a leak must not expose bulk pulls) may run
// or even list them; customer service gets an operator key.
import { Router, type Request } from 'express';
import { z } from 'zod';
import { describePlaybook } from '../../domain/playbook';
import { PlaybookRunError, type PlaybookRunner } from '../../db/playbook-runner';
import { allow, callerOf } from '../auth';
import { toCsv } from '../csv';
import { ApiError } from '../errors';
import { parse } from '../validation';

export const RunPlaybookBody = z.strictObject({
  params: z
    .record(z.string(), z.union([z.string(), z.number()]), { error: 'must be an object of parameter values (strings, or numbers for integer and limit)' })
    .optional(),
});

export interface PlaybooksRouterDeps {
  runner: PlaybookRunner;
}

function toApiError(err: unknown): unknown {
  if (!(err instanceof PlaybookRunError)) return err;
  switch (err.kind) {
    case 'not_found':
      return new ApiError(404, 'NOT_FOUND', err.message);
    case 'invalid_params':
      return new ApiError(400, 'VALIDATION_FAILED', err.message, { fields: err.details?.fields?.map((f) => ({ field: `params.${f.field}`, message: f.message })) });
    case 'bad_value':
      return new ApiError(400, 'VALIDATION_FAILED', err.message, { sqlState: err.details?.sqlState });
    case 'read_only':
      return new ApiError(422, 'READ_ONLY_VIOLATION', err.message, { sqlState: err.details?.sqlState });
    case 'timeout':
      return new ApiError(422, 'QUERY_TIMEOUT', err.message, { sqlState: err.details?.sqlState });
  }
}

export function playbooksRouter(deps: PlaybooksRouterDeps): Router {
  const r = Router();
  const CS = allow('operator', 'commander');
  const playbookOf = (req: Request) => {
    const p = deps.runner.get(String(req.params.name));
    if (!p) throw new ApiError(404, 'NOT_FOUND', `no playbook named ${JSON.stringify(String(req.params.name).slice(0, 100))}; GET /v1/playbooks lists them`);
    return p;
  };

  r.get('/', CS, (_req, res) => {
    res.json({ playbooks: deps.runner.list(), maxRows: deps.runner.maxRows });
  });

  r.get('/:name', CS, (req, res) => {
    const p = playbookOf(req);
    res.json({ ...describePlaybook(p), sql: p.sql });
  });

  r.post('/:name/run', CS, async (req, res) => {
    const p = playbookOf(req);
    const body = parse(RunPlaybookBody, req.body);
    const { actor } = callerOf(req);
    let result;
    try {
      result = await deps.runner.run(p.name, body.params ?? {}, { actor, requestId: String(req.id ?? '') || undefined });
    } catch (err) {
      throw toApiError(err);
    }
    if (req.accepts(['application/json', 'text/csv']) === 'text/csv') {
      res.setHeader('Content-Type', 'text/csv; charset=utf-8; header=present');
      res.setHeader('Content-Disposition', `attachment; filename="${p.name}.csv"`);
      res.setHeader('X-Playbook-Row-Count', String(result.rowCount));
      res.setHeader('X-Playbook-Truncated', String(result.truncated));
      res.send(toCsv(result.columns.map((c) => c.name), result.rows));
      return;
    }
    res.json(result);
  });

  return r;
}
