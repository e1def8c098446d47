// The stuck-work watchdog's vocabulary: what it looks for, what a finding says, and its settings.
// Pure and workflow-safe (the watchdog workflow imports the types).
import type { Severity } from './incident';

/**
 * - booking_not_started: CONFIRMED past startsAt + grace (the start never happened or was never written).
 * - booking_not_ended: ONGOING past endsAt + grace without going OVERDUE (or NO_SHOW).
 * - booking_workflow_not_running: the row is in an active status but its workflow is closed or gone,
 *   so no timer will ever move it.
 * - activity_retrying: a running workflow's activity at attempt >= maxAttempts (e.g. a transition that
 *   cannot be written).
 * - campaign_stalled: a RUNNING campaign with deliveries due whose counters have not moved for a while.
 * - campaign_workflow_not_running: a SCHEDULED, RUNNING or PAUSED campaign whose workflow is closed or
 *   gone, so nothing will ever send the rest or close the row (services/watchdog-campaigns.ts).
 * - incident_workflow_gone: an incident row is OPEN or MITIGATED but its workflow has ended (terminated,
 *   failed, timed out...) or does not exist, so no action on it can succeed (services/watchdog-incidents.ts).
 * - booking_write_conflict: a booking write refused within the lookback window because the row was not
 *   at the status and version its workflow expected (a stray or revived run); that run has failed.
 */
export const STUCK_KINDS = [
  'booking_not_started',
  'booking_not_ended',
  'booking_workflow_not_running',
  'activity_retrying',
  'campaign_stalled',
  'campaign_workflow_not_running',
  'incident_workflow_gone',
  'booking_write_conflict',
] as const;
export type StuckKind = (typeof STUCK_KINDS)[number];

export interface StuckFinding {
  kind: StuckKind;
  /** The stuck thing: a booking id, a campaign id, or `<workflowId>/<activityId>` for an activity. */
  id: string;
  /** When it should have moved (null when Temporal does not tell, e.g. a retrying activity's first attempt). */
  since: string | null;
  ageMs: number | null;
  summary: string;
  evidence: Record<string, unknown>;
  /** The workflow to open in the Temporal Web UI, and the UI's path for it. */
  workflowId: string;
  link: string;
}

export interface DetectorError {
  detector: string;
  error: string;
}

export interface StuckReport {
  startedAt: string;
  checkedAt: string;
  /** Up to `limitPerKind` findings of each kind, oldest first. */
  stuck: StuckFinding[];
  /** Findings per kind before the cap (campaigns and activities: among the candidates examined). */
  counts: Record<StuckKind, number>;
  /** Detectors that could not finish: their kinds may be under-reported in this run. */
  errors: DetectorError[];
}

export interface WatchdogSettings {
  /** How late a timed transition may be before it counts as stuck (KEEL_WATCHDOG_GRACE). */
  graceMs: number;
  /** A pending activity at this attempt or later is reported (KEEL_WATCHDOG_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** A RUNNING campaign whose counters have not moved this long is stalled (KEEL_WATCHDOG_CAMPAIGN_STALL). */
  campaignStallMs: number;
  /** Findings listed per kind (the counts say how many there are in all). */
  limitPerKind: number;
  /** Workflows described per run, at most: the bound on the watchdog's calls to Temporal. */
  describeLimit: number;
  /** How far back a run looks for booking workflows that closed abnormally and for refused booking writes. */
  closedLookbackMs: number;
  /** Bound on each database or Temporal call. */
  callTimeoutMs: number;
  /** Severity of the incident opened when something is stuck (KEEL_WATCHDOG_SEVERITY). */
  incidentSeverity: Severity;
  /** Incidents the watchdog opens are drills (KEEL_WATCHDOG_DRILL, set by `npm run drill`): kept off the status page. */
  drill: boolean;
}

export const DEFAULT_WATCHDOG_SETTINGS: WatchdogSettings = {
  graceMs: 2 * 60_000,
  maxAttempts: 5,
  campaignStallMs: 5 * 60_000,
  limitPerKind: 100,
  describeLimit: 50,
  closedLookbackMs: 15 * 60_000,
  callTimeoutMs: 5_000,
  incidentSeverity: 'SEV3',
  drill: false,
};

/** While this incident is open, every watchdog run finds it instead of opening another. */
export const WATCHDOG_DEDUPE_KEY = 'watchdog:stuck-work';
export const WATCHDOG_INCIDENT_TITLE = 'Stuck work detected';

/** What the watchdog workflow returns (and keeps in its short history): the findings live in the database. */
export interface WatchdogRunSummary {
  runId: string;
  checkedAt: string;
  stuck: number;
  counts: Record<StuckKind, number>;
  errors: number;
  incidentId: string | null;
}

export function emptyCounts(): Record<StuckKind, number> {
  return Object.fromEntries(STUCK_KINDS.map((k) => [k, 0])) as Record<StuckKind, number>;
}
