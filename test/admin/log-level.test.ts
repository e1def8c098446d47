// Emergency log levels end to end: PUT /v1/admin/log-level starts or signals the durable window
// workflow (real Temporal, in-process ops worker), the activity stores the level, the API's watcher
// and a separate worker process switch their loggers, and the window's timer switches them back at the
// window's end (never before), also when the API and the ops worker are both replaced midway: the timer
// lives in Temporal. How promptly after the end is not asserted (a busy machine cannot keep it). A
// "minute" is shortened to MINUTE_MS for the test through the app's logLevels.minuteMs setting
// (production: 60 s).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import request from 'supertest';
import type { Express } from 'express';
import { appLoggers, createApp } from '../../api/app';
import { createLogger } from '../../config/logger';
import { startLogLevelWatcher, type LogLevelWatcher } from '../../config/log-level-watch';
import { effectiveLevel, logLevelWorkflowId, type LogComponent, type LogLevelRequest } from '../../domain/log-level';
import { taskQueue } from '../../domain/task-queues';
import { loadRunbooks } from '../../runbooks/load';
import { DEFAULT_CAMPAIGN_SETTINGS, TEST_COMPONENTS, eventually, sleep, startStack, type Stack } from '../helpers/stack';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const MINUTE_MS = 6000;
let stack: Stack;
let seq = 0;
const watchers: LogLevelWatcher[] = [];

beforeAll(async () => {
  stack = await startStack({ name: 'log-level', workers: ['ops'] });
});
// Each test starts from a clean slate: earlier API "processes" gone, every window reverted.
afterEach(async () => {
  for (const w of watchers.splice(0)) await w.stop();
  await untilDefault('api');
  await untilDefault('worker');
}, 70_000);
afterAll(async () => {
  for (const c of ['api', 'worker'] as LogComponent[]) {
    await stack?.client.workflow.getHandle(logLevelWorkflowId(c, stack.prefix)).terminate('test over').catch(() => undefined);
  }
  await stack?.stop();
});

/** A fresh API "process": its own app, loggers and watcher over the stack's database and Temporal. */
function startApi(opts: { logger?: Logger; minuteMs?: number } = {}): { app: Express; watcher: LogLevelWatcher; logger: Logger } {
  const logger = opts.logger ?? pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }));
  const app = createApp({
    db: stack.db,
    client: stack.client,
    logger,
    apiKeys: Object.entries(stack.keys).map(([role, token]) => `${role}:${token}`).join(','),
    workflows: { taskQueuePrefix: stack.prefix, settings: { noShowGraceMs: 30 * 60_000, remindersBeforeStartMs: [], remindersBeforeEndMs: [] } },
    incidents: { components: TEST_COMPONENTS, runbooks: loadRunbooks() },
    campaigns: DEFAULT_CAMPAIGN_SETTINGS,
    logLevels: { minuteMs: opts.minuteMs ?? MINUTE_MS },
  });
  const watcher = startLogLevelWatcher({
    db: stack.db, component: 'api', defaultLevel: 'info', loggers: () => appLoggers(app), pollMs: 100, instance: `api:test:${process.pid}:${++seq}`,
  });
  watchers.push(watcher);
  return { app, watcher, logger };
}

const put = (app: Express, body: unknown, role: keyof Stack['keys'] | null = 'operator') => {
  const t = request(app).put('/v1/admin/log-level');
  return (role ? t.set('Authorization', `Bearer ${stack.keys[role]}`) : t).send(body as object);
};
const get = (app: Express, role: keyof Stack['keys'] | null = 'operator') => {
  const t = request(app).get('/v1/admin/log-level');
  return role ? t.set('Authorization', `Bearer ${stack.keys[role]}`) : t;
};

interface ComponentView {
  component: string;
  level: string | null;
  revertsAt: string | null;
  setBy: string | null;
  processes: Array<{ instance: string; level: string; defaultLevel: string }>;
}
const view = async (app: Express, component: LogComponent): Promise<ComponentView> => {
  const res = await get(app).expect(200);
  return (res.body.components as ComponentView[]).find((c) => c.component === component)!;
};

