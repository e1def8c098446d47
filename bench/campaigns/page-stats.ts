// Page timings of one campaign from its workflow histories (every run of the continue-as-new chain):
// schedule-to-start and execution of each deliverPage, the workflow's turnaround between pages, lane
// utilisation, retried pages with their last failure, and the campaign's timeline from the submit.
import type { Client } from '@temporalio/client';
import { dist, fmtDist, ms, secs, type Dist } from '../common';
import { num, tsMs, type History, type HistoryEvent } from '../harness/booking-starts';
import { say } from '../harness/run';

export interface PageStats {
  runs: number;
  pages: number;
  retriedPages: number;
  /** Last failure before the successful attempt, per retried page. */
  retryReasons: string[];
  pageSizes: Dist;
  scheduleToStart: Dist;
  execution: Dist;
  perRecipientMs: Dist;
  /** Page completed -> the next page scheduled by the workflow (workflow task turnaround). */
  turnaround: Dist;
  /** Last page of a run completed -> first page of the next run scheduled. */
  continueAsNew: Dist;
  snapshotMs: number;
  /** From the first page scheduled to the last page completed. */
  sendPhaseMs: number;
  /** sum(page execution) / (concurrency x send phase). */
  laneBusy: number;
  timeline: { workflowStarted: number; snapshotDone: number; firstPageScheduled: number; lastPageDone: number; workflowClosed: number };
}

export async function pageStats(client: Client, workflowId: string, firstRunId: string, concurrency: number, submitAt: number): Promise<PageStats> {
  const s2s: number[] = [];
  const exec: number[] = [];
  const perRecipient: number[] = [];
  const sizes: number[] = [];
  const turnaround: number[] = [];
  const can: number[] = [];
  let retried = 0;
  const retryReasons: string[] = [];
  let snapshotMs = NaN;
  let firstScheduled = Infinity;
  let lastDone = 0;
  let workflowStarted = NaN;
  let snapshotDone = NaN;
  let workflowClosed = NaN;
  let prevRunLastDone = NaN;
  let runs = 0;
  let runId: string | undefined = firstRunId;
  while (runId) {
    runs++;
    const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runId = undefined;
    const scheduled = new Map<number, { t: number; type: string; size: number }>();
    const started = new Map<number, { t: number; attempt: number; lastFailure?: string }>();
    const completions: number[] = []; // times of deliverPage completions in this run, in order
    let firstInRun = true;
    for (const e of events) {
      const t = tsMs(e.eventTime);
      if (e.workflowExecutionStartedEventAttributes && runs === 1) workflowStarted = t;
      if (e.activityTaskScheduledEventAttributes) {
        const a = e.activityTaskScheduledEventAttributes;
        const type = a.activityType?.name ?? '';
        let size = 0;
        if (type === 'deliverPage') {
          try {
            const arg = JSON.parse(Buffer.from(a.input!.payloads![0].data!).toString('utf8')) as { fromSeq: number; toSeq: number };
            size = arg.toSeq - arg.fromSeq + 1;
          } catch {
            size = NaN;
          }
          firstScheduled = Math.min(firstScheduled, t);
          if (firstInRun && Number.isFinite(prevRunLastDone)) can.push(t - prevRunLastDone);
          // The workflow scheduled this page in reaction to the latest completion (after the first lanes).
          if (!firstInRun && completions.length) turnaround.push(t - completions[completions.length - 1]);
          firstInRun = false;
        }
        scheduled.set(num(e.eventId), { t, type, size });
      }
      if (e.activityTaskStartedEventAttributes) {
        const a = e.activityTaskStartedEventAttributes;
        const f = a.lastFailure;
        started.set(num(a.scheduledEventId), {
          t, attempt: a.attempt ?? 1,
          lastFailure: f ? `${f.message ?? ''}${f.timeoutFailureInfo ? ` (timeout type ${f.timeoutFailureInfo.timeoutType})` : ''}` : undefined,
        });
      }
      const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
      if (closed) {
        const sch = scheduled.get(num(closed.scheduledEventId));
        const st = started.get(num(closed.scheduledEventId));
        if (sch?.type === 'snapshotAudience') {
          snapshotMs = st ? t - st.t : t - sch.t;
          snapshotDone = t;
        }
        if (sch?.type === 'deliverPage') {
          completions.push(t);
          lastDone = Math.max(lastDone, t);
          if (st) {
            s2s.push(st.t - sch.t);
            exec.push(t - st.t);
            if (sch.size > 0) perRecipient.push((t - st.t) / sch.size);
            if (st.attempt > 1) {
              retried++;
              retryReasons.push(`attempt ${st.attempt} after: ${st.lastFailure ?? 'unknown'}`);
            }
          }
          sizes.push(sch.size);
        }
      }
      if (e.workflowExecutionContinuedAsNewEventAttributes) runId = e.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId ?? undefined;
      if (e.workflowExecutionCompletedEventAttributes || e.workflowExecutionFailedEventAttributes || e.workflowExecutionTerminatedEventAttributes || e.workflowExecutionCanceledEventAttributes) {
        workflowClosed = t;
      }
    }
    if (completions.length) prevRunLastDone = completions[completions.length - 1];
  }
  const sendPhaseMs = lastDone - firstScheduled;
  const execSum = exec.reduce((a, b) => a + b, 0);
  return {
    runs, pages: exec.length, retriedPages: retried, retryReasons, pageSizes: dist(sizes), scheduleToStart: dist(s2s), execution: dist(exec),
    perRecipientMs: dist(perRecipient), turnaround: dist(turnaround), continueAsNew: dist(can), snapshotMs, sendPhaseMs,
    laneBusy: execSum / (concurrency * sendPhaseMs),
    timeline: {
      workflowStarted: workflowStarted - submitAt, snapshotDone: snapshotDone - submitAt, firstPageScheduled: firstScheduled - submitAt,
      lastPageDone: lastDone - submitAt, workflowClosed: workflowClosed - submitAt,
    },
  };
}

export function printPageStats(p: PageStats, concurrency: number): void {
  const t = p.timeline;
  say(`    timeline from submit: workflow started +${ms(t.workflowStarted)}, audience snapshot done +${ms(t.snapshotDone)} ` +
    `(activity ${ms(p.snapshotMs)}), first page +${ms(t.firstPageScheduled)}, last page done +${ms(t.lastPageDone)}, workflow closed +${ms(t.workflowClosed)}`);
  say(`    pages (workflow histories, ${p.runs} run(s)): ${p.pages} pages, size p50 ${p.pageSizes.p50}, ${p.retriedPages} retried; ` +
    `lanes busy ${(p.laneBusy * 100).toFixed(0)} % of ${concurrency} x send phase ${secs(p.sendPhaseMs)}`);
  say(`      page execution     ${fmtDist(p.execution)}; per recipient p50 ${p.perRecipientMs.p50.toFixed(2)} ms`);
  say(`      schedule-to-start  ${fmtDist(p.scheduleToStart)}`);
  say(`      workflow turnaround (page done -> next page scheduled) ${fmtDist(p.turnaround)}`);
  if (p.retryReasons.length) {
    const counts = new Map<string, number>();
    for (const r of p.retryReasons) counts.set(r, (counts.get(r) ?? 0) + 1);
    say(`      retried pages: ${[...counts.entries()].map(([k, v]) => `${v} x ${k}`).join('; ')}`);
  }
  if (p.continueAsNew.n) say(`      continue-as-new gap (last page of a run -> first of the next) ${fmtDist(p.continueAsNew)}`);
}
