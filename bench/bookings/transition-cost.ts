// What one timed transition (a booking's start) costs: from the histories, the events, workflow tasks,
// activity tasks and local activities between its TimerFired and the next timer armed; from the
// workers' Core metrics over the window, tasks, sticky-cache hits and misses per transition; from
// /proc, worker CPU per workflow task and Temporal server CPU per transition.
import { fmtDist, dist, round, type CpuUsage } from '../common';
import type { StartSteps } from '../harness/booking-starts';
import { say } from '../harness/run';

type Metrics = Map<string, number>;

/** A counter's increase between two scrapes (the exporter may or may not append `_total`). */
function counter(a: Metrics, b: Metrics, name: string): number {
  const get = (m: Metrics) => (m.get(name) ?? 0) + (m.get(`${name}_total`) ?? 0);
  return get(b) - get(a);
}

export function transitionCost(o: { steps: StartSteps[]; transitions: number; m0: Metrics; m1: Metrics; cpu: CpuUsage; windowS: number }) {
  const withTimer = o.steps.filter((s) => s.timer);
  const mean = (k: keyof StartSteps['cost']) => (withTimer.length ? withTimer.reduce((x, s) => x + s.cost[k], 0) / withTimer.length : NaN);
  const per = (x: number) => (o.transitions > 0 ? x / o.transitions : NaN);
  const wft = counter(o.m0, o.m1, 'temporal_workflow_task_execution_latency_count');
  const cores = (k: string) => o.cpu[k] ?? NaN;
  const temporalCores = Object.entries(o.cpu).filter(([k]) => k.startsWith('temporal')).reduce((x, [, v]) => x + v, 0);
  const c = {
    history: {
      events: round(mean('events'), 2),
      workflowTasks: round(mean('workflowTasks'), 2),
      activityTasks: round(mean('activityTasks'), 2),
      localActivities: round(mean('localActivities'), 2),
      searchAttributeUpserts: round(mean('upserts'), 2),
      eventsDist: dist(withTimer.map((s) => s.cost.events)),
    },
    perTransition: {
      workflowTasks: round(per(wft), 2),
      activityTasks: round(per(counter(o.m0, o.m1, 'temporal_activity_execution_latency_count')), 2),
      localActivities: round(per(counter(o.m0, o.m1, 'temporal_local_activity_execution_latency_count')), 2),
      stickyHits: round(per(counter(o.m0, o.m1, 'temporal_sticky_cache_hit')), 2),
      stickyMisses: round(per(counter(o.m0, o.m1, 'temporal_sticky_cache_miss')), 2),
      replays: round(per(counter(o.m0, o.m1, 'temporal_workflow_task_replay_latency_count')), 2),
      workerCpuMsPerWorkflowTask: round(wft > 0 ? (cores('workers') * o.windowS * 1000) / wft : NaN, 2),
      workerCpuMs: round(per(cores('workers') * o.windowS * 1000), 2),
      temporalCpuMs: round(per(temporalCores * o.windowS * 1000), 2),
      postgresCpuMs: round(per(cores('postgres') * o.windowS * 1000), 2),
    },
  };
  const h = c.history;
  const p = c.perTransition;
  say(`  cost of one start transition (${withTimer.length} histories; metrics and CPU over the window / ${o.transitions} transitions):`);
  say(`    history: ${h.events} events (${fmtDist(h.eventsDist)}), ${h.workflowTasks} workflow tasks, ${h.activityTasks} activity tasks, ${h.localActivities} local activities, ${h.searchAttributeUpserts} search-attribute upserts`);
  say(`    workers: ${p.workflowTasks} workflow tasks, ${p.activityTasks} activity tasks, ${p.localActivities} local activities; sticky cache ${p.stickyHits} hits / ${p.stickyMisses} misses, ${p.replays} full replays`);
  say(`    CPU per transition: workers ${p.workerCpuMs} ms (${p.workerCpuMsPerWorkflowTask} ms per workflow task), Temporal server ${p.temporalCpuMs} ms, PostgreSQL ${p.postgresCpuMs} ms`);
  return c;
}
