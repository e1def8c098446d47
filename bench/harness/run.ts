// What every benchmark run does around its measurements: figures on stdout and progress notes on
// stderr, cleanup in reverse order of setup (also on Ctrl-C), the machine's background load before
// anything starts, and the end of a run (its workflows terminated, the last summary line, one JSON line).
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { CpuMeter, errorText, round, runPool, sleep } from '../common';

export const say = (m: string) => console.log(m);

let noteClock = false;
/** Progress on stderr: `[bench] …`, or `[bench HH:MM:SS] …` once timeNotes() was called. */
export const note = (m: string) => process.stderr.write(`[bench${noteClock ? ` ${new Date().toISOString().slice(11, 19)}` : ''}] ${m}\n`);
export function timeNotes(): void {
  noteClock = true;
}

export class Cleanups {
  private readonly steps: Array<() => unknown> = [];
  private running: Promise<void> | undefined;
  /** stepTimeoutMs: a step never holds up the rest (a query stuck on a connection, a server that will not close). */
  constructor(private readonly stepTimeoutMs?: number) {}
  push(step: () => unknown): void {
    this.steps.push(step);
  }
  /** Last-in first-out; once, however often it is called (main's end, a signal, a crash). */
  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length) {
        const step = Promise.resolve().then(this.steps.pop());
        try {
          if (this.stepTimeoutMs === undefined) {
            await step;
          } else {
            const limit = this.stepTimeoutMs;
            let timer: NodeJS.Timeout | undefined;
            await Promise.race([
              step,
              new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${limit / 1000} s`)), limit))),
            ]).finally(() => clearTimeout(timer));
          }
        } catch (err) {
          note(`cleanup step failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

/** Runs a benchmark's main: its exit code, everything it started stopped on a crash or a signal too. */
export function runMain(main: () => Promise<number>, cleanups: Cleanups): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      note(`${sig}: cleaning up`);
      void cleanups.run().finally(() => process.exit(130));
    });
  }
  main().then(
    (code) => process.exit(code),
    async (err: unknown) => {
      console.error(`bench failed: ${errorText(err)}`);
      await cleanups.run();
      process.exit(1);
    },
  );
}

/**
 * What the machine is doing before we add anything: on a shared host this is the noise floor. With
 * waitQuietMs, waits up to that long for it to drop below 0.3 cores (sampled over 5 s, else 2 s once).
 */
export async function backgroundLoad(waitQuietMs = 0): Promise<{ cores: number; waitedS: number }> {
  const idle = new CpuMeter({});
  let cores: number;
  const w0 = performance.now();
  const quietUntil = Date.now() + waitQuietMs;
  for (;;) {
    const i0 = idle.snap();
    await sleep(waitQuietMs ? 5000 : 2000);
    cores = idle.usage(i0, idle.snap()).machine;
    if (cores < 0.3 || Date.now() >= quietUntil) break;
    note(`waiting for a quiet machine: ${cores.toFixed(2)} cores busy`);
  }
  if (cores > 0.2) note(`WARNING: the machine is already busy (${cores.toFixed(2)} of ${os.cpus().length} cores) before the benchmark starts; figures will be noisy`);
  return { cores, waitedS: (performance.now() - w0) / 1000 };
}

export function machineEnv() {
  const cpus = os.cpus();
  return { cores: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memGiB: round(os.totalmem() / 2 ** 30), node: process.version };
}

/** A run's failures (what makes it exit non-zero) and every workflow it started. */
export class BenchRun {
  readonly failures: string[] = [];
  readonly workflowIds: string[] = [];
}

async function terminateAll(client: Client, ids: string[]): Promise<void> {
  const r = await runPool(ids.length, 32, async (i) => {
    try {
      await client.workflow.getHandle(ids[i]).terminate('benchmark finished');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) && !/already completed/i.test((err as Error).message)) throw err;
    }
  });
  note(`terminated ${r.ok} workflows in ${(r.wallMs / 1000).toFixed(1)} s${r.errors.length ? `, ${r.errors.length} errors: ${r.errors[0]}` : ''}`);
}

/**
 * Nothing of the run may fire later (raw-started workflows have no row): an own dev server is in-memory
 * and goes away with its namespace; on a given server every workflow of this run is terminated. Then
 * everything the run started is stopped.
 */
export async function endRun(run: BenchRun, s: { ownTemporal: boolean; client: Client }, cleanups: Cleanups): Promise<void> {
  if (!s.ownTemporal && run.workflowIds.length) await terminateAll(s.client, run.workflowIds).catch((e) => run.failures.push(`terminate: ${e}`));
  await cleanups.run();
}

/** The summary's last line, then the JSON line other tools read; the exit code. */
export function printEnd(run: BenchRun, totalS: number, json: object): number {
  say(`  total ${totalS.toFixed(0)} s; ${run.failures.length ? `FAILED:\n    ${run.failures.join('\n    ')}` : 'no failures'}`);
  console.log(JSON.stringify(json));
  return run.failures.length ? 1 : 0;
}
