// /v1/incidents: declare (deduplicated), read, and step through an incident via its workflow.
import { Router, type Request } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { getIncident, listIncidents } from '../../db/incident-store';
import { declareIncident, NoRunbookError } from '../../services/declare-incident';
import {
  COMPONENT_STATES,
  type ComponentState,
  INCIDENT_ROLES,
  RETROSPECTIVE_SECTIONS,
  SEVERITIES,
  workflowIdForIncident,
  type IncidentState,
  type RunbookSnapshot,
  type Severity,
} from '../../domain/incident';
import { renderPostmortem } from '../../domain/postmortem';
import * as wf from '../../workflows/incident';
import { allow, callerOf } from '../auth';
import { ApiError } from '../errors';
import { countWorkflowStart } from '../metrics';
import { businessId, parse } from '../validation';
import { sendUpdate } from '../workflow-updates';

export interface IncidentRouterDeps {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  components: string[];
  runbooks: Map<Severity, RunbookSnapshot>;
}

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
    List: z.strictObject({ status: z.enum(['open', 'resolved', 'closed', 'all']).default('all') }),
    Id: z.strictObject({ id: businessId }),
    Step: z.strictObject({ id: businessId, stepId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'not a step id') }),
  };
}

export function incidentsRouter(deps: IncidentRouterDeps): Router {
  const r = Router();
  const S = incidentSchemas(deps.components);
  const ACT = allow('commander', 'operator');
  const READ = allow('commander', 'operator', 'viewer');
  const actor = (req: Request) => ({ actor: callerOf(req).actor, requestId: String(req.id ?? '') || undefined });

  r.post('/', ACT, async (req, res) => {
    const body = parse(S.Declare, req.body);
    let result;
    try {
      result = await declareIncident(deps, { ...body, declaredBy: callerOf(req).actor, requestId: actor(req).requestId });
    } catch (err) {
      if (err instanceof NoRunbookError) throw new ApiError(400, 'VALIDATION_FAILED', err.message);
      throw err;
    }
    if (result.kind === 'created') countWorkflowStart('incidentWorkflow');
    const incident = result.incident;
    res.status(result.kind === 'created' ? 201 : 200).json({
      incidentId: incident.incidentId, workflowId: incident.workflowId, status: incident.status, drill: incident.drill,
      deduplicated: result.kind === 'existing',
    });
  });

  r.get('/', READ, async (req, res) => {
    const q = parse(S.List, req.query, 'query');
    res.json({ incidents: await listIncidents(deps.db, q.status) });
  });

  async function load(req: Request): Promise<IncidentState> {
    const { id } = parse(S.Id, { id: req.params.id }, 'path');
    const incident = await getIncident(deps.db, id);
    if (!incident) throw new ApiError(404, 'NOT_FOUND', `no incident ${id}`);
    return incident;
  }

  r.get('/:id', READ, async (req, res) => {
    res.json(await load(req));
  });

  r.get('/:id/postmortem', READ, async (req, res) => {
    res.type('text/markdown; charset=utf-8').send(renderPostmortem(await load(req)));
  });

  /** An update on the incident's workflow; 404 for an unknown incident, 409 when it refuses. */
  function act<B extends z.ZodType>(
    path: string,
    schema: B,
    send: (h: ReturnType<Client['workflow']['getHandle']>, body: z.infer<B>, req: Request) => Promise<IncidentState>,
  ) {
    r.post(path, ACT, async (req, res) => {
      const body = parse(schema, req.body);
      if (req.params.stepId !== undefined) parse(S.Step, { id: req.params.id, stepId: req.params.stepId }, 'path');
      const incident = await load(req);
      const handle = deps.client.workflow.getHandle(workflowIdForIncident(incident.incidentId));
      res.json(await sendUpdate(() => send(handle, body, req), async () => `the incident is ${incident.status}: it is closed`));
    });
  }

  act('/:id/roles', S.Role, (h, b, req) => h.executeUpdate(wf.assignRoleUpdate, { args: [{ ...actor(req), ...b }] }));
  act('/:id/checks/run', S.Empty, (h, _b, req) => h.executeUpdate(wf.runChecksUpdate, { args: [actor(req)] }));
  act('/:id/steps/:stepId/complete', S.Complete, (h, b, req) =>
    h.executeUpdate(wf.completeStepUpdate, { args: [{ ...actor(req), stepId: String(req.params.stepId), note: b.note }] }),
  );
  act('/:id/steps/:stepId/skip', S.Skip, (h, b, req) =>
    h.executeUpdate(wf.skipStepUpdate, { args: [{ ...actor(req), stepId: String(req.params.stepId), reason: b.reason }] }),
  );
  act('/:id/notes', S.Note, (h, b, req) => h.executeUpdate(wf.addNoteUpdate, { args: [{ ...actor(req), text: b.text }] }));
  act('/:id/status-updates', S.StatusUpdate, (h, b, req) =>
    h.executeUpdate(wf.postStatusUpdate, {
      args: [{ ...actor(req), message: b.message, componentStates: b.componentStates as Record<string, ComponentState> }],
    }),
  );
  act('/:id/severity', S.Severity, (h, b, req) => h.executeUpdate(wf.changeSeverityUpdate, { args: [{ ...actor(req), ...b }] }));
  act('/:id/mitigate', S.Mitigate, (h, b, req) => h.executeUpdate(wf.mitigateUpdate, { args: [{ ...actor(req), note: b.note }] }));
  act('/:id/resolve', S.Resolve, (h, b, req) => h.executeUpdate(wf.resolveUpdate, { args: [{ ...actor(req), summary: b.summary }] }));
  act('/:id/action-items', S.ActionItem, (h, b, req) => h.executeUpdate(wf.addActionItemUpdate, { args: [{ ...actor(req), ...b }] }));
  act('/:id/close', S.Close, (h, b, req) => h.executeUpdate(wf.closeUpdate, { args: [{ ...actor(req), retrospective: b }] }));

  return r;
}
