// Incidents: the shapes and pure rules shared by the incident workflow, the API, the status page and
// the post-mortem generator. Workflow-safe: no I/O, no clock.

export const SEVERITIES = ['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const INCIDENT_ROLES = ['commander', 'deputy', 'communications', 'operations', 'scribe'] as const;
export type IncidentRole = (typeof INCIDENT_ROLES)[number];

/** ABANDONED: its workflow ended without closing it (terminated, failed, timed out, cancelled) or is gone. */
export const INCIDENT_STATUSES = ['OPEN', 'MITIGATED', 'RESOLVED', 'CLOSED', 'ABANDONED'] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const COMPONENT_STATES = ['operational', 'degraded', 'partial_outage', 'major_outage'] as const;
export type ComponentState = (typeof COMPONENT_STATES)[number];

export const CHECK_NAMES = [
  'database',
  'temporal',
  'pollers',
  'bookings_not_started',
  'notification_backlog',
  'api_error_rate',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  check: CheckName;
  status: CheckStatus;
  /** One line for humans: "3 bookings should have started: b1, b2, b3". */
  summary: string;
  /** Counts, ids, latencies: what the summary is based on. */
  evidence: Record<string, unknown>;
  checkedAt: string;
}

export interface AutoStep {
  id: string;
  kind: 'auto';
  title: string;
  check: CheckName;
}

export interface ManualStep {
  id: string;
  kind: 'manual';
  title: string;
  instructions: string;
  role: IncidentRole;
  /** Escalate to commander and deputy when not done within this long after declaration. */
  timeLimitMs?: number;
}

export type RunbookStep = AutoStep | ManualStep;

/** The checklist for one severity, as loaded from runbooks/ when the incident was declared. */
export interface RunbookSnapshot {
  severity: Severity;
  /** `<declared version>+<sha256 prefix of the file>`: changes whenever the file does. */
  version: string;
  steps: RunbookStep[];
}

export type StepState = 'pending' | 'running' | 'ok' | 'warn' | 'fail' | 'done' | 'skipped';

export interface ChecklistItem {
  step: RunbookStep;
  state: StepState;
  /** Latest automated result, for auto steps. */
  result?: CheckResult;
  by?: string;
  at?: string;
  note?: string;
  /** ISO time after which the step escalates (manual steps with a time limit). */
  dueAt?: string;
  escalatedAt?: string;
}

export type TimelineKind =
  | 'declared'
  | 'check'
  | 'step_completed'
  | 'step_skipped'
  | 'escalation'
  | 'role_assigned'
  | 'note'
  | 'status_update'
  | 'severity_changed'
  | 'mitigated'
  | 'resolved'
  | 'action_item'
  | 'closed'
  | 'abandoned';

export interface TimelineEntry {
  seq: number;
  at: string;
  kind: TimelineKind;
  /** `system` for the workflow itself; `<role>:<key id>` or a named person for API callers. */
  actor: string;
  text: string;
  data?: Record<string, unknown>;
}

export interface RoleAssignment {
  role: IncidentRole;
  holder: string;
  since: string;
  assignedBy: string;
}

export interface PublicUpdate {
  at: string;
  message: string;
  componentStates: Record<string, ComponentState>;
  by: string;
}

export interface ActionItem {
  id: string;
  title: string;
  owner: string;
  dueDate: string;
  createdAt: string;
  createdBy: string;
}

export const RETROSPECTIVE_SECTIONS = ['impact', 'whatWentWell', 'whatWasHard', 'whereWeGotLucky', 'contributingFactors'] as const;
export type Retrospective = Partial<Record<(typeof RETROSPECTIVE_SECTIONS)[number], string>>;

export interface IncidentState {
  incidentId: string;
  workflowId: string;
  title: string;
  severity: Severity;
  status: IncidentStatus;
  components: string[];
  summary?: string;
  drill: boolean;
  dedupeKey?: string;
  declaredAt: string;
  declaredBy: string;
  mitigatedAt?: string;
  resolvedAt?: string;
  closedAt?: string;
  resolutionSummary?: string;
  /** Set when the incident was found with its workflow ended or gone (status ABANDONED). */
  abandonedAt?: string;
  abandonedReason?: string;
  runbook: { severity: Severity; version: string };
  /** Current holders. */
  roles: Partial<Record<IncidentRole, RoleAssignment>>;
  /** Every assignment ever, in order: the chain of command. */
  roleHistory: RoleAssignment[];
  checklist: ChecklistItem[];
  /**
   * In the database and the API: the newest entries (GET /v1/incidents/:id/timeline pages all of
   * them, `timelineTotal` counts them). In the workflow: only the last few (RECENT_IN_WORKFLOW).
   */
  timeline: TimelineEntry[];
  timelineTotal?: number;
  publicUpdates: PublicUpdate[];
  actionItems: ActionItem[];
  /** The blameless review's sections, written at close (or any time before). */
  retrospective: Retrospective;
  /** Bumped on every change; the database keeps only the newest snapshot. */
  version: number;
}

export function workflowIdForIncident(incidentId: string): string {
  return `incident-${incidentId}`;
}

/** An incident counts as open (for dedupe and `?status=open`) until it is resolved. */
export function isOpen(status: IncidentStatus): boolean {
  return status === 'OPEN' || status === 'MITIGATED';
}

const STATE_RANK: Record<ComponentState, number> = { operational: 0, degraded: 1, partial_outage: 2, major_outage: 3 };

export function worstState(states: ComponentState[]): ComponentState {
  return states.reduce<ComponentState>((w, s) => (STATE_RANK[s] > STATE_RANK[w] ? s : w), 'operational');
}

/** Why an action is refused in the current state, or null when allowed. */
export function incidentRefusal(
  action: 'act' | 'mitigate' | 'resolve' | 'action_item' | 'close',
  status: IncidentStatus,
): string | null {
  switch (action) {
    case 'act':
      return status === 'CLOSED' || status === 'ABANDONED' ? `the incident is ${status}` : null;
    case 'mitigate':
      return status === 'OPEN' ? null : `only an OPEN incident can be marked mitigated (it is ${status})`;
    case 'resolve':
      return isOpen(status) ? null : `the incident is already ${status}`;
    case 'action_item':
      return status === 'CLOSED' || status === 'ABANDONED' ? `the incident is ${status}` : null;
    case 'close':
      return status === 'RESOLVED' ? null : `only a RESOLVED incident can be closed (it is ${status})`;
  }
}

export interface DeclareIncident {
  incidentId: string;
  title: string;
  severity: Severity;
  components: string[];
  summary?: string;
  drill: boolean;
  dedupeKey?: string;
  declaredAt: string;
  declaredBy: string;
  runbook: RunbookSnapshot;
}

/**
 * The state an incident starts in. The API writes it as the row's first snapshot and the workflow
 * starts from it, so both agree before the first activity runs.
 */
export function initialIncidentState(d: DeclareIncident): IncidentState {
  const declaredMs = Date.parse(d.declaredAt);
  return {
    incidentId: d.incidentId,
    workflowId: workflowIdForIncident(d.incidentId),
    title: d.title,
    severity: d.severity,
    status: 'OPEN',
    components: d.components,
    summary: d.summary,
    drill: d.drill,
    dedupeKey: d.dedupeKey,
    declaredAt: d.declaredAt,
    declaredBy: d.declaredBy,
    runbook: { severity: d.runbook.severity, version: d.runbook.version },
    roles: {},
    roleHistory: [],
    checklist: d.runbook.steps.map((step) => ({
      step,
      state: 'pending',
      ...(step.kind === 'manual' && step.timeLimitMs !== undefined
        ? { dueAt: new Date(declaredMs + step.timeLimitMs).toISOString() }
        : {}),
    })),
    timeline: [
      {
        seq: 1,
        at: d.declaredAt,
        kind: 'declared',
        actor: d.declaredBy,
        text: `${d.drill ? 'DRILL: ' : ''}${d.severity} declared: ${d.title}`,
        data: { components: d.components, runbookVersion: d.runbook.version, ...(d.summary ? { summary: d.summary } : {}) },
      },
    ],
    publicUpdates: [],
    actionItems: [],
    retrospective: {},
    version: 0,
  };
}

/**
 * How many entries of each growing list (timeline, role history, public updates, action items) the
 * workflow keeps in its own state: the database keeps them all. Keeps the workflow's state, its query
 * and update answers and its continue-as-new input bounded however long the incident runs.
 */
export const RECENT_IN_WORKFLOW = 5;

/** Fields a change sets as a whole (each is bounded: scalars, the five roles, the retrospective). */
export const INCIDENT_SET_FIELDS = [
  'title', 'severity', 'status', 'summary', 'mitigatedAt', 'resolvedAt', 'closedAt', 'resolutionSummary', 'roles', 'retrospective',
] as const;
export type IncidentSetField = (typeof INCIDENT_SET_FIELDS)[number];

/** The growing lists: a change appends to them, never rewrites them. */
export const INCIDENT_APPEND_FIELDS = ['timeline', 'roleHistory', 'publicUpdates', 'actionItems'] as const;
export type IncidentAppendField = (typeof INCIDENT_APPEND_FIELDS)[number];

/**
 * One change of an incident, as the workflow hands it to its record activity: what it sets, the
 * checklist items it touched, the entries it appends. Never the whole state, so a write costs the
 * change, not the incident's size. `version` is the state's version after the change.
 */
export interface IncidentChange {
  version: number;
  set?: Partial<Pick<IncidentState, IncidentSetField>>;
  checklist?: Array<{ index: number; item: ChecklistItem }>;
  timeline?: TimelineEntry[];
  roleHistory?: RoleAssignment[];
  publicUpdates?: PublicUpdate[];
  actionItems?: ActionItem[];
}

/**
 * Apply a change to a state, in place: the database (db/incident-store.ts) and the post-mortem from
 * Temporal's history (scripts/postmortem.ts) fold the same changes with this one function. An older
 * or repeated version is ignored.
 */
export function applyIncidentChange(s: IncidentState, c: IncidentChange): boolean {
  if (c.version <= s.version) return false;
  for (const [k, v] of Object.entries(c.set ?? {})) {
    if (v === undefined || v === null) delete (s as unknown as Record<string, unknown>)[k];
    else (s as unknown as Record<string, unknown>)[k] = v;
  }
  for (const { index, item } of c.checklist ?? []) s.checklist[index] = item;
  s.timeline.push(...(c.timeline ?? []));
  s.roleHistory.push(...(c.roleHistory ?? []));
  s.publicUpdates.push(...(c.publicUpdates ?? []));
  s.actionItems.push(...(c.actionItems ?? []));
  s.version = c.version;
  return true;
}