/** Waits for the window of `component` to be over: reverted, and its workflow finished (or never started). */
async function untilDefault(component: LogComponent) {
  await eventually(async () => {
    const row = await stack.db.logLevelWindow.findUnique({ where: { component } });
    if (row && row.level !== null) return false;
    const status = await stack.client.workflow.getHandle(logLevelWorkflowId(component, stack.prefix)).describe()
      .then((d) => d.status.name, (err: Error) => (err.name === 'WorkflowNotFoundError' ? 'NOT_FOUND' : Promise.reject(err)));
    return status !== 'RUNNING';
  }, 30_000);
}

test('PUT switches the API, GET shows it, and the window reverts at its end, not before', async () => {
  const { app, watcher } = startApi();
  const before = Date.now();
  const res = await put(app, { level: 'debug', component: 'api', minutes: 1, reason: 'incident inc-1: tracing unlock failures' }).expect(200);
  const after = Date.now();
  expect(res.body.windows).toHaveLength(1);
  const w = res.body.windows[0];
  expect(w).toMatchObject({ component: 'api', level: 'debug', setBy: expect.stringMatching(/^operator:[0-9a-f]{8}$/), workflowId: logLevelWorkflowId('api', stack.prefix) });
  const revertsAt = Date.parse(w.revertsAt);
  expect(revertsAt).toBeGreaterThanOrEqual(before + MINUTE_MS);
  expect(revertsAt).toBeLessThanOrEqual(after + MINUTE_MS);

  await eventually(async () => watcher.level() === 'debug', 10_000, 50);
  // Every logger the app logs through switched, pino-http's own child included.
  expect(appLoggers(app).map((l) => l.level)).toEqual(['debug', 'debug']);
  const shown = await view(app, 'api');
  expect(shown).toMatchObject({ level: 'debug', revertsAt: w.revertsAt, setBy: w.setBy });
  expect(shown.processes).toContainEqual(expect.objectContaining({ instance: watcher.instance, level: 'debug', defaultLevel: 'info' }));
  expect((await view(app, 'worker')).level).toBeNull(); // only the api component was named

  // Back to the default once the window ends, not before (the deadline only guards against a hang).
  await eventually(async () => watcher.level() === 'info', MINUTE_MS + 30_000, 50);
  expect(Date.now()).toBeGreaterThanOrEqual(revertsAt);
  expect(appLoggers(app).map((l) => l.level)).toEqual(['info', 'info']);
  // The watcher would fall back at the end on its own (see effectiveLevel); the stored revert is the workflow's.
  await untilDefault('api');
  const row = await stack.db.logLevelWindow.findUniqueOrThrow({ where: { component: 'api' } });
  expect(row).toMatchObject({ level: null, revertsAt: null, setBy: 'system' });
  const audit = await stack.db.auditLog.findMany({ where: { resourceType: 'log_level', resourceId: 'api' }, orderBy: { id: 'asc' } });
  expect(audit.map((a) => a.action).slice(-2)).toEqual(['log_level.set', 'log_level.revert']);
  expect(audit.at(-2)).toMatchObject({ actor: w.setBy, details: expect.objectContaining({ level: 'debug', reason: 'incident inc-1: tracing unlock failures' }) });
  // The window workflow is done once it reverted.
  const handle = stack.client.workflow.getHandle(logLevelWorkflowId('api', stack.prefix));
  await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 10_000);
});

test('PUT counts each window it starts in keel_workflow_starts_total{workflow="logLevelWorkflow"}; a refused one counts nothing', async () => {
  const { app } = startApi();
  const starts = async () => {
    const text = (await request(app).get('/metrics').expect(200)).text;
    const m = /^keel_workflow_starts_total\{workflow="logLevelWorkflow"\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const before = await starts();
  await put(app, { level: 'debug', component: 'api', minutes: 1 }).expect(200);
  expect(await starts()).toBe(before + 1);
  await put(app, { level: 'debug', component: 'api', minutes: 0 }).expect(400);
  expect(await starts()).toBe(before + 1);
});

test('a second request replaces the window: new level, timer re-armed to the new end', async () => {
  const { app, watcher } = startApi();
  const first = (await put(app, { level: 'debug', component: 'api', minutes: 1 }).expect(200)).body.windows[0];
  await eventually(async () => watcher.level() === 'debug', 10_000, 50);
  const second = (await put(app, { level: 'trace', component: 'api', minutes: 2 }).expect(200)).body.windows[0];
  expect(Date.parse(second.revertsAt)).toBeGreaterThan(Date.parse(first.revertsAt));
  await eventually(async () => watcher.level() === 'trace', 10_000, 50);
  // Past the first window's end it is still on: the first timer no longer counts.
  await sleep(Math.max(0, Date.parse(first.revertsAt) - Date.now()) + 800);
  expect(watcher.level()).toBe('trace');
  expect((await view(app, 'api')).revertsAt).toBe(second.revertsAt);
  await eventually(async () => watcher.level() === 'info', 2 * MINUTE_MS + 20_000, 50);
  expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(second.revertsAt));
  // One workflow run served both requests.
  const handle = stack.client.workflow.getHandle(logLevelWorkflowId('api', stack.prefix));
  await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 10_000);
  const history = await handle.fetchHistory();
  expect((history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes)).toHaveLength(2);
});

