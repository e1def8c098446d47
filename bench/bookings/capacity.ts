// The capacity curve (issue 11): start lateness p99 against starts per minute, for Keel and for the
// floor, over a ramp of rates; the largest rate each keeps under 1 s; a table and a PNG chart (Vega-Lite
// rendered to SVG, resvg to PNG) written next to the run's JSON figures.
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { round } from '../common';
import { say } from '../harness/run';

export interface RampPoint {
  perMinute: number;
  keel?: { p50: number; p99: number; max: number; over1s: number; n: number };
  floor?: { p50: number; p99: number; max: number; over1s: number; n: number };
}

const TARGET_MS = 1000;

/** The largest measured rate whose p99 stayed under 1 s, and every rate below it did too (null: none). */
export function capacity(points: RampPoint[], who: 'keel' | 'floor'): number | null {
  let best: number | null = null;
  for (const p of [...points].sort((a, b) => a.perMinute - b.perMinute)) {
    const r = p[who];
    if (!r) continue;
    if (!(r.p99 < TARGET_MS)) break;
    best = p.perMinute;
  }
  return best;
}

export function printCapacity(points: RampPoint[]): void {
  const cell = (r: RampPoint['keel']) => (r ? `${String(Math.round(r.p50)).padStart(6)} ${String(Math.round(r.p99)).padStart(6)} ${String(Math.round(r.max)).padStart(6)}` : '     -      -      -');
  say('\n== Capacity: start lateness (ms) by starts per minute ==');
  say('  starts/min |   Keel p50    p99    max |  floor p50    p99    max | Keel p99 / floor p99');
  for (const p of points) {
    const ratio = p.keel && p.floor ? (p.keel.p99 / p.floor.p99).toFixed(2) : '-';
    say(`  ${String(p.perMinute).padStart(10)} |   ${cell(p.keel)} |     ${cell(p.floor)} | ${ratio}`);
  }
  const k = capacity(points, 'keel');
  const f = capacity(points, 'floor');
  say(`  largest rate with p99 < 1 s: Keel ${k ?? 'none measured'}${k !== null ? '/min' : ''}, floor ${f ?? 'none measured'}${f !== null ? '/min' : ''}`);
}

/** The chart as PNG bytes: lateness p99 against starts per minute, one line each, the 1 s target drawn. */
export async function capacityChart(points: RampPoint[], title: string): Promise<Buffer> {
  // ESM-only packages (top-level await inside): loaded with a real dynamic import.
  const vega = await import('vega');
  // (vega-lite's types resolve only under moduleResolution node16; its one call is typed here.)
  const vegaLite = 'vega-lite';
  const vl = (await import(vegaLite)) as { compile(spec: object): { spec: import('vega').Spec } };
  const values = points.flatMap((p) => [
    ...(p.keel ? [{ perMinute: p.perMinute, p99: round(p.keel.p99), who: 'Keel (booking start)' }] : []),
    ...(p.floor ? [{ perMinute: p.perMinute, p99: round(p.floor.p99), who: 'floor (sleep + one local-activity write)' }] : []),
  ]);
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 360,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'perMinute', type: 'quantitative', title: 'starts per minute' },
          y: { field: 'p99', type: 'quantitative', title: 'start lateness p99 (ms)' },
          color: { field: 'who', type: 'nominal', title: null, legend: { orient: 'top-left' } },
        },
      },
      {
        data: { values: [{ y: TARGET_MS }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: 'firebrick' },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
    ],
  }).spec;
  const svg = await new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}

/** Writes the run's JSON figures and the chart into `dir`; their paths. */
export async function writeFigures(dir: string, stamp: string, json: object, points: RampPoint[], title: string) {
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `bench-${stamp.replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  let chart: string | undefined;
  if (points.length) {
    chart = `${base}-capacity.png`;
    fs.writeFileSync(chart, await capacityChart(points, title));
  }
  return { json: `${base}.json`, chart };
}
