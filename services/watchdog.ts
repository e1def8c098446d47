// The stuck-work watchdog: finds work that should have moved and has not, stores each run's findings
// and, when something is stuck, opens ONE incident (dedupe key `watchdog:stuck-work`) through the same
// declare path as the API. Run every minute by the Temporal Schedule `stuck-work-watchdog` (its
// activity calls runWatchdog); GET /v1/health/stuck?fresh=true calls detectStuckWork directly.
//
// Every query is bounded, so a run costs the same whatever the size of the tables:
//  - bookings CONFIRMED past start + grace: the (status, starts_at) index, only stuck rows are read;
//  - bookings ONGOING past end + grace: the same index yields the ONGOING rows, which are at most one
//    per car (overlaps are refused), so no index on ends_at is needed;
//  - workflows not running / activities retrying: Temporal has no query for "pending activity with
//    attempt >= N" nor a join with our rows, so a run describes a bounded set of candidates
//    (`describeLimit`, oldest first): the workflows of the stuck booking rows above, running bookings
//    whose NextTransitionAt search attribute is past, RUNNING campaigns and open incidents. On top, one
//    visibility query lists booking workflows that closed abnormally (terminated, failed, timed out,
//    cancelled) within `closedLookbackMs` and checks their rows: that finds a killed workflow before
//    its booking is even due. A retrying activity in a workflow that is none of these (e.g. a connect
//    write on a booking not yet due) is not seen until it becomes one;
//  - campaign rows SCHEDULED/RUNNING/PAUSED whose workflow is closed or gone: services/watchdog-campaigns.ts;
//  - refused booking writes (booking_write_conflicts, recorded by the compare-and-set in
//    db/booking-store.ts) within `closedLookbackMs`: the (at) index, at most limitPerKind rows read;
//  - campaigns RUNNING whose row has not changed for `campaignStallMs` (counters move with every
//    chunk of sends, in the same transaction, db/campaign-store.ts) and that have a delivery due now:
//    one indexed EXISTS per candidate, so a campaign waiting out quiet hours is not "stalled".
// A detector that fails (database or Temporal unreachable) is reported in `errors`; the others still run.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Env } from '../config/env';
import type { Db } from '../db/client';
import { saveWatchdogRun } from '../db/watchdog-store';
import { NextTransitionAtKey } from '../domain/search-attributes';
import { taskQueue } from '../domain/task-queues';
import {
  DEFAULT_WATCHDOG_SETTINGS,
  WATCHDOG_DEDUPE_KEY,
  WATCHDOG_INCIDENT_TITLE,
  emptyCounts,
  type DetectorError,
  type StuckFinding,
  type StuckKind,
  type StuckReport,
  type WatchdogRunSummary,
  type WatchdogSettings,
} from '../domain/watchdog';
import { errorReason, within } from './bounded';
import { systemContext, type ServiceSettings, type Services } from './context';
import { declareIncident, type IncidentServices } from './incidents';
import { campaignWorkflowsNotRunning } from './watchdog-campaigns';
import { describeWith, findIncidentsWithoutWorkflow } from './watchdog-incidents';

export interface DetectDeps {
  db: Db;
  client: Client;
  taskQueuePrefix?: string;
  settings?: Partial<WatchdogSettings>;
}

/**
 * What a run needs of its process (the ops worker builds these in workers/create.ts): the incident
 * verbs' services, the watchdog's thresholds and a logger for its findings.
 */
export type WatchdogServices = IncidentServices & Pick<Services, 'logger'> & { settings: Pick<ServiceSettings, 'watchdog'> };

const reason = errorReason;

/** google.protobuf.Timestamp -> Date (Long or number seconds). */
function protoDate(t: { seconds?: unknown; nanos?: number | null } | null | undefined): Date | undefined {
  if (!t || t.seconds === null || t.seconds === undefined) return undefined;
  const s = t.seconds as number | string | { toNumber(): number };
  const seconds = typeof s === 'object' ? s.toNumber() : Number(s);
  return new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
}

