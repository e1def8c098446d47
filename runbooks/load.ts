// Reads the runbook files next to this module (runbooks/*.yaml, *.yml, *.json), validates them with
// the schema in domain/runbook.ts and returns one RunbookSnapshot per severity. The I/O half of
// "runbooks as data": domain/runbook.ts stays pure so workflows may import its types and rules.
//
// Called at start-up (API and workers): a bad file stops the process with ONE error listing every
// problem in every file, rather than the first problem of the first file.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SEVERITIES, type RunbookSnapshot, type Severity } from '../domain/incident';
import { runbookSnapshot, validateRunbook } from '../domain/runbook';

/** The runbooks shipped with Keel (this directory). */
export const DEFAULT_RUNBOOKS_DIR = __dirname;

const RUNBOOK_FILE = /\.(ya?ml|json)$/i;

/** Every problem found, one per line as `<file>: <path>: <message>`. */
export class RunbookError extends Error {
  constructor(
    readonly problems: string[],
    where: string,
  ) {
    super(`Invalid runbooks in ${where} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RunbookError';
  }
}

type Parsed = { ok: true; snapshot: RunbookSnapshot } | { ok: false; problems: string[] };

function parseDocument(text: string, fileName: string): { ok: true; doc: unknown } | { ok: false; problem: string } {
  try {
    if (/\.json$/i.test(fileName)) return { ok: true, doc: JSON.parse(text) };
    // Duplicate keys are an error (the default), so a repeated `role:` cannot silently win.
    return { ok: true, doc: parseYaml(text, { prettyErrors: true }) };
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0].replace(/:\s*$/, '');
    return { ok: false, problem: `${fileName}: not valid ${/\.json$/i.test(fileName) ? 'JSON' : 'YAML'}: ${msg}` };
  }
}

function parseOne(text: string, fileName: string): Parsed {
  const parsed = parseDocument(text, fileName);
  if (!parsed.ok) return { ok: false, problems: [parsed.problem] };
  const v = validateRunbook(parsed.doc);
  if (!v.ok) return { ok: false, problems: v.problems.map((p) => `${fileName}: ${p}`) };
  return { ok: true, snapshot: runbookSnapshot(v, createHash('sha256').update(text, 'utf8').digest('hex')) };
}

/**
 * Parses and validates one runbook file's text (YAML, or JSON when the name ends in .json).
 * Throws a RunbookError listing every problem, each prefixed with `fileName`.
 */
export function parseRunbook(text: string, fileName: string): RunbookSnapshot {
  const r = parseOne(text, fileName);
  if (!r.ok) throw new RunbookError(r.problems, fileName);
  return r.snapshot;
}

/**
 * Loads every runbook in `dir`: exactly one per severity, SEV1 to SEV4. The version of each is
 * `<declared version>+<sha256 prefix of the file>`, so an incident can tell which text it ran.
 */
export function loadRunbooks(dir: string = DEFAULT_RUNBOOKS_DIR): Map<Severity, RunbookSnapshot> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => RUNBOOK_FILE.test(n)).sort();
  } catch (err) {
    throw new RunbookError([`cannot read the runbook directory: ${(err as Error).message}`], dir);
  }
  const problems: string[] = [];
  const failed: string[] = [];
  const found = new Map<Severity, { snapshot: RunbookSnapshot; file: string }>();
  for (const name of names) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch (err) {
      problems.push(`${name}: cannot be read: ${(err as Error).message}`);
      failed.push(name);
      continue;
    }
    const r = parseOne(text, name);
    if (!r.ok) {
      problems.push(...r.problems);
      failed.push(name);
      continue;
    }
    const other = found.get(r.snapshot.severity);
    if (other) {
      problems.push(`${name}: severity ${r.snapshot.severity} is already defined by ${other.file} (one runbook per severity)`);
      continue;
    }
    found.set(r.snapshot.severity, { snapshot: r.snapshot, file: name });
  }
  for (const severity of SEVERITIES) {
    if (found.has(severity)) continue;
    // sev2.yaml failing validation already explains why SEV2 is missing: one typo, one line.
    const invalidNamesake = failed.some((n) => n.toLowerCase().startsWith(`${severity.toLowerCase()}.`));
    if (!invalidNamesake) problems.push(`no runbook for ${severity} (expected a file such as ${severity.toLowerCase()}.yaml with "severity: ${severity}")`);
  }
  if (problems.length > 0) throw new RunbookError(problems, dir);
  return new Map(SEVERITIES.map((s) => [s, found.get(s)!.snapshot]));
}
