// The incident checklist's automated checks: the "system checklist, first thing in an emergency, like a
// pilot's" from the lock-out post-mortem, and the stuck-bookings check the car-sharing outage needed.
// The incident workflow calls `runCheck` once per auto step, each with its own activity timeout.
//
// Contract: a check never throws because the system is unhealthy. An unreachable database, a
// Temporal error or a check that runs out of time is a result, `{status: 'fail', summary, evidence}`,
// which the commander sees in the checklist. Only a programming error (an unknown check name) throws.
// Every call inside is bounded (default 5 s), so a check answers even when what it probes hangs.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Connection } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Db } from '../db/client';
import { CHECK_NAMES, type CheckName, type CheckResult, type CheckStatus } from '../domain/incident';
import { TASK_QUEUES, taskQueue, type TaskQueueName } from '../domain/task-queues';
import { errorReason, within as withinMs } from '../services/bounded';

export interface CheckThresholds {
  /** Bound on every database or Temporal call made by one check. */
  callTimeoutMs: number;
  /** bookings_not_started: a CONFIRMED booking this long past its start is stuck (fail). */
  bookingStartGraceMs: number;
  /**
   * pollers: a poller counts as present when the server saw it this recently. An idle worker's long
   * poll lasts about a minute (measured on server 1.32: lastAccessTime up to ~58 s old on a healthy,
   * idle worker), so anything under ~70 s raises false alarms.
   */
  pollerFreshMs: number;
  /** notification_backlog: tasks waiting in the notifications queue (approximate, from the server). */
  notificationBacklogWarnCount: number;
  notificationBacklogFailCount: number;
  /** notification_backlog: age of the oldest waiting task. */
  notificationBacklogWarnAgeMs: number;
  notificationBacklogFailAgeMs: number;
  /** api_error_rate: the window, in whole minutes (current minute included). */
  apiErrorWindowMs: number;
  /** api_error_rate: below this many requests the rate is not judged. */
  apiErrorMinRequests: number;
  /** api_error_rate: share of 5xx responses (0..1) from which the check warns / fails. */
  apiErrorWarnRate: number;
  apiErrorFailRate: number;
}

export const DEFAULT_CHECK_THRESHOLDS: CheckThresholds = {
  callTimeoutMs: 5_000,
  bookingStartGraceMs: 2 * 60_000,
  pollerFreshMs: 90_000,
  notificationBacklogWarnCount: 1_000,
  notificationBacklogFailCount: 10_000,
  notificationBacklogWarnAgeMs: 2 * 60_000,
  notificationBacklogFailAgeMs: 10 * 60_000,
  apiErrorWindowMs: 5 * 60_000,
  apiErrorMinRequests: 20,
  apiErrorWarnRate: 0.01,
  apiErrorFailRate: 0.05,
};

export interface CheckDeps {
  db: Db;
  /** A client connection (the API's or the worker's own), used for Temporal's workflow service. */
  connection: Connection;
  namespace: string;
  taskQueuePrefix?: string;
  now?: () => Date;
  thresholds?: Partial<CheckThresholds>;
}

/** Which task types each queue must have pollers for (who runs what, see workers/). */
export const POLLED_TASK_TYPES: Record<TaskQueueName, readonly ('workflow' | 'activity')[]> = {
  bookings: ['workflow', 'activity'],
  notifications: ['activity'],
  incidents: ['workflow', 'activity'],
  ops: ['workflow', 'activity'],
};

// Protocol constants (temporal.api.enums.v1), spelled out to avoid a runtime import of the proto package.
const TASK_QUEUE_KIND_NORMAL = 1 as temporal.api.enums.v1.TaskQueueKind;
const TASK_QUEUE_TYPE = {
  workflow: 1 as temporal.api.enums.v1.TaskQueueType,
  activity: 2 as temporal.api.enums.v1.TaskQueueType,
};

class CheckTimeout extends Error {}

/** Bounded wait whose timeout is told apart from the service's own errors. */
const within = <T>(ms: number, what: string, fn: () => Promise<T>) => withinMs(ms, what, fn, (m) => new CheckTimeout(m));
const reason = errorReason;

/** Long | number | string | null from protobuf -> number. */
function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  if (typeof (v as { toNumber?: unknown }).toNumber === 'function') return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

/** google.protobuf.Timestamp or Duration -> milliseconds. */
function protoMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!d) return 0;
  return num(d.seconds) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

