// Helpers both benchmarks use: distributions and their formatting (text and JSON), the load driver, and
// CPU accounting from /proc (per process tree and for the whole machine), so a noisy neighbour shows in
// every figure.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function dist(values: number[]): Dist {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN);
  return {
    n: s.length,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: s.length ? s[s.length - 1] : NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

export const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'n/a');
export const fmtDist = (d: Dist) => `p50 ${ms(d.p50)}, p90 ${ms(d.p90)}, p99 ${ms(d.p99)}, max ${ms(d.max)} (n=${d.n})`;
export const round = (v: number, digits = 1) => (Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : null);
export const secs = (v: number) => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} s` : 'n/a');
export const distJson = (d: Dist) => ({ n: d.n, p50: round(d.p50), p90: round(d.p90), p99: round(d.p99), max: round(d.max), mean: round(d.mean) });
/** The p99 of each named distribution, for the JSON line. */
export const p99Json = (ds: Record<string, Dist>) => Object.fromEntries(Object.entries(ds).map(([k, v]) => [k, round(v.p99)]));

export interface PoolResult {
  ok: number;
  wallMs: number;
  /** Of each call that succeeded. */
  latencies: number[];
  errors: string[];
}

/** The load driver: a fixed number of loops, each keeping one call in flight, until n calls are made. */
export async function runPool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<PoolResult> {
  let next = 0;
  const latencies: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const s = performance.now();
        try {
          await fn(i);
          latencies.push(performance.now() - s);
        } catch (err) {
          errors.push(String((err as Error)?.message ?? err).split('\n')[0].slice(0, 300));
        }
      }
    }),
  );
  return { ok: latencies.length, wallMs: performance.now() - t0, latencies, errors };
}

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime+stime (clock ticks) and ppid of one process, all its threads included. */
export function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ticks of a process and all its live descendants. */
export function treeTicks(root: number | undefined): number {
  if (!root) return 0;
  const children = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(Number(name));
    if (!st) continue;
    ticks.set(Number(name), st.ticks);
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    sum += ticks.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

export function machineTicks(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

export interface CpuSnap {
  t: number;
  groups: Record<string, number>;
  machine: { busy: number; total: number };
}
export type CpuUsage = Record<string, number>; // cores busy on average, per group, plus `machine`

export class CpuMeter {
  constructor(private readonly groups: Record<string, () => number>) {}
  snap(): CpuSnap {
    const groups: Record<string, number> = {};
    for (const [k, f] of Object.entries(this.groups)) groups[k] = f();
    return { t: performance.now(), groups, machine: machineTicks() };
  }
  /** Per measured phase, the cores other processes took: the run's noise, reported in the summary. */
  readonly noise: Array<{ phase: string; others: number }> = [];
  usage(a: CpuSnap, b: CpuSnap, phase?: string): CpuUsage {
    const secs = (b.t - a.t) / 1000;
    const out: CpuUsage = {};
    // Clamped: a process tree loses the ticks of children that exit (PostgreSQL backends) meanwhile.
    for (const k of Object.keys(a.groups)) out[k] = Math.max(0, (b.groups[k] - a.groups[k]) / CLK_TCK / secs);
    const dt = b.machine.total - a.machine.total;
    const machine = dt > 0 ? ((b.machine.busy - a.machine.busy) / dt) * os.cpus().length : NaN;
    // Everything else on the machine (other users' jobs, the kernel on their behalf): a noisy neighbour
    // shows up here, and figures measured while it is well above zero are not this stack's.
    out.others = Math.max(0, machine - Object.values(out).reduce((x, y) => x + y, 0));
    out.machine = machine;
    if (phase) this.noise.push({ phase, others: out.others });
    return out;
  }
}

export const cpuJson = (u: CpuUsage) => Object.fromEntries(Object.entries(u).map(([k, v]) => [k, round(v, 2)]));
export const fmtCpu = (u: CpuUsage) =>
  `cpu (cores busy): ${Object.entries(u)
    .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(2) : 'n/a'}`)
    .join(' | ')} of ${os.cpus().length}`;

/** An error's stack (or its text, for a thrown non-Error), for failure lines. */
export function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
