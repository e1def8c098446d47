// An incident: one workflow per incident, id `incident-<id>`, task queue `incidents`.
//
// The commander steps through it with updates (each validated, so a refused action leaves no trace but
// the API's 409). Every action lands in the timeline. Each change goes to PostgreSQL as that change only
// (what it set, the checklist items it touched, the entries it appended: domain/incident.ts
// IncidentChange), by an idempotent activity that applies it; the database holds the whole record and
// the workflow keeps only the last few entries of each growing list (RECENT_IN_WORKFLOW), so its state,
// its answers, each activity input and its continue-as-new input stay bounded however many notes an
// incident gets. The changes in the history are the record too: scripts/postmortem.ts folds them.
// Manual steps with a time limit have a durable timer each (visible in the Web UI) that escalates to
// the commander and deputy.
import * as wf from '@temporalio/workflow';
import type { IncidentActivities } from '../activities/incidents';
import type { CheckActivities } from '../activities/checks';
import type { NotificationActivities } from '../activities/notifications';
import { FailureType } from '../domain/failures';
import {
  INCIDENT_SET_FIELDS,
  RECENT_IN_WORKFLOW,
  incidentRefusal,
  initialIncidentState,
  type ActionItem,
  type IncidentAppendField,
  type IncidentChange,
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
  type IncidentAck,
  type IncidentInput,
} from './incident-messages';

export * from './incident-messages';

/** Continue as new past this many history events (default; IncidentInput.historyEventsLimit overrides). */
export const HISTORY_EVENTS_LIMIT = 4000;

/**
 * Changes batched into one record activity, at most this many characters of JSON (one change alone may
 * exceed it: a close with a long retrospective, about 41k characters at most).
 */
