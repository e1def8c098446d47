// /v1/incidents: declare (deduplicated), read, and step through an incident via its workflow.
import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  COMPONENT_STATES,
  INCIDENT_ROLES,
  RETROSPECTIVE_SECTIONS,
  SEVERITIES,
  type ComponentState,
} from '../../domain/incident';
import type { Services } from '../../services/context';
import * as incidents from '../../services/incidents';
import { allow } from '../auth';
import { commandContext } from '../context';
import { businessId, parse } from '../validation';

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export function incidentSchemas(components: string[]) {
  const component = z.enum(components as [string, ...string[]], { message: `must be one of: ${components.join(', ')}` });
  return {
    Declare: z.strictObject({
      title: text(200),
      severity: z.enum(SEVERITIES),
      components: z.array(component).min(1, 'name at least one component').max(components.length)
        .refine((c) => new Set(c).size === c.length, 'components must not repeat'),
      summary: text(4000).optional(),
      dedupeKey: z.string().regex(/^[\x21-\x7e]{1,200}$/, 'printable ASCII without spaces, 1-200 characters').optional(),
      drill: z.boolean().optional(),
    }),
    Role: z.strictObject({ role: z.enum(INCIDENT_ROLES), holder: text(100) }),
    Complete: z.strictObject({ note: text(2000).optional() }),
    Skip: z.strictObject({ reason: text(2000) }),
    Note: z.strictObject({ text: text(4000) }),
    StatusUpdate: z.strictObject({
      message: text(2000),
      componentStates: z.partialRecord(component, z.enum(COMPONENT_STATES)).refine((r) => Object.keys(r).length > 0, 'give at least one component state'),
    }),
    Severity: z.strictObject({ severity: z.enum(SEVERITIES), reason: text(500).optional() }),
    Mitigate: z.strictObject({ note: text(2000).optional() }),
    Resolve: z.strictObject({ summary: text(4000) }),
    ActionItem: z.strictObject({
      title: text(500),
      owner: text(100),
      dueDate: z.iso.date({ message: 'must be a date, YYYY-MM-DD' }),
    }),
    Close: z.strictObject(Object.fromEntries(RETROSPECTIVE_SECTIONS.map((k) => [k, text(8000).optional()]))),
    Empty: z.strictObject({}),
    List: z.strictObject({ status: z.enum(['open', 'resolved', 'closed', 'abandoned', 'all']).default('all') }),
    // seq is a PostgreSQL integer: a larger value is refused here, not by the database (500).
    Timeline: z.strictObject({
      after: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0).max(2_147_483_647).default(0),
      limit: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1).max(200).default(100),
    }),
    Id: z.strictObject({ id: businessId }),
    Step: z.strictObject({ id: businessId, stepId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'not a step id') }),
  };
}

export function incidentsRouter(services: Services): Router {
  const r = Router();
  const S = incidentSchemas(services.settings.incidents.components);
  const ACT = allow('commander', 'operator');
  const READ = allow('commander', 'operator', 'viewer');
  const id = (req: Request) => parse(S.Id, { id: req.params.id }, 'path').id;
  const step = (req: Request) => parse(S.Step, { id: req.params.id, stepId: req.params.stepId }, 'path');

  r.post('/', ACT, async (req, res) => {
    const body = parse(S.Declare, req.body);
    const { kind, incident } = await incidents.declareIncident(commandContext(services, req), body);
    res.status(kind === 'created' ? 201 : 200).json({
      incidentId: incident.incidentId, workflowId: incident.workflowId, status: incident.status, drill: incident.drill,
      deduplicated: kind === 'existing',
    });
  });

  r.get('/', READ, async (req, res) => {
    const q = parse(S.List, req.query, 'query');
    res.json({ incidents: await incidents.listIncidents(services, q.status) });
  });

  r.get('/:id', READ, async (req, res) => {
    res.json(await incidents.getIncident(services, id(req)));
  });

  r.get('/:id/timeline', READ, async (req, res) => {
    const q = parse(S.Timeline, req.query, 'query');
    res.json(await incidents.timeline(services, id(req), { afterSeq: q.after, limit: q.limit }));
  });

  r.get('/:id/postmortem', READ, async (req, res) => {
    res.type('text/markdown; charset=utf-8').send(await incidents.postmortem(services, id(req)));
  });

  /** An action route: parse the body, then the path, then one verb (404 unknown, 409 refused, 503 no worker). */
  function act<B extends z.ZodType>(path: string, schema: B, verb: (req: Request, body: z.infer<B>) => Promise<unknown>) {
    r.post(path, ACT, async (req, res) => {
      const body = parse(schema, req.body);
      res.json(await verb(req, body));
    });
  }
  const ctx = (req: Request) => commandContext(services, req);

  act('/:id/roles', S.Role, (req, b) => incidents.assignRole(ctx(req), id(req), b));
  act('/:id/checks/run', S.Empty, (req) => incidents.runChecks(ctx(req), id(req)));
  act('/:id/steps/:stepId/complete', S.Complete, (req, b) => {
    const p = step(req);
    return incidents.completeStep(ctx(req), p.id, p.stepId, b);
  });
  act('/:id/steps/:stepId/skip', S.Skip, (req, b) => {
    const p = step(req);
    return incidents.skipStep(ctx(req), p.id, p.stepId, b);
  });
  act('/:id/notes', S.Note, (req, b) => incidents.addNote(ctx(req), id(req), b));
  act('/:id/status-updates', S.StatusUpdate, (req, b) =>
    incidents.postStatusUpdate(ctx(req), id(req), { message: b.message, componentStates: b.componentStates as Record<string, ComponentState> }),
  );
  act('/:id/severity', S.Severity, (req, b) => incidents.changeSeverity(ctx(req), id(req), b));
  act('/:id/mitigate', S.Mitigate, (req, b) => incidents.mitigate(ctx(req), id(req), b));
  act('/:id/resolve', S.Resolve, (req, b) => incidents.resolve(ctx(req), id(req), b));
  act('/:id/action-items', S.ActionItem, (req, b) => incidents.addActionItem(ctx(req), id(req), b));
  act('/:id/close', S.Close, (req, b) => incidents.close(ctx(req), id(req), b));

  return r;
}
