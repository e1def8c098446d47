// Prometheus plumbing shared by the API and the worker process: a registry per process role (with
// Node's default process metrics) and the merging of exposition texts from several sources into one
// scrape without repeating a metric family (Prometheus rejects a scrape that does).
import { Registry, collectDefaultMetrics } from 'prom-client';

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A registry holding the default process metrics (CPU, memory, event loop, GC). */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Splits an exposition text into metric families (HELP/TYPE comments and their samples), in order. */
export function familiesOf(text: string): Map<string, string[]> {
  const families = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)/.exec(line);
    let name: string;
    if (meta) name = meta[2];
    else if (line.startsWith('#')) continue;
    else {
      const sample = /^[^\s{]+/.exec(line)?.[0] ?? line;
      // _bucket/_sum/_count/_total samples belong to the family announced above them.
      name = current && sample.startsWith(current) ? current : sample;
    }
    current = name;
    const lines = families.get(name) ?? [];
    lines.push(line);
    families.set(name, lines);
  }
  return families;
}

/** Concatenates exposition texts; a family already given by an earlier text is left out of later ones. */
export function mergeExpositions(texts: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const text of texts) {
    for (const [name, lines] of familiesOf(text)) {
      if (seen.has(name)) continue;
      seen.add(name);
      out.push(...lines);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** GETs an exposition text, bounded in time; rejects on a non-2xx answer. */
export async function fetchExposition(url: string, timeoutMs = 2000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.text();
}
