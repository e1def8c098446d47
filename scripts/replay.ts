// Replays recorded workflow histories against the current workflow code, to find out before a deploy
// whether running workflows would still run on it (Temporal re-executes workflow code from history;
// code that now issues different commands fails with a determinism violation).
//
//   npm run replay -- <workflowId> [--run-id R] [--save FILE]   fetch a history from Temporal and replay it
//   npm run replay -- --all-in test/histories                    replay every *.json history in a directory
//   options: --workflows PATH  workflow code to replay against (default: workflows/, what the worker runs)
//
// Connects like the API (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS / API key variables; see
// config/env.ts). --save writes the history in the JSON format of `temporal workflow show -o json`
// (what historyFromJSON reads), ready to be added to test/histories/ and replayed by
// test/replay.test.ts. Exit codes: 0 every history replays, 1 a history does not replay against the
// code (determinism violation or replay failure), 2 anything else (bad arguments, workflow not
// found, server unreachable, unreadable file).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON, historyToJSON, type History } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker, makeTelemetryFilterString, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { loadEnv } from '../config/env';
import { temporalSettings } from '../config/temporal';

/** The workflow code the replay runs: a bundle (tests bundle once) or a path (default: workflows/). */
export type WorkflowCode = Pick<ReplayWorkerOptions, 'workflowBundle' | 'workflowsPath'>;

export const DEFAULT_WORKFLOWS_PATH = require.resolve('../workflows');
const PROJECT_NODE_MODULES = path.resolve(__dirname, '..', 'node_modules');

export interface ReplayOutcome {
  /** What the outcome is about, for messages: the history file, or the workflow id it was fetched by. */
  source: string;
  workflowId: string;
  runId?: string;
  workflowType: string;
  events: number;
  ok: boolean;
  /** Why it does not replay: `nondeterminism` is a DeterminismViolationError; `failed` any other replay error. */
  failure?: { kind: 'nondeterminism' | 'failed'; message: string; error: Error };
}

/** Fetching or reading a history failed for a reason unrelated to the workflow code (exit code 2). */
export class ReplayToolError extends Error {
  constructor(message: string, readonly reason: 'not-found' | 'unreachable' | 'bad-input' | 'other', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReplayToolError';
  }
}

export interface HistorySource {
  source: string;
  workflowId: string;
  history: History;
}

function startedAttributes(history: History) {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes ?? undefined;
}

export function workflowTypeOf(history: History): string {
  return startedAttributes(history)?.workflowType?.name ?? 'unknown';
}

/**
 * Histories do not carry the workflow id. Booking workflows are `booking-<bookingId>` and their input
 * names the booking, so the id is recovered from the first argument; otherwise `fallback`.
 */
export function workflowIdFromHistory(history: History, fallback: string): string {
  try {
    const payload = startedAttributes(history)?.input?.payloads?.[0];
    const input = payload ? defaultPayloadConverter.fromPayload<{ bookingId?: unknown }>(payload) : undefined;
    if (typeof input?.bookingId === 'string' && workflowTypeOf(history) === 'bookingWorkflow') return `booking-${input.bookingId}`;
  } catch {
    // not JSON, or not a booking: use the fallback
  }
  return fallback;
}

// History <-> JSON goes through the SDK's historyToJSON/historyFromJSON. They need @temporalio/common and
// @temporalio/proto to share one protobufjs copy: package.json pins protobufjs at the version the SDK
// uses so npm hoists a single copy (with two, protojson's `instanceof Type` fails: "type must be a Type").

/**
 * The text `--save` writes and test/histories/ holds: the same JSON as `temporal workflow show -o json`,
 * one event per line (a third the size of the indented form, and a diff still reads event by event).
 */
export function historyFileText(history: History): string {
  const { events } = JSON.parse(historyToJSON(history)) as { events: unknown[] };
  return `{"events": [\n${events.map((e) => JSON.stringify(e)).join(',\n')}\n]}\n`;
}

export function readHistoryFile(file: string): HistorySource {
  let history: History;
  try {
    const json: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    history = historyFromJSON(json);
  } catch (err) {
    throw new ReplayToolError(`cannot read history file ${file}: ${firstLine(err)}`, 'bad-input', { cause: err });
  }
  if (!history.events?.length) throw new ReplayToolError(`history file ${file} has no events`, 'bad-input');
  const base = path.basename(file).replace(/\.json$/i, '');
  return { source: file, workflowId: workflowIdFromHistory(history, `replay-${base}`), history };
}

/** Every `*.json` file in `dir`, sorted by name. */
export function historyFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new ReplayToolError(`cannot list ${dir}: ${firstLine(err)}`, 'bad-input', { cause: err });
  }
  return names.filter((n) => n.toLowerCase().endsWith('.json')).sort().map((n) => path.join(dir, n));
}

