// An incident: one workflow per incident, id `incident-<id>`, task queue `incidents`.
//
// The commander steps through it with updates (each validated, so a refused action leaves no trace but
// the API's 409). Every action lands in the timeline, which is part of the workflow's state and so of
// its history: the post-mortem is generated from it. Each change is mirrored to PostgreSQL by one
// idempotent activity that keeps only the newest snapshot. Manual steps with a time limit have a
// durable timer each (visible in the Web UI) that escalates to the commander and deputy.
import * as wf from '@temporalio/workflow';
import type { IncidentActivities } from '../activities/incidents';
import type { CheckActivities } from '../activities/checks';
import type { NotificationActivities } from '../activities/notifications';
import { FailureType } from '../domain/failures';
import {
  incidentRefusal,
  initialIncidentState,
  type ActionItem,
  type CheckName,
  type CheckResult,
  type IncidentRole,
  type IncidentState,
  type Retrospective,
  type TimelineEntry,
  type TimelineKind,
} from '../domain/incident';
import {
  addActionItemUpdate,
  addNoteUpdate,
  assignRoleUpdate,
  changeSeverityUpdate,
  closeUpdate,
  completeStepUpdate,
  incidentStateQuery,
  mitigateUpdate,
  postStatusUpdate,
  resolveUpdate,
  runChecksUpdate,
  skipStepUpdate,
  type Actor,
  type IncidentInput,
} from './incident-messages';

export * from './incident-messages';

/** Continue as new past this many history events, keeping the history well under Temporal's limits. */
export const HISTORY_EVENTS_LIMIT = 4000;

const store = wf.proxyActivities<IncidentActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

const checks = wf.proxyActivities<CheckActivities>({
  startToCloseTimeout: '20 seconds',
  // A check answers now or its answer is stale: one retry, then it is reported as failed.
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
});

function refused(message: string, type: FailureType = FailureType.InvalidTransition): wf.ApplicationFailure {
  return wf.ApplicationFailure.create({ message, type, nonRetryable: true });
}

