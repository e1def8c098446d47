// Start lateness: many bookings created through the API, all starting within one window; lateness is
// booking_events.occurred_at - scheduled_at of each 'start' event, plus where it came from (from the
// workflow histories).
import { performance } from 'node:perf_hooks';
import { dist, fmtCpu, fmtDist, ms, runPool, sleep, type Dist } from '../common';
import { fetchStartSteps, printSteps, startEvents, stepDists, waitForStarts } from '../harness/booking-starts';
import { note, say } from '../harness/run';
import { transitionCost } from './transition-cost';
import { ACT_EXEC, ACT_S2S, booking, meanOf, scrape, WFT_S2S, type Bench } from './stack';

/**
 * n bookings through the API, starting within windowS seconds. `details`: also the steps from the
 * histories and the cost of a transition (the headline measurement; the capacity ramp skips both).
 */
export async function lateness(
  b: Bench,
  measured: { startsPerSec: number; sustainedPerSec: number } | undefined,
  o: { n: number; windowS: number; details: boolean } = { n: b.opts.lateN, windowS: b.opts.lateWindowS, details: true },
) {
  const { opts, s } = b;
  const tag = `${s.workflows.taskQueuePrefix}-late${o.n}`;
  const n = o.n;
  const windowMs = o.windowS * 1000;
  // Rates from the throughput phase (conservative guesses when it was skipped): the API accepts at
  // `rate`, and the workers finish the creations' first workflow tasks at `sustained` (the slower).
  const rate = measured?.startsPerSec ?? 40;
  const sustained = Math.min(rate, measured?.sustainedPerSec ?? 20);
  const estimateMs = (n / rate) * 1000;
  const settledMs = (n / sustained) * 1000;
  say(`\n== Start lateness: ${n} bookings starting within ${o.windowS} s ==`);
  await b.drained();
  const createStart = Date.now();
  // Lead: 1.6x the time the throughput phase predicts for creating them AND for the workers to finish
  // their first workflow tasks, plus a margin, so the window opens on an idle system; on a whole
  // second so the window is easy to find in logs.
  const windowStart = Math.ceil((createStart + settledMs * 1.6 + opts.lateMarginS * 1000) / 1000) * 1000;
  const startsAt = (i: number) => windowStart + Math.floor((i * windowMs) / n);
  say(
    `  creating ${n} through the API (expected ~${(estimateMs / 1000).toFixed(1)} s at ${rate.toFixed(0)}/s, workers done after ` +
      `~${(settledMs / 1000).toFixed(1)} s at ${sustained.toFixed(0)}/s); window opens ${new Date(windowStart).toISOString()}, ` +
      `${((windowStart - createStart) / 1000).toFixed(0)} s from now`,
  );
  const c0 = s.cpu.snap();
  const created = await runPool(n, opts.concurrency, (i) => b.viaApi(booking(`${tag}-${i}`, i, startsAt(i))));
  const c1 = s.cpu.snap();
  b.fail('lateness creation', created.errors);
  b.expectedWft += created.ok;
  const createdAt = Date.now();
  const t1 = performance.now();
  await b.drained();
  const drainedAt = Date.now();
  const createRate = (created.ok / created.wallMs) * 1000;
  say(`  created ${created.ok} in ${(created.wallMs / 1000).toFixed(1)} s (${createRate.toFixed(1)}/s); workers caught up ${((performance.now() - t1) / 1000).toFixed(1)} s later`);
  say(`  creation ${fmtCpu(s.cpu.usage(c0, c1, 'lateness creation'))}`);
  const leadMs = windowStart - drainedAt;
  let overlapMs = 0;
  if (leadMs < 0) {
    overlapMs = -leadMs;
    say(`  WARNING: creation (and its workflow tasks) ran ${(overlapMs / 1000).toFixed(1)} s into the window: early starts compete with creation load`);
  } else {
    say(`  idle lead before the window: ${(leadMs / 1000).toFixed(1)} s (creation finished ${((windowStart - createdAt) / 1000).toFixed(1)} s before it)`);
  }

  // Wait for every booking to be ONGOING: its 'start' event is in booking_events.
  const prefix = `${tag}-`;
  await sleep(Math.max(0, windowStart - Date.now()));
  const m0 = await scrape(s.metricsPort);
  const w0 = s.cpu.snap();
  let lastReport = Date.now();
  const started = await waitForStarts(s.db, prefix, created.ok, {
    deadline: windowStart + windowMs + opts.lateTimeoutS * 1000,
    everyMs: 250,
    progress: (k) => {
      if (Date.now() - lastReport < 15_000) return;
      lastReport = Date.now();
      note(`lateness: ${k}/${created.ok} started, ${((Date.now() - windowStart) / 1000).toFixed(0)} s into the window`);
    },
  });
  const w1 = s.cpu.snap();
  const m1 = await scrape(s.metricsPort);
  const windowCpu = s.cpu.usage(w0, w1, `lateness window (${n})`);
  const allStartedAt = Date.now();
  if (started < created.ok) {
    b.failures.push(`lateness: only ${started} of ${created.ok} bookings started by ${opts.lateTimeoutS} s after the window`);
  }
  const events = await startEvents(s.db, prefix);
  const startsOf = new Map(
    (await s.db.booking.findMany({ where: { id: { startsWith: prefix } }, select: { id: true, startsAt: true, status: true } })).map((r) => [r.id, r]),
  );
  const late: number[] = [];
  const byBucket = new Map<number, number[]>();
  let mismatched = 0;
  for (const e of events) {
    if (!e.scheduledAt) continue;
    if (startsOf.get(e.bookingId)?.startsAt.getTime() !== e.scheduledAt.getTime()) mismatched++;
    const l = e.occurredAt.getTime() - e.scheduledAt.getTime();
    late.push(l);
    const bucket = Math.floor((e.scheduledAt.getTime() - windowStart) / 10_000);
    byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), l]);
  }
  if (mismatched) b.failures.push(`lateness: ${mismatched} start events whose scheduled_at differs from the booking's starts_at`);
  const notOngoing = [...startsOf.values()].filter((r) => r.status !== 'ONGOING').length;
  if (notOngoing) b.failures.push(`lateness: ${notOngoing} bookings not ONGOING at the end`);
  const d = dist(late);
  const over1s = late.filter((l) => l > 1000).length;
  const early = late.filter((l) => l < 0).length;
  if (early) b.failures.push(`lateness: ${early} bookings started before their startsAt`);
  say(`  started ${started}/${created.ok}; all ONGOING ${((allStartedAt - (windowStart + windowMs)) / 1000).toFixed(1)} s after the window closed`);
  say(`  lateness (booking_events.occurred_at - scheduled_at): ${fmtDist(d)}, mean ${ms(d.mean)}`);
  say(`  late by more than 1 s: ${over1s} of ${late.length}`);
  say(`  by 10 s slice of the window: ${[...byBucket.entries()].sort((x, y) => x[0] - y[0]).map(([k, v]) => {
    const bd = dist(v);
    return `${k * 10}s p50 ${Math.round(bd.p50)}/max ${Math.round(bd.max)}`;
  }).join(', ')} (ms)`);
  say(`  during the window ${fmtCpu(windowCpu)}`);
  const actS2s = meanOf(m0, m1, ACT_S2S);
  const actExec = meanOf(m0, m1, ACT_EXEC);
  const wftS2s = meanOf(m0, m1, WFT_S2S);
  say(`  worker metrics (means): workflow task schedule-to-start ${ms(wftS2s)}, activity schedule-to-start ${ms(actS2s)}, recordBookingChange execution ${ms(actExec)}`);

  // Where the lateness comes from, as the workflow histories tell it.
  let stages: Record<string, Dist> | undefined;
  let noTimer = 0;
  let cost: ReturnType<typeof transitionCost> | undefined;
  if (!opts.skipHistory && o.details) {
    const h0 = performance.now();
    const hist = await fetchStartSteps(s.client, [...startsOf.values()].map((r) => ({ id: r.id, startsAt: r.startsAt.getTime() })), { debugFirst: true });
    b.fail('history fetch', hist.errors);
    // A booking whose first workflow task ran after startsAt: the start was due at once, no timer.
    noTimer = [...hist.steps.values()].filter((st) => !st.timer).length;
    stages = stepDists(hist.steps.values(), {
      timerDue: 'timerDue', timerFired: 'timerFired', workflowSaw: 'workflowTaskStarted', activityScheduled: 'activityScheduled', activityStarted: 'activityStarted',
      taskCompleted: 'workflowTaskCompleted',
    });
    cost = transitionCost({ steps: [...hist.steps.values()], transitions: started, m0, m1, cpu: windowCpu, windowS: (w1.t - w0.t) / 1000 });
    say(`  from ${hist.ok} histories (${((performance.now() - h0) / 1000).toFixed(1)} s to fetch), lateness vs startsAt at each step:`);
    if (noTimer) {
      say(`    ${noTimer} started without a timer: their first workflow task ran after startsAt (the creation backlog reached into the window)`);
    }
    printSteps(stages, ['WorkflowTaskStarted (the workflow\'s own clock)        ', stages.workflowSaw], ['booking_events.occurred_at (row written)              ', d]);
    say(`    WorkflowTaskCompleted (the transition's task done)     ${fmtDist(stages.taskCompleted)}`);
  }
  return {
    n: created.ok, started, noTimer, createRate, createMs: created.wallMs, leadMs, overlapMs, lateness: d, over1s, early, stages, cost, windowCpu,
    workerMeans: { wftS2sMs: wftS2s, activityS2sMs: actS2s, activityExecMs: actExec },
  };
}
