// Replay: every history recorded in test/histories/ (scripts/record-histories.ts, or
// `npm run replay -- <id> --save`) must still replay against the current workflow code. A failure here
// means a deploy would break workflows already running: guard the change with patched() or ship a new
// workflow type instead.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import {
  ReplayToolError,
  explain,
  historyFileText,
  historyFilesIn,
  readHistoryFile,
  replayHistories,
  replayWorkflow,
  type ReplayOutcome,
} from '../scripts/replay';
import { bookingBody, startStack, workflowBundle, type Stack } from './helpers/stack';
import { testTemporalAddress } from './helpers/temporal';

const ROOT = path.resolve(__dirname, '..');
const HISTORIES = path.join(__dirname, 'histories');

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } } });
  } catch {
    // already installed in this jest worker
  }
});

function failures(outcomes: ReplayOutcome[]): string {
  return outcomes.filter((o) => !o.ok).map((o) => explain(o)).join('\n\n');
}

describe('recorded histories', () => {
  test('every file in test/histories/ replays against the current workflow code', async () => {
    const files = historyFilesIn(HISTORIES);
    // A replay test that replays nothing proves nothing.
    if (files.length === 0) throw new Error(`no recorded histories in ${HISTORIES}: run \`npx tsx scripts/record-histories.ts\``);
    const outcomes = await replayHistories(files.map(readHistoryFile), { workflowBundle: await workflowBundle() });
    expect(outcomes.map((o) => o.source)).toEqual(files);
    const failed = failures(outcomes);
    if (failed) throw new Error(`histories that no longer replay:\n\n${failed}`);
    for (const o of outcomes) {
      expect(['bookingWorkflow', 'incidentWorkflow']).toContain(o.workflowType);
      expect(o.events).toBeGreaterThan(5);
    }
    // Both workflow types are covered.
    expect(new Set(outcomes.map((o) => o.workflowType))).toEqual(new Set(['bookingWorkflow', 'incidentWorkflow']));
  });

  test('an incompatible change (a timer before anything else) fails every history as a determinism violation', async () => {
    // The current workflow, wrapped so that it sleeps first: the command sequence changes, as it would
    // if someone added `await wf.sleep(1)` at the top of bookingWorkflow without patched(). (Replay
    // compares command types, not timer durations: the same sleep placed just before the main loop
    // only breaks the histories whose first timer was cancelled, not those where it fired. One more
    // reason to record every path.)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-replay-'));
    try {
      const file = path.join(dir, 'workflows.js');
      const current = JSON.stringify(path.join(ROOT, 'workflows', 'booking'));
      const incident = JSON.stringify(path.join(ROOT, 'workflows', 'incident'));
      fs.writeFileSync(
        file,
        `import { sleep } from '@temporalio/workflow';\n` +
          `import { bookingWorkflow as current } from ${current};\n` +
          `import { incidentWorkflow as currentIncident } from ${incident};\n` +
          `export async function bookingWorkflow(input) { await sleep(1); return current(input); }\n` +
          `export async function incidentWorkflow(input) { await sleep(1); return currentIncident(input); }\n`,
      );
      const files = historyFilesIn(HISTORIES);
      expect(files.length).toBeGreaterThan(0);
      // Bundled from a path outside the project, as `npm run replay -- --workflows /tmp/...` would.
      const outcomes = await replayHistories(files.map(readHistoryFile), { workflowsPath: file });
      expect(outcomes).toHaveLength(files.length);
      for (const o of outcomes) {
        expect(o.ok).toBe(false);
        expect(o.failure?.kind).toBe('nondeterminism');
        expect(explain(o)).toMatch(/no longer matches this history/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('replaying a workflow from the server', () => {
  let stack: Stack;
  let workflowId: string;
  beforeAll(async () => {
    stack = await startStack({ name: 'replay' });
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'replay test' }).expect(200);
    workflowId = `booking-${body.bookingId}`;
    await stack.client.workflow.getHandle(workflowId).result();
  });
  afterAll(() => stack?.stop());

  test('replayWorkflow fetches the history of a finished booking and replays it; its saved file replays too', async () => {
    const code = { workflowBundle: await workflowBundle() };
    const outcome = await replayWorkflow(stack.client, workflowId, { code });
    expect(outcome).toMatchObject({ ok: true, workflowId, workflowType: 'bookingWorkflow' });
    expect(outcome.failure).toBeUndefined();
    expect(outcome.events).toBe(outcome.history.events?.length);
    expect(outcome.events).toBeGreaterThan(5);

    // What --save writes reads back into the same history, and replays.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-replay-'));
    try {
      const file = path.join(dir, 'cancelled.json');
      fs.writeFileSync(file, historyFileText(outcome.history));
      const saved = readHistoryFile(file);
      expect(saved.workflowId).toBe(workflowId);
      expect(saved.history.events?.length).toBe(outcome.events);
      const [again] = await replayHistories([saved], code);
      expect(again.ok).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unknown workflow is a "not found" tool error, not a replay failure', async () => {
    const err = await replayWorkflow(stack.client, `booking-missing-${Date.now()}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayToolError);
    expect((err as ReplayToolError).reason).toBe('not-found');
    expect((err as Error).message).toMatch(/not found in namespace default/);
  });

  test('the command line: replay with --save exits 0, --all-in replays the saved file, unknown id exits 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keel-replay-'));
    const cli = (args: string[]) =>
      new Promise<{ code: number; output: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: testTemporalAddress() };
        execFile(path.join(ROOT, 'node_modules', '.bin', 'tsx'), [path.join(ROOT, 'scripts', 'replay.ts'), ...args], { cwd: ROOT, env, timeout: 50_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, output: stdout + stderr }));
      });
    try {
      const file = path.join(dir, 'run.json');
      const saved = await cli([workflowId, '--save', file]);
      expect(saved.output).toMatch(new RegExp(`OK\\s+${workflowId} \\(bookingWorkflow, run [0-9a-f-]+, \\d+ events\\)`));
      expect(saved.code).toBe(0);
      expect(readHistoryFile(file).workflowId).toBe(workflowId);

      const all = await cli(['--all-in', dir]);
      expect(all.output).toMatch(/OK\s+\S*run\.json/);
      expect(all.code).toBe(0);

      const missing = await cli([`booking-missing-${Date.now()}`]);
      expect(missing.output).toMatch(/^replay: workflow booking-missing-\d+ not found/m);
      expect(missing.code).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
