// Declaring an incident from code: the one path shared by POST /v1/incidents, the stuck-work watchdog
// (an activity on the `ops` worker) and problem intake (POST /v1/reports/:id/open-incident). It writes
// the row and claims the dedupe key in one transaction (db/incident-store.ts), then starts the
// incident's workflow; if the start fails the row is removed again, so a declaration either exists
// with its workflow or not at all. Idempotent with a dedupe key: while that incident is open, every
// caller (a retried activity, the next watchdog run, a double-clicked button) gets the same one.
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { declareIncident as insertIncident, deleteUndeclaredIncident } from '../db/incident-store';
import { initialIncidentState, type DeclareIncident, type IncidentState, type RunbookSnapshot, type Severity } from '../domain/incident';
import { taskQueue } from '../domain/task-queues';
import type * as wf from '../workflows/incident';

export interface DeclareDeps {
  db: Db;
  client: Client;
  taskQueuePrefix?: string;
  runbooks: Map<Severity, RunbookSnapshot>;
}

export interface DeclareRequest {
  title: string;
  severity: Severity;
  components: string[];
  summary?: string;
  dedupeKey?: string;
  drill?: boolean;
  /** `<role>:<key id>` of an API caller, or `system:<what>` for Keel's own declarations. */
  declaredBy: string;
  /** Kept in the workflow's memo, so the Web UI leads back to the request's logs. */
  requestId?: string;
  now?: Date;
}

export interface DeclareOutcome {
  kind: 'created' | 'existing';
  incident: IncidentState;
}

/** The severity has no runbook: a caller's mistake (400 in the API), not an outage. */
export class NoRunbookError extends Error {
  constructor(readonly severity: string) {
    super(`no runbook for ${severity}`);
    this.name = 'NoRunbookError';
  }
}

export function newIncidentId(now: Date): string {
  return `inc-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
}

export async function declareIncident(deps: DeclareDeps, req: DeclareRequest): Promise<DeclareOutcome> {
  const runbook = deps.runbooks.get(req.severity);
  if (!runbook) throw new NoRunbookError(req.severity);
  const now = req.now ?? new Date();
  const declare: DeclareIncident = {
    incidentId: newIncidentId(now), title: req.title, severity: req.severity, components: req.components, summary: req.summary,
    drill: req.drill ?? false, dedupeKey: req.dedupeKey, declaredAt: now.toISOString(), declaredBy: req.declaredBy, runbook,
  };
  const initial = initialIncidentState(declare);
  const result = await insertIncident(deps.db, initial);
  if (result.kind === 'created') {
    try {
      await deps.client.withDeadline(Date.now() + 5000, () =>
        deps.client.workflow.start<typeof wf.incidentWorkflow>('incidentWorkflow', {
          workflowId: initial.workflowId,
          taskQueue: taskQueue('incidents', deps.taskQueuePrefix),
          args: [{ declare, notificationsTaskQueue: taskQueue('notifications', deps.taskQueuePrefix) }],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          memo: { requestId: req.requestId ?? null },
          staticSummary: `${declare.drill ? 'DRILL ' : ''}${declare.severity}: ${declare.title}`,
        }),
      );
    } catch (err) {
      await deleteUndeclaredIncident(deps.db, declare.incidentId).catch(() => undefined);
      throw err;
    }
  }
  return { kind: result.kind, incident: result.incident };
}