export const RECORD_BATCH_CHARS = 16_000;

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
  const historyEventsLimit = input.historyEventsLimit ?? HISTORY_EVENTS_LIMIT;
  let actionItemCount = input.actionItemCount ?? s.actionItems.length;
  const now = () => new Date(Date.now()).toISOString();
  let recorded = s.version; // the newest version the database has
  let writing = false;
  let changes = 0;
  const pending: Promise<unknown>[] = [];
  /** Changes not yet handed to the record activity, oldest first. */
  const queue: Array<{ change: IncidentChange; statusPage: boolean }> = [];
  /** What the last change left, per set field and checklist item: the next change carries what differs. */
  const fieldJson = (k: (typeof INCIDENT_SET_FIELDS)[number]) => JSON.stringify(s[k] ?? null);
  const shadow = {
    fields: new Map(INCIDENT_SET_FIELDS.map((k) => [k, fieldJson(k)])),
    checklist: s.checklist.map((c) => JSON.stringify(c)),
  };
  let appended: Partial<Pick<IncidentChange, IncidentAppendField>> = {};

  /** Append to a growing list: the change carries it, the workflow keeps only the last few. */
  function append<K extends IncidentAppendField>(key: K, value: IncidentState[K][number]): void {
    const list = s[key] as Array<IncidentState[K][number]>;
    list.push(value);
    if (list.length > RECENT_IN_WORKFLOW) list.splice(0, list.length - RECENT_IN_WORKFLOW);
    ((appended[key] ??= []) as Array<IncidentState[K][number]>).push(value);
  }

  function entry(kind: TimelineKind, actor: string, text: string, data?: Record<string, unknown>): TimelineEntry {
    const e: TimelineEntry = { seq: (s.timeline.at(-1)?.seq ?? 0) + 1, at: now(), kind, actor, text, ...(data ? { data } : {}) };
    append('timeline', e);
    return e;
  }

  /** Mark the state changed and queue the change for the database (batched, in order). */
  function changed(affectsStatusPage = false): void {
    s.version++;
    changes++;
    const change: IncidentChange = { version: s.version, ...appended };
    appended = {};
    for (const k of INCIDENT_SET_FIELDS) {
      const j = fieldJson(k);
      if (j === shadow.fields.get(k)) continue;
      shadow.fields.set(k, j);
      (change.set ??= {})[k] = JSON.parse(j) as never;
    }
    s.checklist.forEach((c, index) => {
      const j = JSON.stringify(c);
      if (j === shadow.checklist[index]) return;
      shadow.checklist[index] = j;
      (change.checklist ??= []).push({ index, item: JSON.parse(j) as typeof c });
    });
    queue.push({ change, statusPage: affectsStatusPage && !s.drill });
    if (writing) return;
    writing = true;
    const flush = (async () => {
      while (queue.length) {
        let size = 0;
        let n = 0;
        while (n < queue.length && (n === 0 || size + JSON.stringify(queue[n].change).length <= RECORD_BATCH_CHARS)) {
          size += JSON.stringify(queue[n].change).length;
          n++;
        }
        const batch = queue.splice(0, n);
        const last = batch[batch.length - 1].change;
        const kinds = [...new Set(batch.flatMap((b) => (b.change.timeline ?? []).map((e) => e.kind)))].join(', ');
        await store.recordIncidentChanges.executeWithOptions(
          { startToCloseTimeout: '15 seconds', retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
            summary: `record v${batch[0].change.version}${batch.length > 1 ? `-v${last.version}` : ''}${kinds ? `: ${kinds}` : ''}` },
          [{ incidentId: s.incidentId, drill: s.drill, changes: batch.map((b) => b.change), rebuildStatusPage: batch.some((b) => b.statusPage) }],
        );
        recorded = last.version;
      }
      writing = false;
    })().catch(() => {
      // Only a cancelled workflow gets here (the activity retries without limit otherwise): the main
      // loop ends the run as CANCELLED; left unhandled, the rejection would fail workflow tasks first.
    });
    pending.push(flush);
  }

  /** Update handlers answer once their change is in the database, so a following GET sees it. */
  async function persisted(): Promise<IncidentAck> {
    const v = s.version;
    await wf.condition(() => recorded >= v);
    return { incidentId: s.incidentId, version: v };
  }

  /**
   * Set when the run is to continue as new: validators then reject every update (the gateway sends it
   * again to the next run), so the handlers in flight can finish however busy the incident is.
   */
  let draining = false;
  function admit(): void {
    if (draining) throw refused('the incident workflow is continuing as new: send again', FailureType.ContinuingAsNew);
  }

  function item(stepId: string) {
    const found = s.checklist.find((c) => c.step.id === stepId);
    if (!found) throw refused(`no step "${stepId}" in this incident's checklist`, FailureType.NotFound);
    return found;
  }

  function assertActive(): void {
    admit();
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
      s.roles = { ...s.roles, [a.role]: assignment };
      append('roleHistory', assignment);
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
      append('publicUpdates', { at: now(), message: a.message, componentStates: a.componentStates, by: a.actor });
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
        admit();
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
        admit();
        const why = incidentRefusal('resolve', s.status);
        if (why) throw refused(why);
      },
    },
  );

  wf.setHandler(
    addActionItemUpdate,
    async (a) => {
      const ai: ActionItem = {
        id: `ai-${++actionItemCount}`, title: a.title, owner: a.owner, dueDate: a.dueDate, createdAt: now(), createdBy: a.actor,
      };
      append('actionItems', ai);
      entry('action_item', a.actor, `Action item for ${a.owner} (due ${a.dueDate}): ${a.title}`, { actionItemId: ai.id });
      changed();
      return persisted();
    },
    {
      validator: (_a: Actor & { title: string; owner: string; dueDate: string }) => {
        admit();
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
        admit();
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
    if (wf.workflowInfo().historyLength > historyEventsLimit || wf.workflowInfo().continueAsNewSuggested) {
      draining = true;
      await wf.condition(() => wf.allHandlersFinished() && !writing);
      await Promise.all(pending);
      // Bounded: the declaration, the checklist, the roles and the last few entries of each list.
      await wf.continueAsNew<typeof incidentWorkflow>({ ...input, carried: s, actionItemCount });
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
