// The stuck-work watchdog's runs: one row per scheduled run, keyed by the run's workflow id so a
// retried activity rewrites its own row instead of adding one. Reads answer GET /v1/health/stuck.
import type { Db } from './client';
import type { StuckReport } from '../domain/watchdog';

export interface WatchdogRunRow {
  runId: string;
  startedAt: string;
  checkedAt: string;
  stuck: StuckReport['stuck'];
  counts: StuckReport['counts'];
  errors: StuckReport['errors'];
  incidentId: string | null;
}

/** Runs are kept this long; one a minute is ~10,000 rows a week. */
export const WATCHDOG_RETENTION_MS = 7 * 24 * 60 * 60_000;

export async function saveWatchdogRun(db: Db, runId: string, report: StuckReport, incidentId: string | null): Promise<void> {
  const data = {
    startedAt: new Date(report.startedAt),
    finishedAt: new Date(report.checkedAt),
    stuckCount: report.stuck.length,
    counts: report.counts as object,
    findings: report.stuck as object[],
    detectorErrors: report.errors.length ? (report.errors as object[]) : undefined,
    incidentId,
  };
  await db.$transaction([
    db.watchdogRun.upsert({ where: { id: runId }, create: { id: runId, ...data }, update: data }),
    // Pruned on the way: (finished_at) is indexed, and at one run a minute this deletes a row or two.
    db.watchdogRun.deleteMany({ where: { finishedAt: { lt: new Date(Date.now() - WATCHDOG_RETENTION_MS) } } }),
  ]);
}

export async function latestWatchdogRun(db: Db): Promise<WatchdogRunRow | undefined> {
  const row = await db.watchdogRun.findFirst({ orderBy: { finishedAt: 'desc' } });
  if (!row) return undefined;
  return {
    runId: row.id,
    startedAt: row.startedAt.toISOString(),
    checkedAt: row.finishedAt.toISOString(),
    stuck: row.findings as unknown as StuckReport['stuck'],
    counts: row.counts as unknown as StuckReport['counts'],
    errors: (row.detectorErrors ?? []) as unknown as StuckReport['errors'],
    incidentId: row.incidentId,
  };
}