test('the window reverts across a restart of both the API and the ops worker: the timer lives in Temporal', async () => {
  const workflowId = logLevelWorkflowId('api', stack.prefix);
  const handle = stack.client.workflow.getHandle(workflowId);
  const converter = stack.client.options.loadedDataConverter.payloadConverter;
  const revertTimers = async () => {
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.timerStartedEventAttributes
      && e.userMetadata?.summary && String(converter.fromPayload(e.userMetadata.summary)).startsWith('revert to default'));
    const fired = events.filter((e) => e.timerFiredEventAttributes);
    return { started, fired };
  };
  const revertRow = () => stack.db.logLevelWindow.findUniqueOrThrow({ where: { component: 'api' } });
  const revertAudits = () => stack.db.auditLog.count({ where: { resourceType: 'log_level', resourceId: 'api', action: 'log_level.revert' } });

  // A two-"minute" window (12 s): room for the setup below to finish before it ends, on a busy machine too.
  const first = startApi();
  const w = (await put(first.app, { level: 'warn', component: 'api', minutes: 2 }).expect(200)).body.windows[0];
  const revertsAt = Date.parse(w.revertsAt);
  await eventually(async () => first.watcher.level() === 'warn', 20_000, 50);
  const armed = await eventually(async () => (await revertTimers()).started[0], 20_000, 50);
  const auditsBefore = await revertAudits();

  // The API process goes away (its ack row with it), and so does the ops worker, the only one polling
  // the window's task queue: no process of ours holds the timer now.
  await first.watcher.stop();
  await stack.stopWorkers();
  try {
    if (Date.now() >= revertsAt) throw new Error('setup too slow: the ops worker stopped only after the window ended');
    // A new API process in the middle of the window finds it on (from the database).
    const second = startApi();
    await eventually(async () => second.watcher.level() === 'warn', 20_000, 50);
    const shown = await view(second.app, 'api');
    expect(shown.level).toBe('warn');
    expect(shown.processes.map((p) => p.instance)).toEqual([second.watcher.instance]);

    // With no worker running, Temporal fires the timer at the window's end (not before)...
    const fired = await eventually(async () => (await revertTimers()).fired
      .find((e) => String(e.timerFiredEventAttributes!.timerId) === String(armed.timerStartedEventAttributes!.timerId)), 2 * MINUTE_MS + 30_000, 200);
    const firedAt = Number(fired.eventTime!.seconds) * 1000 + Math.floor((fired.eventTime!.nanos ?? 0) / 1e6);
    expect(firedAt).toBeGreaterThanOrEqual(revertsAt);
    // ...and nothing acts on it yet: the revert is the workflow's to store, and no worker runs it.
    await sleep(1000);
    expect(await revertRow()).toMatchObject({ level: 'warn' });
    expect(await revertAudits()).toBe(auditsBefore);
  } finally {
    await stack.startWorkers(); // a new ops worker (also when an assertion failed, so later tests have one)
  }
  // The new worker picks up the fired timer and stores the revert; the workflow completes.
  await untilDefault('api');
  expect(await revertRow()).toMatchObject({ level: null, revertsAt: null, setBy: 'system' });
  expect(await revertAudits()).toBe(auditsBefore + 1);
  expect((await handle.describe()).status.name).toBe('COMPLETED');
}, 120_000);