/**
 * Replays histories one after another on one replay worker, against `code` (default: workflows/).
 * Never throws for a history that does not replay: that is an outcome with `ok: false`.
 */
export async function replayHistories(items: HistorySource[], code: WorkflowCode = {}): Promise<ReplayOutcome[]> {
  if (items.length === 0) return [];
  const options: ReplayWorkerOptions = {
    replayName: 'keel-replay',
    ...(code.workflowBundle
      ? { workflowBundle: code.workflowBundle }
      : {
          workflowsPath: code.workflowsPath ?? DEFAULT_WORKFLOWS_PATH,
          // Workflow code outside the project (a scratch copy under /tmp, say) still finds the
          // project's @temporalio/workflow and other packages.
          bundlerOptions: {
            webpackConfigHook: (config) => ({
              ...config,
              resolve: { ...config.resolve, modules: [...(config.resolve?.modules ?? ['node_modules']), PROJECT_NODE_MODULES] },
            }),
          },
        }),
  };
  const outcomes: ReplayOutcome[] = [];
  const results = Worker.runReplayHistories(options, items.map(({ history, workflowId }) => ({ history, workflowId })));
  let i = 0;
  for await (const result of results) {
    const item = items[i++];
    const base = { source: item.source, workflowId: item.workflowId, runId: result.runId, workflowType: workflowTypeOf(item.history), events: item.history.events?.length ?? 0 };
    if (!result.error) {
      outcomes.push({ ...base, ok: true });
    } else {
      const kind = result.error instanceof DeterminismViolationError ? 'nondeterminism' : 'failed';
      outcomes.push({ ...base, ok: false, failure: { kind, message: result.error.message, error: result.error } });
    }
  }
  if (outcomes.length !== items.length) {
    throw new Error(`replay stopped early: ${outcomes.length} of ${items.length} histories replayed`);
  }
  return outcomes;
}

/** gRPC status codes the server answers with (see @grpc/grpc-js `status`). */
const GRPC = { NOT_FOUND: 5, UNAVAILABLE: 14, DEADLINE_EXCEEDED: 4 };

/** Fetches the history of `workflowId` (latest run unless `runId`) from the server. */
export async function fetchWorkflowHistory(client: Client, workflowId: string, runId?: string): Promise<History> {
  try {
    return await client.workflow.getHandle(workflowId, runId).fetchHistory();
  } catch (err) {
    const code = (err as { code?: number }).code;
    const ns = client.options.namespace;
    if (code === GRPC.NOT_FOUND || /not found/i.test(String((err as Error)?.message))) {
      throw new ReplayToolError(
        `workflow ${workflowId}${runId ? ` (run ${runId})` : ''} not found in namespace ${ns} (wrong id, or past the namespace's retention period)`,
        'not-found',
        { cause: err },
      );
    }
    if (code === GRPC.UNAVAILABLE || code === GRPC.DEADLINE_EXCEEDED) {
      throw new ReplayToolError(`Temporal server unreachable: ${firstLine(err)}`, 'unreachable', { cause: err });
    }
    throw new ReplayToolError(`cannot fetch the history of ${workflowId}: ${firstLine(err)}`, 'other', { cause: err });
  }
}

/**
 * The core of `npm run replay -- <workflowId>`: fetch the workflow's history from the server and
 * replay it against the current workflow code (or `opts.code`). The history is returned too (to save).
 */
export async function replayWorkflow(
  client: Client,
  workflowId: string,
  opts: { runId?: string; code?: WorkflowCode } = {},
): Promise<ReplayOutcome & { history: History }> {
  const history = await fetchWorkflowHistory(client, workflowId, opts.runId);
  if (!history.events?.length) throw new ReplayToolError(`workflow ${workflowId} has an empty history`, 'other');
  const [outcome] = await replayHistories([{ source: workflowId, workflowId, history }], opts.code);
  return { ...outcome, history };
}

/** Replays every `*.json` history in `dir`. Zero files is an error: a replay of nothing proves nothing. */
export async function replayDirectory(dir: string, code?: WorkflowCode): Promise<ReplayOutcome[]> {
  const files = historyFilesIn(dir);
  if (files.length === 0) throw new ReplayToolError(`no *.json history files in ${dir}`, 'bad-input');
  return replayHistories(files.map(readHistoryFile), code);
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].trim();
}

