// Incident commands: declare (deduplicated row + workflow), read, and every action a commander takes
// through the incident's workflow. POST /v1/incidents, problem intake (services/reports.ts) and the
// stuck-work watchdog (services/watchdog.ts, on the ops worker) all declare through declareIncident.
import { randomBytes } from 'node:crypto';
import type { UpdateDefinition } from '@temporalio/common';
import {
  abandonIncident,
  declareIncident as insertIncident,
  deleteUndeclaredIncident,
  getFullIncident,
  getIncident as readIncident,
  getTimelinePage,
  listIncidents as readIncidents,
  type IncidentFilter,
} from '../db/incident-store';
import { rebuildStatusPage } from '../db/status-store';
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
  type IncidentAck,
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
  /** While an incident with this key is open and its workflow runs, declaring again answers that incident. */
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
 * A row whose workflow has not been found for this long after its declaration is gone, not starting:
 * the declare that wrote it starts the workflow right after its transaction (or deletes the row).
 */
export const WORKFLOW_START_GRACE_MS = 60_000;

/**
 * Why the workflow of an open incident no longer drives it (closed in any way, or not found well after
 * its declaration), or null while it runs or may still be starting. A Temporal that cannot answer
 * throws: the caller then keeps the incident it has.
 */
export async function workflowGone(
  temporal: Pick<IncidentServices['temporal'], 'describe'>,
  row: { workflowId: string; declaredAt: string | Date },
  now = new Date(),
): Promise<{ reason: string; workflowStatus: string; closedAt: string | null } | null> {
  const d = await temporal.describe(row.workflowId);
  if (d?.status === 'RUNNING') return null;
  if (d) {
    return { reason: `its workflow ${row.workflowId} is ${d.status}`, workflowStatus: d.status, closedAt: d.closeTime?.toISOString() ?? null };
  }
  if (now.getTime() - new Date(row.declaredAt).getTime() < WORKFLOW_START_GRACE_MS) return null;
  return { reason: `its workflow ${row.workflowId} does not exist`, workflowStatus: 'NOT_FOUND', closedAt: null };
}

/**
 * The row and its dedupe key first (one transaction, db/incident-store.ts), then the workflow. A new
 * row whose workflow could not be started is deleted again, so a declaration exists with its workflow
 * or not at all, and a retry declares afresh. Idempotent with a dedupe key: while that incident is
 * open and its workflow runs, every caller (a retried activity, the next watchdog run, a double
 * click) gets the same one. A key whose incident's workflow has ended without releasing it
 * (terminated, failed, timed out, cancelled: no code of the workflow ran) or is gone: that incident is
 * marked ABANDONED and the key released in one transaction, then the declaration goes ahead; of
 * declares racing on it, the key's primary key lets one open the new incident and the others answer it.
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
  let result = await insertIncident(ctx.db, initial);
  // Twice at most: a holder found dead is abandoned once; the holder after that is a fresh declaration.
  for (let round = 0; result.kind === 'existing' && round < 2; round++) {
    const holder = result.incident;
    const gone = await workflowGone(ctx.temporal, holder, now);
    if (!gone) break;
    const { abandoned } = await abandonIncident(ctx.db, holder.incidentId, gone.reason, now);
    if (abandoned && !holder.drill) {
      // Its public updates stop counting as current; a failed rebuild is redone by the next change.
      await rebuildStatusPage(ctx.db, ctx.settings.incidents.components).catch(() => undefined);
    }
    result = await insertIncident(ctx.db, initial);
  }
  if (result.kind === 'created') {
    const input: IncidentInput = {
      declare, notificationsTaskQueue: ctx.temporal.taskQueue('notifications'), historyEventsLimit: ctx.settings.incidents.historyEventsLimit,
    };
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

/** One page of the incident's timeline, oldest first, after `afterSeq`. */
export async function timeline(ctx: Pick<Services, 'db'>, incidentId: string, page: { afterSeq: number; limit: number }) {
  await getIncident(ctx, incidentId);
  return getTimelinePage(ctx.db, incidentId, page.afterSeq, page.limit);
}

/** The post-mortem as Markdown, generated from the incident's whole timeline. */
export async function postmortem(ctx: Pick<Services, 'db'>, incidentId: string): Promise<string> {
  const incident = await getFullIncident(ctx.db, incidentId);
  if (!incident) throw notFound(`incident ${incidentId}`);
  return renderPostmortem(incident);
}

/**
 * One action on the incident's workflow: 404 for an unknown incident, bounded and idempotent
 * (services/actions.ts). `args` is what the update gets besides the actor, and what a repeated
 * Idempotency-Key is compared by (a step action's args name its step). Answers the incident as the
 * database has it once the update returned (the workflow answers only after its change is recorded):
 * the workflow's own answer holds only the last few timeline entries.
 */
async function act<A extends object>(
  ctx: CommandContext,
  incidentId: string,
  action: string,
  def: UpdateDefinition<IncidentAck, [Actor & A]>,
  args: A,
): Promise<IncidentState> {
  await getIncident(ctx, incidentId);
  const workflowId = workflowIdForIncident(incidentId);
  const finished = async () => `the incident is ${(await readIncident(ctx.db, incidentId))?.status ?? 'CLOSED'}: its workflow has ended`;
  return runAction(ctx, { workflowId, action: `incident.${action}`, body: args }, async (updateId) => {
    await ctx.temporal.update(workflowId, def, [{ actor: ctx.actor, requestId: ctx.requestId, ...args }], { updateId, finished });
    return getIncident(ctx, incidentId);
  });
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
