// The API process's metrics (prom-client), served at GET /metrics: request latency (and, through the
// histogram's _count, request rate) by route pattern and status, workflow starts by type, and Node's
// default process metrics. Process-wide, like the process they describe.
//
// The route label is the pattern express matched (`/v1/bookings/:id`), never the raw URL, so ids do
// not create a time series each; requests no route matched (404s, 401s before routing) are `unmatched`.
import type { Request, RequestHandler } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';
import { EXPOSITION_CONTENT_TYPE, createRegistry, fetchExposition, mergeExpositions } from '../config/prometheus';

export interface ApiMetrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  workflowStarts: Counter<'workflow'>;
}

let metrics: ApiMetrics | undefined;

export function apiMetrics(): ApiMetrics {
  if (metrics) return metrics;
  const registry = createRegistry();
  metrics = {
    registry,
    httpDuration: new Histogram({
      name: 'keel_http_request_duration_seconds',
      help: 'API requests: time to the response, by method, route pattern and status (the _count is the request count)',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    workflowStarts: new Counter({
      name: 'keel_workflow_starts_total',
      help: 'Workflow start requests the API made (accepted by Temporal), by workflow type',
      labelNames: ['workflow'] as const,
      registers: [registry],
    }),
  };
  return metrics;
}

/** Counts one accepted workflow start (call after the start call resolved). */
export function countWorkflowStart(workflow: string): void {
  apiMetrics().workflowStarts.inc({ workflow });
}

const ROUTE_PATTERN = Symbol('keel.routePattern');

/**
 * Times every response. The pattern is captured when the router assigns `req.route`, because by the
 * time the response finishes an error may have unwound the routers and reset `req.baseUrl`.
 */
export function httpMetricsMiddleware(): RequestHandler {
  const { httpDuration } = apiMetrics();
  return (req, res, next) => {
    const end = httpDuration.startTimer();
    let route: unknown;
    Object.defineProperty(req, 'route', {
      configurable: true,
      enumerable: true,
      get: () => route,
      set(value: { path?: string | RegExp | Array<string | RegExp> } | undefined) {
        route = value;
        if (value && value.path !== undefined) {
          // A router's root route ('/' under '/v1/bookings') is named by its mount point.
          const pattern = `${req.baseUrl}${Array.isArray(value.path) ? value.path.join(',') : String(value.path)}`;
          (req as Request & { [ROUTE_PATTERN]?: string })[ROUTE_PATTERN] = pattern.length > 1 ? pattern.replace(/\/$/, '') : pattern;
        }
      },
    });
    res.once('finish', () => {
      const pattern = (req as Request & { [ROUTE_PATTERN]?: string })[ROUTE_PATTERN];
      end({ method: req.method, route: pattern ?? 'unmatched', status: String(res.statusCode) });
    });
    next();
  };
}

/**
 * GET /metrics: this process's registry, then the text of each `scrapeUrls` entry (e.g. a worker's
 * endpoint on a laptop), leaving out families already given. A source that does not answer is
 * reported in `keel_metrics_source_up` and skipped, never a failed scrape.
 */
export function metricsHandler(opts: { scrapeUrls?: string[] } = {}): RequestHandler {
  const { registry } = apiMetrics();
  const urls = opts.scrapeUrls ?? [];
  return async (_req, res, next) => {
    try {
      const texts = [await registry.metrics()];
      const up: string[] = [];
      for (const url of urls) {
        const text = await fetchExposition(url).catch(() => undefined);
        up.push(`keel_metrics_source_up{url="${url.replace(/["\\\n]/g, '_')}"} ${text === undefined ? 0 : 1}`);
        if (text !== undefined) texts.push(text);
      }
      if (urls.length) texts.push(`# HELP keel_metrics_source_up Whether a configured metrics source answered this scrape\n# TYPE keel_metrics_source_up gauge\n${up.join('\n')}\n`);
      res.setHeader('Content-Type', EXPOSITION_CONTENT_TYPE);
      res.send(mergeExpositions(texts));
    } catch (err) {
      next(err);
    }
  };
}
