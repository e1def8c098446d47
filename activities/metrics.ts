// The worker process's own metrics (prom-client), recorded by the activities where a change is
// written: booking transitions and how late timer-driven ones were, and message deliveries by status.
// Process-wide, like the process they describe: every worker in the process records into one registry,
// which workers/metrics-server.ts serves together with the Temporal SDK's worker metrics.
// Only writes that changed something are counted, so a retried activity never counts twice.
import { Counter, Histogram, type Registry } from 'prom-client';
import { createRegistry } from '../config/prometheus';

export interface WorkerMetrics {
  registry: Registry;
  transitions: Counter<'action' | 'to'>;
  lateness: Histogram<'action'>;
  deliveries: Counter<'source' | 'channel' | 'status'>;
  workflowStarts: Counter<'workflow'>;
}

let metrics: WorkerMetrics | undefined;

export function workerMetrics(): WorkerMetrics {
  if (metrics) return metrics;
  const registry = createRegistry();
  metrics = {
    registry,
    transitions: new Counter({
      name: 'keel_booking_transitions_total',
      help: 'Booking state changes written, by action and new status',
      labelNames: ['action', 'to'] as const,
      registers: [registry],
    }),
    lateness: new Histogram({
      name: 'keel_booking_transition_lateness_seconds',
      help: 'Timer-driven booking transitions: written at minus due at (occurred_at - scheduled_at)',
      labelNames: ['action'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'keel_deliveries_total',
      help: 'Messages whose delivery outcome was recorded, by source (campaign, notification), channel and status',
      labelNames: ['source', 'channel', 'status'] as const,
      registers: [registry],
    }),
    // The API's metric of the same name and label (api/metrics.ts): summed over both processes, every
    // start is counted, also those a worker makes (the watchdog's incident).
    workflowStarts: new Counter({
      name: 'keel_workflow_starts_total',
      help: 'Workflow start requests this worker process made (accepted by Temporal), by workflow type',
      labelNames: ['workflow'] as const,
      registers: [registry],
    }),
  };
  return metrics;
}

/** A booking change that was applied (not a replayed one): its count and, if timer-driven, its lateness. */
export function recordTransition(change: { action: string; to: string; scheduledAt?: string }, occurredAt: string): void {
  const m = workerMetrics();
  m.transitions.inc({ action: change.action, to: change.to });
  if (change.scheduledAt) {
    m.lateness.observe({ action: change.action }, (Date.parse(occurredAt) - Date.parse(change.scheduledAt)) / 1000);
  }
}

/** One accepted workflow start (the TemporalGateway's onStart). */
export function countWorkflowStart(workflow: string): void {
  workerMetrics().workflowStarts.inc({ workflow });
}

export function recordDeliveries(source: 'campaign' | 'notification', channel: string, counts: { sent?: number; failed?: number }): void {
  const m = workerMetrics();
  if (counts.sent) m.deliveries.inc({ source, channel, status: 'sent' }, counts.sent);
  if (counts.failed) m.deliveries.inc({ source, channel, status: 'failed' }, counts.failed);
}