const pct = (r: number) => `${(r * 100).toFixed(r < 0.1 ? 1 : 0)}%`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function activityLog(): Context['log'] | undefined {
  try {
    return Context.current().log;
  } catch {
    return undefined; // called outside an activity (tests, scripts)
  }
}

export function createCheckActivities(deps: CheckDeps) {
  const t: CheckThresholds = { ...DEFAULT_CHECK_THRESHOLDS, ...deps.thresholds };
  const now = deps.now ?? (() => new Date());
  const { db, connection, namespace } = deps;
  const service = connection.workflowService;
  /** Server-side bound for SQL, a little under ours, so PostgreSQL cancels what we stopped waiting for. */
  const statementTimeoutMs = Math.max(100, t.callTimeoutMs - 250);

  /** A gRPC deadline ends the call itself (retries included), not only our wait for it. */
  const temporalCall = async <R>(what: string, fn: () => Promise<R>): Promise<R> => {
    try {
      return await within(t.callTimeoutMs + 500, what, () => connection.withDeadline(Date.now() + t.callTimeoutMs, fn));
    } catch (err) {
      // gRPC's own wording ("Deadline exceeded after 0.000s, waiting for metadata filters") misleads.
      if ((err as { code?: unknown }).code === 4) throw new CheckTimeout(`${what}: no answer within ${t.callTimeoutMs} ms`);
      throw err;
    }
  };

  const sqlTimeout = () => db.$executeRawUnsafe(`SET LOCAL statement_timeout = ${statementTimeoutMs}`);

  type Outcome = { status: CheckStatus; summary: string; evidence: Record<string, unknown> };

  const checks: Record<CheckName, (at: Date) => Promise<Outcome>> = {
    async database() {
      const started = performance.now();
      try {
        await within(t.callTimeoutMs, 'SELECT 1', () => db.$queryRaw`SELECT 1`);
        const latencyMs = Math.round(performance.now() - started);
        return { status: 'ok', summary: `database answered in ${latencyMs} ms`, evidence: { latencyMs } };
      } catch (err) {
        const latencyMs = Math.round(performance.now() - started);
        return { status: 'fail', summary: `database unreachable: ${reason(err)}`, evidence: { latencyMs, error: reason(err) } };
      }
    },

    async temporal() {
      const started = performance.now();
      try {
        const [info, ns] = await Promise.all([
          temporalCall('getSystemInfo', () => service.getSystemInfo({})),
          temporalCall('describeNamespace', () => service.describeNamespace({ namespace })),
        ]);
        const latencyMs = Math.round(performance.now() - started);
        const serverVersion = info.serverVersion || 'unknown';
        // temporal.api.enums.v1.NamespaceState by wire value.
        const namespaceState = ['unspecified', 'registered', 'deprecated', 'deleted'][ns.namespaceInfo?.state ?? 0] ?? 'unknown';
        const evidence = { serverVersion, latencyMs, namespace, namespaceState };
        if (namespaceState !== 'registered') return { status: 'fail', summary: `namespace ${namespace} is ${namespaceState}`, evidence };
        return { status: 'ok', summary: `Temporal ${serverVersion} answered in ${latencyMs} ms`, evidence };
      } catch (err) {
        const latencyMs = Math.round(performance.now() - started);
        return { status: 'fail', summary: `Temporal unreachable: ${reason(err)}`, evidence: { latencyMs, namespace, error: reason(err) } };
      }
    },

    async pollers(at) {
      const targets = TASK_QUEUES.flatMap((name) =>
        POLLED_TASK_TYPES[name].map((type) => ({ name, type, taskQueue: taskQueue(name, deps.taskQueuePrefix) })),
      );
      const freshSince = at.getTime() - t.pollerFreshMs;
      const results = await Promise.all(
        targets.map(async (q) => {
          try {
            const res = await temporalCall(`describeTaskQueue ${q.taskQueue}`, () =>
              service.describeTaskQueue({
                namespace,
                taskQueue: { name: q.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
                taskQueueType: TASK_QUEUE_TYPE[q.type],
              }),
            );
            const seen = (res.pollers ?? []).map((p) => ({
              identity: p.identity ?? '',
              lastAccessMs: p.lastAccessTime ? protoMs(p.lastAccessTime) : 0,
            }));
            const fresh = seen.filter((p) => p.lastAccessMs >= freshSince);
            const last = Math.max(0, ...seen.map((p) => p.lastAccessMs));
            return {
              taskQueue: q.taskQueue,
              type: q.type,
              pollers: fresh.length,
              identities: fresh.map((p) => p.identity),
              stalePollers: seen.length - fresh.length,
              lastSeenAt: last > 0 ? new Date(last).toISOString() : null,
            };
          } catch (err) {
            return { taskQueue: q.taskQueue, type: q.type, pollers: 0, identities: [], error: reason(err) };
          }
        }),
      );
      const missing = results.filter((r) => r.pollers === 0);
      const evidence = { freshWithinMs: t.pollerFreshMs, queues: results };
      const errors = results.flatMap((r) => ('error' in r ? [r.error] : []));
      if (errors.length === results.length) {
        return { status: 'fail', summary: `cannot read task queue pollers from Temporal: ${errors[0]}`, evidence };
      }
      if (missing.length === 0) {
        return { status: 'ok', summary: `workers are polling all ${results.length} task queue types`, evidence };
      }
      const list = missing.map((r) => {
        const why = 'error' in r ? `error: ${r.error}` : r.lastSeenAt ? `last seen ${r.lastSeenAt}` : 'never seen';
        return `${r.taskQueue} (${r.type}, ${why})`;
      });
      return { status: 'fail', summary: `no worker polling ${list.join('; ')}`, evidence };
    },

    async bookings_not_started(at) {
      const cutoff = new Date(at.getTime() - t.bookingStartGraceMs);
      const where = { status: 'CONFIRMED' as const, startsAt: { lt: cutoff } };
      const base = { graceMs: t.bookingStartGraceMs, startedBefore: cutoff.toISOString() };
      try {
        // One transaction so SET LOCAL bounds both queries server-side; (status, starts_at) is indexed
        // and only stuck bookings are scanned, so the check stays cheap however big the table grows.
        const [, count, oldest] = await within(t.callTimeoutMs, 'bookings query', () =>
          db.$transaction([
            sqlTimeout(),
            db.booking.count({ where }),
            db.booking.findMany({ where, orderBy: { startsAt: 'asc' }, take: 20, select: { id: true, startsAt: true } }),
          ]),
        );
        const ids = oldest.map((b) => b.id);
        const oldestStartsAt = oldest[0]?.startsAt.toISOString() ?? null;
        const evidence = { ...base, count, ids, oldestStartsAt };
        if (count === 0) return { status: 'ok', summary: 'every booking due to start has started', evidence };
        const shown = ids.join(', ') + (count > ids.length ? ` and ${count - ids.length} more` : '');
        return {
          status: 'fail',
          summary: `${plural(count, 'confirmed booking')} should have started more than ${Math.round(t.bookingStartGraceMs / 1000)} s ago: ${shown}`,
          evidence,
        };
      } catch (err) {
        return { status: 'fail', summary: `cannot read bookings: ${reason(err)}`, evidence: { ...base, error: reason(err) } };
      }
    },

    async notification_backlog() {
      // The backlog is what Temporal holds for the notifications task queue: activity tasks
      // (reminders, overdue notices) scheduled by workflows and not yet picked up by a worker. The
      // outbox table cannot tell: a row is written when the message is handed over, so it never
      // holds anything that is waiting.
      const name = taskQueue('notifications', deps.taskQueuePrefix);
      const base = { taskQueue: name };
      try {
        const res = await temporalCall(`describeTaskQueue ${name}`, () =>
          service.describeTaskQueue({
            namespace,
            taskQueue: { name, kind: TASK_QUEUE_KIND_NORMAL },
            taskQueueType: TASK_QUEUE_TYPE.activity,
            reportStats: true,
          }),
        );
        const stats = res.stats;
        if (!stats) {
          return { status: 'warn', summary: `the Temporal server does not report backlog statistics for ${name}`, evidence: base };
        }
        const count = num(stats.approximateBacklogCount);
        const ageMs = protoMs(stats.approximateBacklogAge);
        const evidence = {
          ...base,
          backlogCount: count,
          oldestAgeMs: ageMs,
          tasksAddRate: Number((stats.tasksAddRate ?? 0).toFixed(3)),
          tasksDispatchRate: Number((stats.tasksDispatchRate ?? 0).toFixed(3)),
          thresholds: {
            warnCount: t.notificationBacklogWarnCount,
            failCount: t.notificationBacklogFailCount,
            warnAgeMs: t.notificationBacklogWarnAgeMs,
            failAgeMs: t.notificationBacklogFailAgeMs,
          },
        };
        const summary =
          count === 0
            ? 'no notifications waiting'
            : `${plural(count, 'notification')} waiting, oldest ${Math.round(ageMs / 1000)} s`;
        const status: CheckStatus =
          count >= t.notificationBacklogFailCount || (count > 0 && ageMs >= t.notificationBacklogFailAgeMs)
            ? 'fail'
            : count >= t.notificationBacklogWarnCount || (count > 0 && ageMs >= t.notificationBacklogWarnAgeMs)
              ? 'warn'
              : 'ok';
        return { status, summary, evidence };
      } catch (err) {
        return { status: 'fail', summary: `cannot read the notification backlog: ${reason(err)}`, evidence: { ...base, error: reason(err) } };
      }
    },

    async api_error_rate(at) {
      // Buckets are whole minutes; the window is the current minute and the ones before it.
      const windowMinutes = Math.max(1, Math.round(t.apiErrorWindowMs / 60_000));
      const currentMinute = Math.floor(at.getTime() / 60_000) * 60_000;
      const from = new Date(currentMinute - (windowMinutes - 1) * 60_000);
      // Up to the next minute too: an instance whose clock runs a little ahead may already write there.
      const until = new Date(currentMinute + 60_000);
      const base = { windowMinutes, since: from.toISOString() };
      try {
        const [, rows] = await within(t.callTimeoutMs, 'api_request_stats query', () =>
          db.$transaction([
            sqlTimeout(),
            db.apiRequestStat.groupBy({
              by: ['instance'],
              where: { minute: { gte: from, lte: until } },
              _sum: { total: true, serverErrors: true },
              orderBy: { instance: 'asc' },
            }),
          ]),
        );
        const instances = rows.map((r) => ({ instance: r.instance, total: r._sum.total ?? 0, serverErrors: r._sum.serverErrors ?? 0 }));
        const total = instances.reduce((s, r) => s + r.total, 0);
        const serverErrors = instances.reduce((s, r) => s + r.serverErrors, 0);
        const rate = total > 0 ? serverErrors / total : 0;
        const evidence = {
          ...base,
          total,
          serverErrors,
          errorRate: Number(rate.toFixed(4)),
          instances,
          thresholds: { minRequests: t.apiErrorMinRequests, warnRate: t.apiErrorWarnRate, failRate: t.apiErrorFailRate },
        };
        if (total < t.apiErrorMinRequests) {
          return { status: 'ok', summary: `too few requests to judge (${total} in the last ${windowMinutes} min, ${serverErrors} with 5xx)`, evidence };
        }
        const status: CheckStatus = rate >= t.apiErrorFailRate ? 'fail' : rate >= t.apiErrorWarnRate ? 'warn' : 'ok';
        return {
          status,
          summary: `${pct(rate)} of ${total} API requests answered 5xx in the last ${windowMinutes} min (${serverErrors} errors)`,
          evidence,
        };
      } catch (err) {
        return { status: 'fail', summary: `cannot read API request stats: ${reason(err)}`, evidence: { ...base, error: reason(err) } };
      }
    },
  };

  return {
    /** Runs one named check; resolves with ok/warn/fail and its evidence, never rejects for an unhealthy system. */
    async runCheck(name: CheckName): Promise<CheckResult> {
      if (!(CHECK_NAMES as readonly string[]).includes(name)) {
        throw ApplicationFailure.nonRetryable(`unknown check "${String(name)}" (known: ${CHECK_NAMES.join(', ')})`, 'UnknownCheck');
      }
      const at = now();
      let outcome: Outcome;
      try {
        // Each probe bounds its own calls; this outer bound covers a check that makes several.
        outcome = await within(t.callTimeoutMs * 2, name, () => checks[name](at));
      } catch (err) {
        outcome = { status: 'fail', summary: `${name} check did not complete: ${reason(err)}`, evidence: { error: reason(err) } };
      }
      const result: CheckResult = { check: name, status: outcome.status, summary: outcome.summary, evidence: outcome.evidence, checkedAt: at.toISOString() };
      if (result.status !== 'ok') activityLog()?.warn('check not ok', { check: name, status: result.status, summary: result.summary });
      return result;
    },
  };
}

export type CheckActivities = ReturnType<typeof createCheckActivities>;