const ACTIVE_BOOKING = ['CONFIRMED', 'ONGOING', 'OVERDUE'];
const ABNORMAL_CLOSE = ['Terminated', 'Failed', 'TimedOut', 'Canceled'];

interface Candidate {
  workflowId: string;
  /** The booking whose row is active (for "workflow not running"), if the candidate is a booking. */
  bookingId?: string;
  bookingStatus?: string;
  /** When the candidate should have moved, for ordering: oldest first. */
  dueAt: number;
}

export async function detectStuckWork(deps: DetectDeps, now: Date = new Date()): Promise<StuckReport> {
  const t: WatchdogSettings = { ...DEFAULT_WATCHDOG_SETTINGS, ...deps.settings };
  const { db, client } = deps;
  const namespace = client.options.namespace;
  const link = (workflowId: string) => `/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  const cutoff = new Date(now.getTime() - t.graceMs);
  const startedAt = now.toISOString();
  const counts = emptyCounts();
  const findings: StuckFinding[] = [];
  const errors: DetectorError[] = [];
  const candidates = new Map<string, Candidate>();
  const addCandidate = (c: Candidate) => {
    const had = candidates.get(c.workflowId);
    if (!had || (c.bookingId && !had.bookingId)) candidates.set(c.workflowId, c);
  };
  const found = (f: Omit<StuckFinding, 'link' | 'ageMs'>) => {
    findings.push({ ...f, ageMs: f.since === null ? null : Math.max(0, now.getTime() - Date.parse(f.since)), link: link(f.workflowId) });
  };
  const temporal = <R>(what: string, fn: () => Promise<R>) =>
    within(t.callTimeoutMs + 500, what, () => client.withDeadline(Date.now() + t.callTimeoutMs, fn));
  const sql = <R>(what: string, fn: () => Promise<R>) => within(t.callTimeoutMs, what, fn);
  const detector = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors.push({ detector: name, error: reason(err) });
    }
  };
  const bookingsQueue = taskQueue('bookings', deps.taskQueuePrefix);
  const ageText = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

  // Rows first: they are both findings and the first candidates to describe.
  await detector('bookings_not_started', async () => {
    const where = { status: 'CONFIRMED' as const, startsAt: { lt: cutoff } };
    const [count, rows] = await sql('bookings query', () =>
      db.$transaction([
        db.booking.count({ where }),
        db.booking.findMany({ where, orderBy: { startsAt: 'asc' }, take: t.limitPerKind, select: { id: true, startsAt: true, workflowId: true, carId: true } }),
      ]),
    );
    counts.booking_not_started = count;
    for (const b of rows) {
      found({
        kind: 'booking_not_started', id: b.id, since: b.startsAt.toISOString(), workflowId: b.workflowId,
        summary: `booking ${b.id} should have started ${ageText(now.getTime() - b.startsAt.getTime())} ago and is still CONFIRMED`,
        evidence: { status: 'CONFIRMED', startsAt: b.startsAt.toISOString(), carId: b.carId, graceMs: t.graceMs },
      });
      addCandidate({ workflowId: b.workflowId, bookingId: b.id, bookingStatus: 'CONFIRMED', dueAt: b.startsAt.getTime() });
    }
  });

  await detector('bookings_not_ended', async () => {
    const where = { status: 'ONGOING' as const, endsAt: { lt: cutoff } };
    const [count, rows] = await sql('bookings query', () =>
      db.$transaction([
        db.booking.count({ where }),
        db.booking.findMany({ where, orderBy: { endsAt: 'asc' }, take: t.limitPerKind, select: { id: true, endsAt: true, workflowId: true, carId: true, connectedAt: true } }),
      ]),
    );
    counts.booking_not_ended = count;
    for (const b of rows) {
      found({
        kind: 'booking_not_ended', id: b.id, since: b.endsAt.toISOString(), workflowId: b.workflowId,
        summary: `booking ${b.id} ended ${ageText(now.getTime() - b.endsAt.getTime())} ago and is still ONGOING (never went OVERDUE)`,
        evidence: { status: 'ONGOING', endsAt: b.endsAt.toISOString(), connectedAt: b.connectedAt?.toISOString() ?? null, carId: b.carId, graceMs: t.graceMs },
      });
      addCandidate({ workflowId: b.workflowId, bookingId: b.id, bookingStatus: 'ONGOING', dueAt: b.endsAt.getTime() });
    }
  });

  await detector('bookings_transition_overdue', async () => {
    // The workflow's own view: its next timed transition was due and has not happened (e.g. the
    // bookings worker is down). Candidates to describe; the row detectors above already list them.
    const query = `TaskQueue = '${bookingsQueue}' AND ExecutionStatus = 'Running' AND NextTransitionAt < '${cutoff.toISOString()}'`;
    await temporal('list overdue booking workflows', async () => {
      for await (const w of client.workflow.list({ query, pageSize: t.describeLimit })) {
        const due = w.typedSearchAttributes.get(NextTransitionAtKey);
        addCandidate({ workflowId: w.workflowId, dueAt: due ? due.getTime() : now.getTime() });
        if (candidates.size >= t.describeLimit * 2) break;
      }
    });
  });

  await detector('booking_write_conflicts', async () => {
    // A run that is not the booking's (revived after retention, started by hand) tried to move it and
    // was refused: the row is safe, but the run failed and someone should know why it existed.
    const where = { at: { gt: new Date(now.getTime() - t.closedLookbackMs) } };
    const [count, rows] = await sql('booking write conflicts query', () =>
      db.$transaction([
        db.bookingWriteConflict.count({ where }),
        db.bookingWriteConflict.findMany({ where, orderBy: { at: 'asc' }, take: t.limitPerKind }),
      ]),
    );
    counts.booking_write_conflict = count;
    for (const c of rows) {
      const expected = `${c.expectedStatus} at version ${c.expectedVersion ?? '(any)'}`;
      found({
        kind: 'booking_write_conflict', id: c.bookingId, since: c.at.toISOString(), workflowId: c.workflowId,
        summary: `booking ${c.bookingId}: a ${c.action} write expected ${expected} but the row was ${c.actualStatus} at version ${c.actualVersion}; it was refused and run ${c.runId ?? '?'} failed`,
        evidence: {
          action: c.action, to: c.toStatus, expectedStatus: c.expectedStatus, expectedVersion: c.expectedVersion,
          actualStatus: c.actualStatus, actualVersion: c.actualVersion, transitionKey: c.transitionKey, runId: c.runId,
        },
      });
    }
  });

  await detector('campaigns_stalled', async () => {
    const stallCutoff = new Date(now.getTime() - t.campaignStallMs);
    const rows = await sql('campaigns query', () =>
      db.campaign.findMany({
        where: { status: 'RUNNING', updatedAt: { lt: stallCutoff } },
        orderBy: { updatedAt: 'asc' },
        take: t.limitPerKind,
        select: { id: true, workflowId: true, updatedAt: true, total: true, sent: true, failed: true, skipped: true },
      }),
    );
    for (const c of rows) {
      const [due] = await sql('deliveries query', () =>
        db.$queryRaw<Array<{ due: boolean }>>`
          SELECT EXISTS (SELECT 1 FROM "deliveries" WHERE campaign_id = ${c.id} AND status = 'PENDING'
                         AND (not_before IS NULL OR not_before <= ${now})) AS due`,
      );
      if (!due?.due) continue; // nothing is due (all deferred to after quiet hours): waiting, not stalled
      counts.campaign_stalled++;
      found({
        kind: 'campaign_stalled', id: c.id, since: c.updatedAt.toISOString(), workflowId: c.workflowId,
        summary: `campaign ${c.id} is RUNNING with deliveries due but has made no progress for ${ageText(now.getTime() - c.updatedAt.getTime())}`,
        evidence: { lastProgressAt: c.updatedAt.toISOString(), total: c.total, sent: c.sent, failed: c.failed, skipped: c.skipped, stallMs: t.campaignStallMs },
      });
    }
  });

  await detector('campaign_workflows', async () => {
    const r = await campaignWorkflowsNotRunning({ db, client, now, graceMs: t.graceMs, describeLimit: t.describeLimit, temporal, sql });
    for (const f of r.findings) found(f);
    counts.campaign_workflow_not_running = r.findings.length;
    if (r.error) throw new Error(r.error);
  });

  await detector('running_workflows', async () => {
    // Campaigns and open incidents are few; their workflows are described for retrying activities.
    const [campaigns, incidents] = await sql('running campaigns and incidents', () =>
      db.$transaction([
        db.campaign.findMany({ where: { status: 'RUNNING' }, orderBy: { updatedAt: 'asc' }, take: t.describeLimit, select: { workflowId: true, updatedAt: true } }),
        db.incident.findMany({ where: { status: { in: ['OPEN', 'MITIGATED'] } }, orderBy: { declaredAt: 'asc' }, take: t.describeLimit, select: { workflowId: true, declaredAt: true } }),
      ]),
    );
    for (const c of campaigns) addCandidate({ workflowId: c.workflowId, dueAt: c.updatedAt.getTime() });
    for (const i of incidents) addCandidate({ workflowId: i.workflowId, dueAt: i.declaredAt.getTime() });
  });

  // Describe the candidates, oldest first, a few at a time.
  const notRunning = new Map<string, StuckFinding>();
  await detector('describe_workflows', async () => {
    const list = [...candidates.values()].sort((a, b) => a.dueAt - b.dueAt).slice(0, t.describeLimit);
    const failures: string[] = [];
    const describeOne = async (c: Candidate) => {
      let d;
      try {
        d = await temporal(`describe ${c.workflowId}`, () => client.workflow.getHandle(c.workflowId).describe());
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          if (c.bookingId) {
            notRunning.set(c.bookingId, {
              kind: 'booking_workflow_not_running', id: c.bookingId, since: new Date(c.dueAt).toISOString(), ageMs: null, workflowId: c.workflowId,
              link: link(c.workflowId),
              summary: `booking ${c.bookingId} is ${c.bookingStatus} but its workflow ${c.workflowId} does not exist`,
              evidence: { bookingStatus: c.bookingStatus, workflowStatus: 'NOT_FOUND' },
            });
          }
          return;
        }
        failures.push(reason(err));
        return;
      }
      if (d.status.name !== 'RUNNING') {
        if (c.bookingId) {
          const closedAt = d.closeTime?.toISOString() ?? null;
          notRunning.set(c.bookingId, {
            kind: 'booking_workflow_not_running', id: c.bookingId, since: closedAt ?? new Date(c.dueAt).toISOString(), ageMs: null,
            workflowId: c.workflowId, link: link(c.workflowId),
            summary: `booking ${c.bookingId} is ${c.bookingStatus} but its workflow is ${d.status.name}`,
            evidence: { bookingStatus: c.bookingStatus, workflowStatus: d.status.name, closedAt, runId: d.runId },
          });
        }
        return;
      }
      for (const a of d.raw.pendingActivities ?? []) {
        const attempt = a.attempt ?? 0;
        if (attempt < t.maxAttempts) continue;
        const lastAttemptAt = protoDate(a.lastStartedTime)?.toISOString() ?? null;
        findings.push({
          kind: 'activity_retrying', id: `${c.workflowId}/${a.activityId ?? '?'}`, since: null, ageMs: null,
          workflowId: c.workflowId, link: link(c.workflowId),
          summary: `${a.activityType?.name ?? 'activity'} in ${c.workflowId} is at attempt ${attempt}: ${reason(a.lastFailure?.message ?? 'no failure recorded')}`,
          evidence: {
            activityType: a.activityType?.name ?? null, activityId: a.activityId ?? null, attempt, maxAttempts: t.maxAttempts,
            lastFailure: a.lastFailure?.message ?? null, lastAttemptAt,
            nextAttemptAt: protoDate(a.nextAttemptScheduleTime)?.toISOString() ?? null,
            lastWorkerIdentity: a.lastWorkerIdentity || null, workflowType: d.type,
          },
        });
        counts.activity_retrying++;
      }
    };
    const queue = [...list];
    await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await describeOne(c);
    }));
    if (failures.length) throw new Error(`${failures.length} of ${list.length} workflows could not be described: ${failures[0]}`);
  });

  await detector('booking_workflows_closed', async () => {
    // Booking workflows that ended abnormally in the lookback window while their row stayed active.
    const since = new Date(now.getTime() - t.closedLookbackMs).toISOString();
    const statuses = ABNORMAL_CLOSE.map((s) => `'${s}'`).join(', ');
    const query = `TaskQueue = '${bookingsQueue}' AND WorkflowType = 'bookingWorkflow' AND ExecutionStatus IN (${statuses}) AND CloseTime > '${since}'`;
    const closed = new Map<string, { workflowId: string; status: string; closedAt: string | null; runId: string }>();
    await temporal('list closed booking workflows', async () => {
      for await (const w of client.workflow.list({ query, pageSize: t.limitPerKind })) {
        closed.set(w.workflowId, { workflowId: w.workflowId, status: w.status.name, closedAt: w.closeTime?.toISOString() ?? null, runId: w.runId });
        if (closed.size >= t.limitPerKind) break;
      }
    });
    if (!closed.size) return;
    const rows = await sql('bookings query', () =>
      db.booking.findMany({
        where: { workflowId: { in: [...closed.keys()] }, status: { in: ACTIVE_BOOKING as Array<'CONFIRMED' | 'ONGOING' | 'OVERDUE'> } },
        select: { id: true, status: true, workflowId: true },
      }),
    );
    for (const b of rows) {
      if (notRunning.has(b.id)) continue;
      const w = closed.get(b.workflowId)!;
      notRunning.set(b.id, {
        kind: 'booking_workflow_not_running', id: b.id, since: w.closedAt, ageMs: null, workflowId: b.workflowId, link: link(b.workflowId),
        summary: `booking ${b.id} is ${b.status} but its workflow is ${w.status.toUpperCase()}`,
        evidence: { bookingStatus: b.status, workflowStatus: w.status.toUpperCase(), closedAt: w.closedAt, runId: w.runId },
      });
    }
  });

  await detector('incident_workflows_gone', async () => {
    const describe = describeWith(client);
    const gone = await findIncidentsWithoutWorkflow({ db, limit: t.describeLimit, now, describe: (id) => temporal(`describe ${id}`, () => describe(id)) });
    counts.incident_workflow_gone += gone.length;
    for (const f of gone) found(f);
  });

  for (const f of notRunning.values()) {
    counts.booking_workflow_not_running++;
    found(f);
  }

  // Oldest first within each kind, at most limitPerKind of each.
  const byKind = new Map<StuckKind, StuckFinding[]>();
  for (const f of findings) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  const stuck = [...byKind.values()].flatMap((fs) =>
    fs.sort((a, b) => (a.since ?? '\uffff').localeCompare(b.since ?? '\uffff')).slice(0, t.limitPerKind),
  );
  return { startedAt, checkedAt: new Date().toISOString(), stuck, counts, errors };
}

/** Which status-page components stuck work of these kinds affects (of those configured). */
export function affectedComponents(kinds: StuckKind[], configured: string[]): string[] {
  const wanted = new Set<string>();
  for (const k of kinds) {
    if (k.startsWith('campaign_')) wanted.add('notifications');
    else if (k === 'incident_workflow_gone') continue; // Keel's own record, not a customer-facing component
    else wanted.add('car-unlock').add('booking-api'); // a booking that does not start cannot be unlocked
  }
  const picked = configured.filter((c) => wanted.has(c));
  return picked.length ? picked : configured.slice(0, 1);
}

function incidentSummary(report: StuckReport): string {
  const parts = Object.entries(report.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k}: ${n}`);
  const examples = report.stuck.slice(0, 5).map((f) => `- ${f.summary}`);
  return [`The stuck-work watchdog found ${parts.join(', ')}.`, ...examples, 'GET /v1/health/stuck lists every finding.'].join('\n').slice(0, 4000);
}

