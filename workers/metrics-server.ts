// The worker process's Prometheus endpoint: one scrape gives Keel's own worker metrics (prom-client:
// transitions, lateness, deliveries, process metrics) and the Temporal SDK's worker metrics (task
// slots, poll and schedule-to-start latencies, sticky cache...). The SDK's exporter lives in the
// Rust core and serves its own text on a second, loopback-only port; it is fetched at each scrape and
// appended, minus any family already given, so Prometheus sees one consistent target per process.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { EXPOSITION_CONTENT_TYPE, fetchExposition, mergeExpositions } from '../config/prometheus';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: {
  registry: Registry;
  port: number;
  host?: string;
  /** The SDK exporter's URL (http://127.0.0.1:<KEEL_TEMPORAL_METRICS_PORT>/metrics), if installed. */
  sdkUrl?: string;
}): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    void (async () => {
      const texts = [await opts.registry.metrics()];
      if (opts.sdkUrl) {
        const sdk = await fetchExposition(opts.sdkUrl).catch(() => undefined);
        texts.push(`# HELP keel_temporal_sdk_metrics_up Whether the Temporal SDK's exporter answered this scrape\n# TYPE keel_temporal_sdk_metrics_up gauge\nkeel_temporal_sdk_metrics_up ${sdk === undefined ? 0 : 1}\n`);
        if (sdk !== undefined) texts.push(sdk);
      }
      res.writeHead(200, { 'Content-Type': EXPOSITION_CONTENT_TYPE }).end(mergeExpositions(texts));
    })().catch((err) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