test('history stays bounded: after maxChangesPerRun changes the window continues as new and keeps its state', async () => {
  const { watcher } = startApi();
  const workflowId = logLevelWorkflowId('api', stack.prefix);
  const ask = (level: LogLevelRequest['level'], ms: number): LogLevelRequest => ({ level, revertsAt: new Date(Date.now() + ms).toISOString(), setBy: 'operator:test' });
  const signal = (r: LogLevelRequest) => stack.client.workflow.signalWithStart('logLevelWorkflow', {
    workflowId, taskQueue: taskQueue('ops', stack.prefix), args: [{ component: 'api', maxChangesPerRun: 2 }], signal: 'setLogLevel', signalArgs: [r],
  });
  const first = await signal(ask('debug', 60_000));
  await eventually(async () => watcher.level() === 'debug', 10_000, 50);
  await signal(ask('trace', 60_000));
  await eventually(async () => watcher.level() === 'trace', 10_000, 50);
  // The third change lands in a new run, which carries the request and finishes the window.
  const last = ask('warn', 4000);
  await signal(last);
  await eventually(async () => watcher.level() === 'warn', 10_000, 50);
  const firstRun = stack.client.workflow.getHandle(workflowId, first.signaledRunId);
  expect((await firstRun.describe()).status.name).toBe('CONTINUED_AS_NEW');
  const current = await stack.client.workflow.getHandle(workflowId).describe();
  expect(current.runId).not.toBe(first.signaledRunId);
  await eventually(async () => watcher.level() === 'info', 15_000, 50);
  expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(last.revertsAt));
});

test('a window past its end counts as over even if nothing reverted it (belt and braces)', () => {
  const now = Date.parse('2030-01-01T12:00:00Z');
  expect(effectiveLevel(null, 'info', now)).toBe('info');
  expect(effectiveLevel({ level: null, revertsAt: null }, 'warn', now)).toBe('warn');
  expect(effectiveLevel({ level: 'debug', revertsAt: new Date(now + 1000) }, 'info', now)).toBe('debug');
  expect(effectiveLevel({ level: 'debug', revertsAt: new Date(now) }, 'info', now)).toBe('info');
  expect(effectiveLevel({ level: 'debug', revertsAt: new Date(now - 1) }, 'info', now)).toBe('info');
});

describe('a worker process', () => {
  let worker: WorkerProcess;
  beforeAll(async () => {
    // Its own task-queue prefix: it only watches the log level here (the window runs on the stack's ops worker).
    worker = await startWorkerProcess({ databaseUrl: stack.workerDbUrl, taskQueuePrefix: `${stack.prefix}-w`, env: { KEEL_LOG_LEVEL_POLL: '200ms' } });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
  });

  test('switches (its ack row and its own log show it) and reverts at the window\'s end, not before', async () => {
    const { app } = startApi();
    const instance = expect.stringMatching(new RegExp(`^worker:.+:${worker.pid}$`));
    await eventually(async () => (await view(app, 'worker')).processes.some((p) => p.level === 'info'), 10_000);
    const w = (await put(app, { level: 'debug', component: 'worker', minutes: 2 }).expect(200)).body.windows[0];
    const applied = await eventually(async () => (await view(app, 'worker')).processes.find((p) => p.level === 'debug'), 20_000, 100);
    expect(applied).toMatchObject({ instance, defaultLevel: 'info' });
    // The process itself says so, in its own log.
    expect(worker.logs).toContainEqual(expect.objectContaining({ msg: 'log level changed', from: 'info', to: 'debug', component: 'worker' }));
    expect((await view(app, 'api')).level).toBeNull();

    await eventually(async () => (await view(app, 'worker')).processes.find((p) => p.level === 'info'), 2 * MINUTE_MS + 30_000, 100);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(w.revertsAt));
    expect(worker.logs).toContainEqual(expect.objectContaining({ msg: 'log level changed', from: 'debug', to: 'info' }));
  }, 90_000);

  test('without a component, every component switches', async () => {
    const { app, watcher } = startApi();
    const res = await put(app, { level: 'error', minutes: 1 }).expect(200);
    expect(res.body.windows.map((x: { component: string }) => x.component)).toEqual(['api', 'worker']);
    await eventually(async () => watcher.level() === 'error', 10_000, 50);
    await eventually(async () => (await view(app, 'worker')).processes.find((p) => p.level === 'error'), 20_000, 100);
    await eventually(async () => watcher.level() === 'info' && (await view(app, 'worker')).processes.some((p) => p.level === 'info'), MINUTE_MS + 30_000, 100);
  }, 90_000);
});

