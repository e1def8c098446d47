// Human durations in configuration ("30m", "90s", "1h", "250ms", or a plain number of milliseconds).
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDurationMs(input: string): number {
  const text = input.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`invalid duration "${input}" (use e.g. 250ms, 90s, 30m, 1h)`);
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

export function parseDurationList(input: string): number[] {
  return input
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseDurationMs);
}