/** Human explanation of an outcome; several lines when it failed. */
export function explain(o: ReplayOutcome): string {
  const what = `${o.source} (${o.workflowType}${o.runId ? `, run ${o.runId}` : ''}, ${o.events} events)`;
  if (o.ok) return `OK      ${what}: replays against the workflow code`;
  const detail = o.failure!.message.replace(/^Replay failed with a nondeterminism error\. This means that the workflow code as written is not compatible with the history that was fed in\. Details: /, '');
  if (o.failure!.kind === 'nondeterminism') {
    return [
      `FAILED  ${what}: determinism violation`,
      `        The current workflow code no longer matches this history: replaying it, the code issued`,
      `        different commands (timers, activities, search attribute upserts...) from those the run recorded.`,
      `        Deployed as is, running ${o.workflowType} workflows like this one would be stuck (their workflow`,
      `        tasks fail and retry forever). Guard the change with patched()/deprecatePatch(), or ship it as a`,
      `        new workflow type; see README.`,
      `        Temporal says: ${detail}`,
    ].join('\n');
  }
  return [
    `FAILED  ${what}: replay failed (not a determinism violation: the workflow code threw during replay)`,
    `        ${o.failure!.message}`,
  ].join('\n');
}

/** Quiet SDK logging for a command-line tool: errors only, unless LOG_LEVEL asks for more. */
function installRuntime(): void {
  const level = process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace' ? 'DEBUG' : 'ERROR';
  try {
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level === 'DEBUG' ? 'DEBUG' : 'ERROR' }), forward: {} } },
    });
  } catch {
    // already installed
  }
}

const USAGE =
  'usage: npm run replay -- <workflowId> [--run-id R] [--save FILE] [--workflows PATH]\n' +
  '       npm run replay -- --all-in DIR [--workflows PATH]';

export async function main(
  argv: string[],
  out: (line: string) => void = (l) => console.log(l),
  fail: (line: string) => void = (l) => console.error(l),
): Promise<number> {
  let values: { 'run-id'?: string; save?: string; 'all-in'?: string; workflows?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'run-id': { type: 'string' },
        save: { type: 'string' },
        'all-in': { type: 'string' },
        workflows: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    fail(`replay: ${firstLine(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const allIn = values['all-in'];
  if (allIn ? positionals.length > 0 || values.save || values['run-id'] : positionals.length !== 1) {
    fail(`replay: give one workflow id, or --all-in DIR\n${USAGE}`);
    return 2;
  }
  const code: WorkflowCode = { workflowsPath: values.workflows ? path.resolve(values.workflows) : DEFAULT_WORKFLOWS_PATH };
  installRuntime();

  try {
    let outcomes: ReplayOutcome[];
    if (allIn) {
      const count = historyFilesIn(allIn).length;
      if (count > 0) out(`Replaying ${count} histories from ${allIn} against ${path.relative(process.cwd(), code.workflowsPath!) || '.'} ...`);
      outcomes = await replayDirectory(allIn, code);
    } else {
      const workflowId = positionals[0];
      let t: ReturnType<typeof temporalSettings>;
      try {
        t = temporalSettings(loadEnv());
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new ReplayToolError(message.split('\n').map((l) => l.trim()).filter(Boolean).join(' '), 'bad-input', { cause: err });
      }
      let connection: Connection;
      try {
        connection = await Connection.connect({ address: t.address, tls: t.tls, apiKey: t.apiKey, connectTimeout: '10s' });
      } catch (err) {
        throw new ReplayToolError(`cannot connect to Temporal at ${t.address}: ${firstLine(err)}`, 'unreachable', { cause: err });
      }
      try {
        const client = new Client({ connection, namespace: t.namespace });
        const history = await fetchWorkflowHistory(client, workflowId, values['run-id']);
        out(`Fetched ${history.events?.length ?? 0} events of ${workflowId} from ${t.address} (namespace ${t.namespace}).`);
        if (values.save) {
          fs.mkdirSync(path.dirname(path.resolve(values.save)), { recursive: true });
          fs.writeFileSync(values.save, historyFileText(history));
          out(`Saved the history to ${values.save} (add it to test/histories/ to replay it in every test run).`);
        }
        outcomes = await replayHistories([{ source: workflowId, workflowId, history }], code);
      } finally {
        await connection.close();
      }
    }
    for (const o of outcomes) (o.ok ? out : fail)(explain(o));
    const failed = outcomes.filter((o) => !o.ok);
    if (outcomes.length > 1) out(`${outcomes.length - failed.length} of ${outcomes.length} histories replay; ${failed.length} failed.`);
    return failed.length ? 1 : 0;
  } catch (err) {
    fail(`replay: ${err instanceof ReplayToolError ? err.message : firstLine(err)}`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`replay: ${firstLine(err)}`);
      process.exit(2);
    },
  );
}