test('bad input is refused with 400 and a clear message, never 5xx', async () => {
  const { app } = startApi();
  const auditBefore = await stack.db.auditLog.count({ where: { resourceType: 'log_level' } });
  const bad: Array<[unknown, string]> = [
    [{ level: 'verbose', minutes: 5 }, 'level'],
    [{ level: 'debug', minutes: 0 }, 'minutes'],
    [{ level: 'debug', minutes: 10_000 }, 'minutes'],
    [{ level: 'debug', minutes: '5' }, 'minutes'],
    [{ level: 'debug', minutes: -1 }, 'minutes'],
    [{ level: 'debug' }, 'minutes'],
    [{ minutes: 5 }, 'level'],
    [{ level: 'debug', minutes: 5, component: 'database' }, 'component'],
    [{ level: 'debug', minutes: 5, reason: '' }, 'reason'],
    [{ level: 'debug', minutes: 5, reason: 'x'.repeat(501) }, 'reason'],
    [{ level: 'debug', minutes: 5, extra: true }, 'body'],
    [[], 'body'],
  ];
  for (const [body, field] of bad) {
    const res = await put(app, body);
    expect({ body, status: res.status }).toEqual({ body, status: 400 });
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toContain(field === 'body' ? 'invalid body' : field);
  }
  const malformed = await request(app).put('/v1/admin/log-level').set('Authorization', `Bearer ${stack.keys.operator}`)
    .set('Content-Type', 'application/json').send('{"level": "debug",');
  expect(malformed.status).toBe(400);
  expect(malformed.body.error.code).toBe('MALFORMED_JSON');
  // None of them changed anything.
  await sleep(300);
  expect(await stack.db.auditLog.count({ where: { resourceType: 'log_level' } })).toBe(auditBefore);
});

test('auth: PUT is for operators only; GET for operators, commanders and viewers', async () => {
  const { app } = startApi();
  const body = { level: 'info', component: 'api', minutes: 1 };
  expect((await put(app, body, null)).status).toBe(401);
  for (const role of ['service', 'commander', 'viewer'] as const) {
    const res = await put(app, body, role);
    expect({ role, status: res.status, code: res.body.error?.code }).toEqual({ role, status: 403, code: 'FORBIDDEN' });
  }
  expect((await get(app, null)).status).toBe(401);
  expect((await get(app, 'service')).status).toBe(403);
  for (const role of ['operator', 'commander', 'viewer'] as const) expect((await get(app, role)).status).toBe(200);
  const wrongKey = await request(app).get('/v1/admin/log-level').set('Authorization', 'Bearer not-a-real-key-at-all');
  expect(wrongKey.status).toBe(401);
});

test('secrets and personal data are redacted at every level, trace included', async () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _e, cb) => { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  const logger = createLogger({ level: 'trace', destination: sink });
  const secrets = {
    email: 'jane.doe@example.test', phone: '+33612345678', firstName: 'Jeanne', pushToken: 'push-token-abcdef',
    apiKey: 'key-0123456789abcdef', password: 'hunter2-secret', contact: 'jane on signal',
  };
  logger.debug({ user: { id: 'u-1', ...secrets }, password: secrets.password }, 'user loaded');
  logger.trace({ batch: [{ id: 'u-2', email: secrets.email, phone: secrets.phone }], request: { headers: { authorization: 'Bearer sekrit-token-1', 'x-api-key': secrets.apiKey } } }, 'deep');
  logger.info({ report: { contact: secrets.contact, summary: 'car 7 does not unlock' } }, 'report');
  const out = lines.join('\n');
  expect(lines).toHaveLength(3);
  for (const value of [...Object.values(secrets), 'sekrit-token-1']) expect(out).not.toContain(value);
  expect(out).toContain('[Redacted]');
  expect(out).toContain('u-1'); // what is not personal stays readable
  expect(out).toContain('car 7 does not unlock');

  // pino-http's request log: the API key in the Authorization header never appears.
  const { app } = startApi({ logger });
  lines.length = 0;
  await request(app).get('/v1/admin/log-level').set('Authorization', `Bearer ${stack.keys.viewer}`).set('X-Api-Key', 'other-secret-key-123').expect(200);
  const http = lines.map((l) => JSON.parse(l)).find((l) => l.req?.url === '/v1/admin/log-level');
  expect(http.req.headers.authorization).toBe('[Redacted]');
  expect(http.req.headers['x-api-key']).toBe('[Redacted]');
  expect(lines.join('\n')).not.toContain(stack.keys.viewer);
  expect(lines.join('\n')).not.toContain('other-secret-key-123');
});
