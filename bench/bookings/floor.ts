// The floor in the same run (issue 11): the minimal workflow of bench/floor/ (sleep until its time,
// one local activity writing one row) started directly with the client, n of them due within one
// window, on the same server and worker process as Keel. Its start lateness is what Keel's is compared to.
import { performance } from 'node:perf_hooks';
import { dist, fmtDist, runPool, sleep, type Dist } from '../common';
import { FLOOR_TABLE_SQL } from '../floor/activities';
import { note, say } from '../harness/run';
import { floorTaskQueue } from '../worker-process';
import type { Bench } from './stack';

export interface WindowResult {
  n: number;
  started: number;
  lateness: Dist;
  over1s: number;
  early: number;
  /** Creation (and the first workflow tasks) ran into the window by this much (0: it opened on an idle system). */
  overlapMs: number;
}

export async function floorLateness(b: Bench, n: number, windowS: number): Promise<WindowResult> {
  const { s, opts } = b;
  const tag = `${s.workflows.taskQueuePrefix}-floor-${n}`;
  await s.db.$executeRawUnsafe(FLOOR_TABLE_SQL);
  await b.drained();
  // Raw starts run at well over 100/s here; 1.6x a 60/s estimate plus the margin opens the window idle.
  const windowStart = Math.ceil((Date.now() + (n / 60) * 1000 * 1.6 + opts.lateMarginS * 1000) / 1000) * 1000;
  const dueAt = (i: number) => windowStart + Math.floor((i * windowS * 1000) / n);
  const taskQueue = floorTaskQueue(s.workflows.taskQueuePrefix);
  const created = await runPool(n, opts.concurrency, async (i) => {
    const workflowId = `${tag}-${i}`;
    await s.client.workflow.start('floorWorkflow', { taskQueue, workflowId, args: [{ id: workflowId, dueAt: dueAt(i) }] });
    b.workflowIds.push(workflowId);
  });
  b.fail(`floor ${n} creation`, created.errors);
  b.expectedWft += created.ok;
  await b.drained();
  const overlapMs = Math.max(0, Date.now() - windowStart);
  if (overlapMs) say(`  WARNING: floor creation ran ${(overlapMs / 1000).toFixed(1)} s into its window`);
  await sleep(Math.max(0, windowStart - Date.now()));
  const deadline = windowStart + windowS * 1000 + opts.lateTimeoutS * 1000;
  let rows: Array<{ scheduled_at: Date; occurred_at: Date }>;
  const t0 = performance.now();
  for (;;) {
    rows = await s.db.$queryRawUnsafe(`SELECT scheduled_at, occurred_at FROM bench_floor WHERE id LIKE $1`, `${tag}-%`);
    if (rows.length >= created.ok || Date.now() > deadline) break;
    await sleep(250);
  }
  if (rows.length < created.ok) b.failures.push(`floor ${n}: only ${rows.length} of ${created.ok} wrote their row`);
  note(`floor ${n}: ${rows.length} rows ${((performance.now() - t0) / 1000).toFixed(0)} s after the window opened`);
  const late = rows.map((r) => r.occurred_at.getTime() - r.scheduled_at.getTime());
  const d = dist(late);
  const early = late.filter((l) => l < 0).length;
  if (early) b.failures.push(`floor ${n}: ${early} rows written before their time`);
  return { n: created.ok, started: rows.length, lateness: d, over1s: late.filter((l) => l > 1000).length, early, overlapMs };
}

export const fmtWindow = (r: WindowResult) => `${fmtDist(r.lateness)}; late by more than 1 s: ${r.over1s} of ${r.started}`;
