// Incident commands: declare (deduplicated row + workflow), read, and every action a commander takes
// through the incident's workflow. POST /v1/incidents, problem intake (services/reports.ts) and the
// stuck-work watchdog (services/watchdog.ts, on the ops worker) all declare through declareIncident.
import { randomBytes } from 'node:crypto';
import type { UpdateDefinition } from '@temporalio/common';
import {
  declareIncident as insertIncident,
  deleteUndeclaredIncident,
  getIncident as readIncident,
  listIncidents as readIncidents,
  type IncidentFilter,
} from '../db/incident-store';
import {
  initialIncidentState,
  workflowIdForIncident,
  type ComponentState,
  type DeclareIncident,
  type IncidentRole,
  type IncidentState,
  type Retrospective,
  type Severity,
} from '../domain/incident';
import { renderPostmortem } from '../domain/postmortem';
import {
  addActionItemUpdate,
  addNoteUpdate,
  assignRoleUpdate,
  changeSeverityUpdate,
  closeUpdate,
  completeStepUpdate,
  mitigateUpdate,
  postStatusUpdate as postStatusUpdateDef,
  resolveUpdate,
  runChecksUpdate,
  skipStepUpdate,
  type Actor,
  type IncidentInput,
} from '../workflows/incident-messages';
import { runAction } from './actions';
import type { CommandContext, ServiceSettings, Services } from './context';
import { invalid, notFound } from './errors';

/**
 * What declaring an incident uses of a process's services. Narrower than Services because the ops
 * worker (the watchdog) declares incidents too and has no booking or campaign settings to give; the
 * actions come from the API only and take a full CommandContext.
 */
export type IncidentServices = Pick<Services, 'db' | 'temporal'> & { settings: Pick<ServiceSettings, 'incidents'> };
export type IncidentContext = IncidentServices & Pick<CommandContext, 'actor' | 'requestId' | 'idempotencyKey'>;

export interface DeclareRequest {
  title: string;
  severity: Severity;
  components: string[];
  summary?: string;
  /** While an incident with this key is open, declaring again answers that incident. */
  dedupeKey?: string;
  drill?: boolean;
  now?: Date;
}

export interface DeclareOutcome {
  kind: 'created' | 'existing';
  incident: IncidentState;
}

function newIncidentId(now: Date): string {
  return `inc-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
}

/**
 * The row and its dedupe key first (one transaction, db/incident-store.ts), then the workflow. A new
 * row whose workflow could not be started is deleted again, so a declaration exists with its workflow
 * or not at all, and a retry declares afresh. Idempotent with a dedupe key: while that incident is
 * open every caller (a retried activity, the next watchdog run, a double click) gets the same one.
 */
export async function declareIncident(ctx: IncidentContext, req: DeclareRequest): Promise<DeclareOutcome> {
  const runbook = ctx.settings.incidents.runbooks.get(req.severity);
  if (!runbook) throw invalid(`no runbook for ${req.severity}`);
  const now = req.now ?? new Date();
  const declare: DeclareIncident = {
    incidentId: newIncidentId(now), title: req.title, severity: req.severity, components: req.components, summary: req.summary,
    drill: req.drill ?? false, dedupeKey: req.dedupeKey, declaredAt: now.toISOString(), declaredBy: ctx.actor, runbook,
  };
  const initial = initialIncidentState(declare);
  const result = await insertIncident(ctx.db, initial);
  if (result.kind === 'created') {
    const input: IncidentInput = { declare, notificationsTaskQueue: ctx.temporal.taskQueue('notifications') };
    try {
      await ctx.temporal.start('incidentWorkflow', {
        workflowId: initial.workflowId,
        args: [input],
        memo: { requestId: ctx.requestId ?? null },
        summary: `${declare.drill ? 'DRILL ' : ''}${declare.severity}: ${declare.title}`,
      });
    } catch (err) {
      await deleteUndeclaredIncident(ctx.db, declare.incidentId).catch(() => undefined);
      throw err;
    }
  }
  return { kind: result.kind, incident: result.incident };
}

export function listIncidents(ctx: Pick<Services, 'db'>, status: IncidentFilter) {
  return readIncidents(ctx.db, status);
}

export async function getIncident(ctx: Pick<Services, 'db'>, incidentId: string): Promise<IncidentState> {
  const incident = await readIncident(ctx.db, incidentId);
  if (!incident) throw notFound(`incident ${incidentId}`);
  return incident;
}

/** The post-mortem as Markdown, generated from the incident's timeline. */
export async function postmortem(ctx: Pick<Services, 'db'>, incidentId: string): Promise<string> {
  return renderPostmortem(await getIncident(ctx, incidentId));
}

/**
 * One action on the incident's workflow: 404 for an unknown incident, bounded and idempotent
 * (services/actions.ts). `args` is what the update gets besides the actor, and what a repeated
 * Idempotency-Key is compared by (a step action's args name its step).
 */
async function act<A extends object>(
  ctx: CommandContext,
  incidentId: string,
  action: string,
  def: UpdateDefinition<IncidentState, [Actor & A]>,
  args: A,
): Promise<IncidentState> {
  await getIncident(ctx, incidentId);
  const workflowId = workflowIdForIncident(incidentId);
  const finished = async () => `the incident is ${(await readIncident(ctx.db, incidentId))?.status ?? 'CLOSED'}: it is closed`;
  return runAction(ctx, { workflowId, action: `incident.${action}`, body: args }, (updateId) =>
    ctx.temporal.update(workflowId, def, [{ actor: ctx.actor, requestId: ctx.requestId, ...args }], { updateId, finished }),
  );
}

export const assignRole = (ctx: CommandContext, id: string, b: { role: IncidentRole; holder: string }) =>
  act(ctx, id, 'assignRole', assignRoleUpdate, b);
export const runChecks = (ctx: CommandContext, id: string) => act(ctx, id, 'runChecks', runChecksUpdate, {});
export const completeStep = (ctx: CommandContext, id: string, stepId: string, b: { note?: string }) =>
  act(ctx, id, 'completeStep', completeStepUpdate, { stepId, note: b.note });
export const skipStep = (ctx: CommandContext, id: string, stepId: string, b: { reason: string }) =>
  act(ctx, id, 'skipStep', skipStepUpdate, { stepId, reason: b.reason });
export const addNote = (ctx: CommandContext, id: string, b: { text: string }) => act(ctx, id, 'addNote', addNoteUpdate, b);
export const postStatusUpdate = (ctx: CommandContext, id: string, b: { message: string; componentStates: Record<string, ComponentState> }) =>
  act(ctx, id, 'postStatusUpdate', postStatusUpdateDef, b);
export const changeSeverity = (ctx: CommandContext, id: string, b: { severity: Severity; reason?: string }) =>
  act(ctx, id, 'changeSeverity', changeSeverityUpdate, b);
export const mitigate = (ctx: CommandContext, id: string, b: { note?: string }) => act(ctx, id, 'mitigate', mitigateUpdate, b);
export const resolve = (ctx: CommandContext, id: string, b: { summary: string }) => act(ctx, id, 'resolve', resolveUpdate, b);
export const addActionItem = (ctx: CommandContext, id: string, b: { title: string; owner: string; dueDate: string }) =>
  act(ctx, id, 'addActionItem', addActionItemUpdate, b);
export const close = (ctx: CommandContext, id: string, retrospective: Retrospective) =>
  act(ctx, id, 'close', closeUpdate, { retrospective });
