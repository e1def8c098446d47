// Prometheus metrics: the API's GET /metrics (request latency by route pattern and status, workflow
// starts, process metrics), the worker's own metrics after a real timer-driven booking transition
// (in-process worker), and a real worker process whose endpoint serves Keel's worker metrics together
// with the Temporal SDK's, with no metric family twice.
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../api/app';
import { workerMetrics } from '../../activities/metrics';
import { familiesOf, mergeExpositions } from '../../config/prometheus';
import { loadRunbooks } from '../../runbooks/load';
import { startMetricsServer } from '../../workers/metrics-server';
import { freePort } from '../../scripts/net';
import { DEFAULT_CAMPAIGN_SETTINGS, TEST_COMPONENTS, bookingBody, eventually, startStack, type Stack } from '../helpers/stack';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ name: 'metrics', workers: ['bookings'] });
});
afterAll(async () => {
  await stack?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses exposition text, checking every line is a comment or a well-formed sample. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

/** No family announced twice: Prometheus refuses such a scrape. */
function expectNoDuplicateFamilies(text: string) {
  const types = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  expect(types.length).toBeGreaterThan(0);
  expect(types.length).toBe(new Set(types).size);
}

test('GET /metrics: Prometheus text without a key, latency by route pattern and status, counts that grow, workflow starts', async () => {
  const scrape = async () => {
    const res = await stack.api(null).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expectNoDuplicateFamilies(res.text);
    return parseMetrics(res.text);
  };
  const before = await scrape();
  expect(before.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  expect(before.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);

  const b = bookingBody();
  await stack.api('service').post('/v1/bookings', b).expect(201);
  await stack.api('service').get(`/v1/bookings/${b.bookingId}`).expect(200);
  await stack.api('service').get(`/v1/bookings/${b.bookingId}`).expect(200);
  await stack.api('service').get('/v1/bookings/no-such-booking').expect(404);
  await stack.api('service').post('/v1/bookings', { ...b, amountCents: -1 }).expect(400);
  await stack.api('service').get('/v1/nothing-here').expect(404);
  await stack.api(null).get(`/v1/bookings/${b.bookingId}`).expect(401);

  const after = await scrape();
  const count = (samples: Sample[], labels: Record<string, string>) => value(samples, 'keel_http_request_duration_seconds_count', labels);
  expect(count(after, { method: 'POST', route: '/v1/bookings', status: '201' }) - count(before, { method: 'POST', route: '/v1/bookings', status: '201' })).toBe(1);
  expect(count(after, { method: 'GET', route: '/v1/bookings/:id', status: '200' }) - count(before, { method: 'GET', route: '/v1/bookings/:id', status: '200' })).toBe(2);
  // An error thrown inside a route keeps that route's pattern.
  expect(count(after, { method: 'GET', route: '/v1/bookings/:id', status: '404' })).toBeGreaterThanOrEqual(1);
  expect(count(after, { method: 'POST', route: '/v1/bookings', status: '400' })).toBeGreaterThanOrEqual(1);
  // Unrouted requests share one label, whatever their URL.
  expect(count(after, { route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
  expect(count(after, { route: 'unmatched', status: '401' })).toBeGreaterThanOrEqual(1);
  // Latency buckets exist for the route, and no label ever holds a raw id.
  expect(value(after, 'keel_http_request_duration_seconds_bucket', { route: '/v1/bookings/:id', le: '+Inf', status: '200' })).toBeGreaterThanOrEqual(2);
  expect(after.some((s) => Object.values(s.labels).some((v) => v.includes(b.bookingId) || v.includes('no-such-booking') || v.includes('nothing-here')))).toBe(false);
  expect(value(after, 'keel_workflow_starts_total', { workflow: 'bookingWorkflow' }) - value(before, 'keel_workflow_starts_total', { workflow: 'bookingWorkflow' })).toBe(1);
  // The scrape itself is counted under its own route.
  expect(count(after, { route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);
});

test('worker metrics: a timer-driven transition is counted with its lateness; the endpoint serves them', async () => {
  const m = workerMetrics();
  const text = async () => m.registry.metrics();
  const before = parseMetrics(await text());
  // Starts in 2 s: the workflow's timer moves it to ONGOING (a scheduled transition).
  const b = bookingBody({}, 2000, 60 * 60_000);
  await stack.api('service').post('/v1/bookings', b).expect(201);
  await eventually(async () => (await stack.db.booking.findUnique({ where: { id: b.bookingId } }))?.status === 'ONGOING', 20_000);
  const event = await stack.db.bookingEvent.findFirstOrThrow({ where: { bookingId: b.bookingId, toStatus: 'ONGOING' } });
  const after = parseMetrics(await text());
  const diff = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
  expect(diff('keel_booking_transitions_total', { action: event.action, to: 'ONGOING' })).toBe(1);
  expect(diff('keel_booking_transition_lateness_seconds_count', { action: event.action })).toBe(1);
  const lateness = (event.occurredAt.getTime() - event.scheduledAt!.getTime()) / 1000;
  expect(diff('keel_booking_transition_lateness_seconds_sum', { action: event.action })).toBeCloseTo(lateness, 2);
  // The request-driven creation is not a transition a timer drove: no lateness for it.
  expect(after.filter((s) => s.name === 'keel_booking_transition_lateness_seconds_count' && s.labels.action === 'create')).toHaveLength(0);

  // The worker process's endpoint: this registry, and a gauge saying the SDK's exporter did not answer.
  const dead = await freePort();
  const server = await startMetricsServer({ registry: m.registry, port: 0, host: '127.0.0.1', sdkUrl: `http://127.0.0.1:${dead}/metrics` });
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expectNoDuplicateFamilies(body);
    const samples = parseMetrics(body);
    expect(value(samples, 'keel_booking_transitions_total', { to: 'ONGOING' })).toBeGreaterThanOrEqual(1);
    expect(value(samples, 'keel_temporal_sdk_metrics_up')).toBe(0);
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  } finally {
    await server.close();
  }
});

test('mergeExpositions keeps the first of two families with the same name and every other family', () => {
  const a = '# HELP x_total A\n# TYPE x_total counter\nx_total 1\n# HELP h H\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n';
  const b = '# HELP x_total B\n# TYPE x_total counter\nx_total 9\n# HELP y Y\n# TYPE y gauge\ny{a="1"} 4\n';
  const merged = mergeExpositions([a, b]);
  expect([...familiesOf(merged).keys()]).toEqual(['x_total', 'h', 'y']);
  expect(merged).toContain('x_total 1');
  expect(merged).not.toContain('x_total 9');
  expect(merged).toContain('h_count 2');
  expect(merged).toContain('y{a="1"} 4');
});

describe('a worker process', () => {
  let worker: WorkerProcess;
  beforeAll(async () => {
    worker = await startWorkerProcess({ databaseUrl: stack.workerDbUrl, taskQueuePrefix: `${stack.prefix}-w`, workers: 'bookings' });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
  });

  test("serves Keel's worker metrics and the Temporal SDK's on one port, no family twice; the API can append it", async () => {
    const url = `http://127.0.0.1:${worker.metricsPort}/metrics`;
    // The SDK's exporter counts its pollers and requests from the first poll on.
    const body = await eventually(async () => {
      const text = await (await fetch(url)).text();
      return /^temporal_/m.test(text) ? text : undefined;
    }, 20_000, 250);
    expectNoDuplicateFamilies(body);
    const samples = parseMetrics(body);
    expect(value(samples, 'keel_temporal_sdk_metrics_up')).toBe(1);
    expect(samples.some((s) => s.name.startsWith('temporal_') && s.labels.task_queue === `${stack.prefix}-w-bookings`)).toBe(true);
    expect(samples.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
    expect(body).toContain('# TYPE keel_booking_transitions_total counter');

    // KEEL_METRICS_SCRAPE_URLS: the API's scrape appends the worker's, minus families it already has.
    const app = createApp({
      db: stack.db, client: stack.client, logger: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
      apiKeys: `operator:${stack.keys.operator}`,
      workflows: { taskQueuePrefix: stack.prefix, settings: { noShowGraceMs: 60_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
      incidents: { components: TEST_COMPONENTS, runbooks: loadRunbooks() }, campaigns: DEFAULT_CAMPAIGN_SETTINGS,
      metricsScrapeUrls: [url, `http://127.0.0.1:${await freePort()}/metrics`],
    });
    const res = await request(app).get('/metrics').expect(200);
    expectNoDuplicateFamilies(res.text);
    const combined = parseMetrics(res.text);
    expect(combined.some((s) => s.name.startsWith('temporal_'))).toBe(true);
    expect(combined.some((s) => s.name === 'keel_http_request_duration_seconds_bucket')).toBe(true);
    expect(combined.filter((s) => s.name === 'keel_metrics_source_up').map((s) => s.value).sort()).toEqual([0, 1]);
  }, 60_000);
});