/**
 * One watchdog run: detect, open or find the incident when something is stuck, store the run under
 * `runId` (a retry rewrites the same row). A failure to open the incident is stored with the run and
 * then thrown, so the activity retries it.
 */
export async function runWatchdog(services: WatchdogServices, runId: string, now: Date = new Date()): Promise<WatchdogRunSummary> {
  const { db, temporal, logger, settings } = services;
  const t: WatchdogSettings = { ...DEFAULT_WATCHDOG_SETTINGS, ...settings.watchdog };
  const report = await detectStuckWork({ db, client: temporal.client, taskQueuePrefix: temporal.taskQueuePrefix, settings: settings.watchdog }, now);
  let incidentId: string | null = null;
  let incidentError: unknown;
  if (report.stuck.length > 0) {
    try {
      const kinds = [...new Set(report.stuck.map((f) => f.kind))];
      // The same verb as POST /v1/incidents, so the start is counted (keel_workflow_starts_total) and
      // a failed start leaves no row behind.
      const declared = await declareIncident(systemContext(services, 'watchdog', runId), {
        title: WATCHDOG_INCIDENT_TITLE, severity: t.incidentSeverity, components: affectedComponents(kinds, settings.incidents.components),
        summary: incidentSummary(report), dedupeKey: WATCHDOG_DEDUPE_KEY,
        ...(t.drill ? { drill: true } : {}),
      });
      incidentId = declared.incident.incidentId;
      if (declared.kind === 'created') logger?.warn({ incidentId, counts: report.counts }, 'stuck work: incident opened');
    } catch (err) {
      incidentError = err;
      report.errors.push({ detector: 'incident', error: reason(err) });
    }
  }
  await saveWatchdogRun(db, runId, report, incidentId);
  const summary: WatchdogRunSummary = {
    runId, checkedAt: report.checkedAt, stuck: report.stuck.length, counts: report.counts, errors: report.errors.length, incidentId,
  };
  if (report.stuck.length || report.errors.length) {
    logger?.warn(
      { ...summary, findings: report.stuck.map((f) => ({ kind: f.kind, id: f.id, since: f.since, workflowId: f.workflowId })), detectorErrors: report.errors },
      'stuck work detected',
    );
  } else {
    logger?.info({ runId, checkedAt: report.checkedAt }, 'watchdog: nothing stuck');
  }
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as declareIncident threw it
  if (incidentError) throw incidentError;
  return summary;
}

/** The watchdog's settings from configuration (config/env.ts, KEEL_WATCHDOG_*). */
export function watchdogSettingsFromEnv(env: Pick<Env, 'KEEL_WATCHDOG_GRACE' | 'KEEL_WATCHDOG_MAX_ATTEMPTS' | 'KEEL_WATCHDOG_CAMPAIGN_STALL' | 'KEEL_WATCHDOG_SEVERITY'> & Partial<Pick<Env, 'KEEL_WATCHDOG_DRILL'>>): Partial<WatchdogSettings> {
  return {
    graceMs: env.KEEL_WATCHDOG_GRACE,
    maxAttempts: env.KEEL_WATCHDOG_MAX_ATTEMPTS,
    campaignStallMs: env.KEEL_WATCHDOG_CAMPAIGN_STALL,
    incidentSeverity: env.KEEL_WATCHDOG_SEVERITY,
    drill: env.KEEL_WATCHDOG_DRILL ?? false,
  };
}