export async function incidentWorkflow(input: IncidentInput): Promise<IncidentState> {
  const notify = wf.proxyActivities<NotificationActivities>({
    taskQueue: input.notificationsTaskQueue,
    scheduleToCloseTimeout: '1 hour',
    startToCloseTimeout: '30 seconds',
  });
  const s: IncidentState = input.carried ?? initialIncidentState(input.declare);
  const now = () => new Date(Date.now()).toISOString();
  let recorded = s.version; // the newest version the database has
  let writing = false;
  let statusPageDirty = false;
  let changes = 0;
  const pending: Promise<unknown>[] = [];

  function entry(kind: TimelineKind, actor: string, text: string, data?: Record<string, unknown>): TimelineEntry {
    const e: TimelineEntry = { seq: (s.timeline.at(-1)?.seq ?? 0) + 1, at: now(), kind, actor, text, ...(data ? { data } : {}) };
    s.timeline.push(e);
    return e;
  }

  /** Mark the state changed and make sure the newest snapshot reaches the database (coalesced). */
  function changed(affectsStatusPage = false): void {
    s.version++;
    changes++;
    if (affectsStatusPage && !s.drill) statusPageDirty = true;
    if (writing) return;
    writing = true;
    const flush = (async () => {
      while (recorded < s.version) {
        const snapshot = JSON.parse(JSON.stringify(s)) as IncidentState;
        const rebuild = statusPageDirty;
        statusPageDirty = false;
        await store.recordIncident.executeWithOptions(
          { startToCloseTimeout: '15 seconds', retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
            summary: `record v${snapshot.version}: ${snapshot.timeline.at(-1)?.kind ?? ''}` },
          [{ snapshot, rebuildStatusPage: rebuild }],
        );
        recorded = snapshot.version;
      }
      writing = false;
    })();
    pending.push(flush);
  }

  /** Update handlers answer once their change is in the database, so a following GET sees it. */
  async function persisted(): Promise<IncidentState> {
    const v = s.version;
    await wf.condition(() => recorded >= v);
    return s;
  }

  function item(stepId: string) {
    const found = s.checklist.find((c) => c.step.id === stepId);
    if (!found) throw refused(`no step "${stepId}" in this incident's checklist`, FailureType.NotFound);
    return found;
  }

  function assertActive(): void {
    const why = incidentRefusal('act', s.status);
    if (why) throw refused(why);
  }

  async function runAllChecks(actor: string): Promise<void> {
    const autos = s.checklist.filter((c) => c.step.kind === 'auto');
    for (const c of autos) c.state = 'running';
    changed();
    await Promise.all(
      autos.map(async (c) => {
        const name = (c.step as { check: CheckName }).check;
        let result: CheckResult;
        try {
          result = await checks.runCheck.executeWithOptions(
            { startToCloseTimeout: '20 seconds', retry: { maximumAttempts: 2, initialInterval: '1 second' }, summary: `check ${name}` },
            [name],
          );
        } catch (err) {
          result = {
            check: name, status: 'fail', summary: `the check did not complete: ${(err as Error).message}`, evidence: {}, checkedAt: now(),
          };
        }
        c.state = result.status;
        c.result = result;
        c.at = result.checkedAt;
        c.by = actor;
        entry('check', 'system', `${c.step.title}: ${result.status.toUpperCase()} - ${result.summary}`, {
          stepId: c.step.id, check: name, status: result.status, evidence: result.evidence,
        });
        changed();
      }),
    );
  }

  wf.setHandler(incidentStateQuery, () => s);

  wf.setHandler(
    assignRoleUpdate,
    async (a) => {
      const previous = s.roles[a.role];
      const assignment = { role: a.role, holder: a.holder, since: now(), assignedBy: a.actor };
      s.roles[a.role] = assignment;
      s.roleHistory.push(assignment);
      entry(
        'role_assigned',
        a.actor,
        previous ? `${a.role} handed off from ${previous.holder} to ${a.holder}` : `${a.holder} is ${a.role}`,
        { role: a.role, holder: a.holder, previous: previous?.holder ?? null },
      );
      changed();
      return persisted();
    },
    {
      validator: (a: Actor & { role: IncidentRole; holder: string }) => {
        assertActive();
        if (s.roles[a.role]?.holder === a.holder) throw refused(`${a.holder} already holds ${a.role}`);
      },
    },
  );

  wf.setHandler(
    runChecksUpdate,
    async (a) => {
      await runAllChecks(a.actor);
      return persisted();
    },
    {
      validator: (_a: Actor) => {
        assertActive();
        if (s.checklist.some((c) => c.state === 'running')) throw refused('checks are already running');
      },
    },
  );

  wf.setHandler(
    completeStepUpdate,
    async (a) => {
      const c = item(a.stepId);
      c.state = 'done';
      c.by = a.actor;
      c.at = now();
      c.note = a.note;
      entry('step_completed', a.actor, `Step done: ${c.step.title}${a.note ? ` - ${a.note}` : ''}`, { stepId: a.stepId });
      changed();
      return persisted();
    },
    {
      validator: (a: { stepId: string }) => {
        assertActive();
        const c = item(a.stepId);
        if (c.step.kind !== 'manual') throw refused(`step "${a.stepId}" is an automated check: re-run the checks instead`);
        if (c.state !== 'pending') throw refused(`step "${a.stepId}" is already ${c.state}`);
      },
    },
  );

  wf.setHandler(
    skipStepUpdate,
    async (a) => {
      const c = item(a.stepId);
      c.state = 'skipped';
      c.by = a.actor;
      c.at = now();
      c.note = a.reason;
      entry('step_skipped', a.actor, `Step skipped: ${c.step.title} - ${a.reason}`, { stepId: a.stepId });
      changed();
      return persisted();
    },
    {
      validator: (a: { stepId: string }) => {
        assertActive();
        const c = item(a.stepId);
        if (c.state === 'done' || c.state === 'skipped') throw refused(`step "${a.stepId}" is already ${c.state}`);
        if (c.state === 'running') throw refused(`step "${a.stepId}" is running`);
      },
    },
  );

  wf.setHandler(
    addNoteUpdate,
    async (a) => {
      entry('note', a.actor, a.text);
      changed();
      return persisted();
    },
    { validator: (_a: Actor & { text: string }) => assertActive() },
  );

  wf.setHandler(
    postStatusUpdate,
    async (a) => {
      s.publicUpdates.push({ at: now(), message: a.message, componentStates: a.componentStates, by: a.actor });
      entry('status_update', a.actor, `Public update: ${a.message}`, { componentStates: a.componentStates });
      changed(true);
      return persisted();
    },
    {
      validator: (a: { componentStates: Record<string, unknown> }) => {
        assertActive();
        if (s.status === 'RESOLVED') throw refused('the incident is resolved: public updates are closed');
        const unknown = Object.keys(a.componentStates).filter((c) => !s.components.includes(c));
        if (unknown.length) throw refused(`components not affected by this incident: ${unknown.join(', ')}`, FailureType.ValidationFailed);
      },
    },
  );

  wf.setHandler(
    changeSeverityUpdate,
    async (a) => {
      const from = s.severity;
      s.severity = a.severity;
      entry('severity_changed', a.actor, `Severity ${from} -> ${a.severity}${a.reason ? `: ${a.reason}` : ''}`, { from, to: a.severity });
      changed(true);
      return persisted();
    },
    {
      validator: (a: { severity: string }) => {
        assertActive();
        if (a.severity === s.severity) throw refused(`the severity is already ${a.severity}`);
      },
    },
  );

  wf.setHandler(
    mitigateUpdate,
    async (a) => {
      s.status = 'MITIGATED';
      s.mitigatedAt = now();
      entry('mitigated', a.actor, `Mitigated${a.note ? `: ${a.note}` : ''}`);
      changed(true);
      return persisted();
    },
    {
      validator: (_a: Actor) => {
        const why = incidentRefusal('mitigate', s.status);
        if (why) throw refused(why);
      },
    },
  );

  wf.setHandler(
    resolveUpdate,
    async (a) => {
      s.status = 'RESOLVED';
      s.resolvedAt = now();
      s.resolutionSummary = a.summary;
      entry('resolved', a.actor, `Resolved: ${a.summary}`);
      changed(true);
      return persisted();
    },
    {
      validator: (_a: Actor & { summary: string }) => {
        const why = incidentRefusal('resolve', s.status);
        if (why) throw refused(why);
      },
    },
  );

  wf.setHandler(
    addActionItemUpdate,
    async (a) => {
      const ai: ActionItem = {
        id: `ai-${s.actionItems.length + 1}`, title: a.title, owner: a.owner, dueDate: a.dueDate, createdAt: now(), createdBy: a.actor,
      };
      s.actionItems.push(ai);
      entry('action_item', a.actor, `Action item for ${a.owner} (due ${a.dueDate}): ${a.title}`, { actionItemId: ai.id });
      changed();
      return persisted();
    },
    {
      validator: (_a: Actor & { title: string; owner: string; dueDate: string }) => {
        const why = incidentRefusal('action_item', s.status);
        if (why) throw refused(why);
      },
    },
  );

  wf.setHandler(
    closeUpdate,
    async (a) => {
      s.retrospective = { ...s.retrospective, ...a.retrospective };
      s.status = 'CLOSED';
      s.closedAt = now();
      entry('closed', a.actor, 'Post-mortem done; incident closed');
      changed(true);
      return persisted();
    },
    {
      validator: (_a: Actor & { retrospective?: Retrospective }) => {
        const why = incidentRefusal('close', s.status);
        if (why) throw refused(why);
      },
    },
  );

  if (!input.carried) {
    changed();
    // The system checklist first, like a pilot's: every automated check runs at once on declare.
    pending.push(runAllChecks('system'));
  }

  // The clock: escalate manual steps whose time limit passed; continue as new before history grows big.
  while (s.status !== 'CLOSED') {
    const t = Date.now();
    for (const c of s.checklist) {
      if (c.dueAt && !c.escalatedAt && c.state === 'pending' && Date.parse(c.dueAt) <= t) {
        c.escalatedAt = now();
        const roles = ['commander', 'deputy'] as const;
        const to = roles.map((r) => s.roles[r]?.holder ?? `${r} (unassigned)`);
        entry('escalation', 'system', `Escalated: "${c.step.title}" not done by ${c.dueAt}; notified ${to.join(' and ')}`, {
          stepId: c.step.id, notified: to,
        });
        changed();
        for (const [i, recipient] of to.entries()) {
          pending.push(
            notify.sendNotification({
              // Keyed by role: one person holding both roles still gets both messages.
              idempotencyKey: `${s.workflowId}:escalation:${c.step.id}:${roles[i]}`,
              kind: 'incident.escalation',
              channel: 'outbox',
              recipient,
              payload: { incidentId: s.incidentId, stepId: c.step.id, step: c.step.title, severity: s.severity, drill: s.drill },
            }).catch(() => undefined),
          );
        }
      }
    }
    if (wf.workflowInfo().historyLength > HISTORY_EVENTS_LIMIT || wf.workflowInfo().continueAsNewSuggested) {
      await wf.condition(() => wf.allHandlersFinished() && !writing);
      await Promise.all(pending);
      await wf.continueAsNew<typeof incidentWorkflow>({ ...input, carried: s });
    }
    const next = s.checklist
      .filter((c) => c.dueAt && !c.escalatedAt && c.state === 'pending')
      .sort((x, y) => Date.parse(x.dueAt!) - Date.parse(y.dueAt!))[0];
    const seen = changes;
    if (next) {
      await wf.condition(() => changes !== seen, Math.max(1, Date.parse(next.dueAt!) - t), {
        summary: `escalate "${next.step.title}" at ${next.dueAt}`,
      });
    } else {
      await wf.condition(() => changes !== seen);
    }
  }

  await wf.condition(() => wf.allHandlersFinished() && !writing);
  await Promise.all(pending);
  return s;
}
