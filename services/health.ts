// What the health routes read: readiness (can this process reach its database and Temporal?) and the
// stuck-work watchdog's findings, either its latest scheduled run or a detection run now.
import { latestWatchdogRun } from '../db/watchdog-store';
import { emptyCounts } from '../domain/watchdog';
import type { Services } from './context';
import { detectStuckWork } from './watchdog';

const READY_TIMEOUT_MS = 2000;

async function check(fn: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message.split('\n')[0] };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(ctx: Pick<Services, 'db' | 'temporal'>) {
  const { client } = ctx.temporal;
  const [database, temporal] = await Promise.all([
    check(() => ctx.db.$queryRaw`SELECT 1`),
    // A gRPC deadline, so the call itself ends (no retries left running behind the timeout).
    check(() => client.withDeadline(Date.now() + READY_TIMEOUT_MS, () => client.workflowService.getSystemInfo({}))),
  ]);
  return { ready: database.ok && temporal.ok, checks: { database, temporal } };
}

/** The watchdog runs every minute: a latest run older than this means the watchdog itself is stuck. */
export const WATCHDOG_STALE_MS = 3 * 60_000;

/**
 * Stuck work as the watchdog's latest run (Temporal Schedule `stuck-work-watchdog`) found it, or with
 * `fresh` a detection run now, bounded by the watchdog's per-call timeouts, that neither stores
 * anything nor opens an incident (a read has no side effects; the schedule does both within a minute).
 */
export async function readStuckWork(ctx: Pick<Services, 'db' | 'temporal' | 'settings'>, q: { fresh: boolean }) {
  if (q.fresh) {
    const report = await detectStuckWork({
      db: ctx.db, client: ctx.temporal.client, taskQueuePrefix: ctx.temporal.taskQueuePrefix, settings: ctx.settings.watchdog,
    });
    return { source: 'fresh', checkedAt: report.checkedAt, stale: false, stuck: report.stuck, counts: report.counts, errors: report.errors, incidentId: null };
  }
  const run = await latestWatchdogRun(ctx.db);
  if (!run) {
    return {
      source: 'none', checkedAt: null, stale: true, stuck: [], counts: emptyCounts(), errors: [], incidentId: null,
      message: 'the watchdog has not run yet: is a worker hosting the ops task queue running?',
    };
  }
  return {
    source: 'schedule', runId: run.runId, checkedAt: run.checkedAt, stale: Date.now() - Date.parse(run.checkedAt) > WATCHDOG_STALE_MS,
    stuck: run.stuck, counts: run.counts, errors: run.errors, incidentId: run.incidentId,
  };
}
