// Reads the playbook files (playbooks/*.sql next to this module, or KEEL_PLAYBOOKS_DIR), checks each
// with domain/playbook.ts and returns them by name. The I/O half of "playbooks as data".
//
// Called when the API starts, by the CLI and by a test: a broken file stops the process with ONE
// error listing every problem of every file, each prefixed with the file's name.
import fs from 'node:fs';
import path from 'node:path';
import { parsePlaybook, type Playbook } from '../domain/playbook';

/** The playbooks shipped with Keel (this directory). */
export const DEFAULT_PLAYBOOKS_DIR = __dirname;

export type PlaybookCatalog = ReadonlyMap<string, Playbook>;

export class PlaybookError extends Error {
  constructor(
    readonly problems: string[],
    where: string,
  ) {
    super(`Invalid playbooks in ${where} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlaybookError';
  }
}

export interface LoadOptions {
  /** KEEL_PLAYBOOK_MAX_ROWS: a limit parameter whose default exceeds it is refused. */
  maxRows?: number;
}

/** Parses one file's text; throws a PlaybookError whose problems start with `fileName`. */
export function parsePlaybookFile(text: string, fileName: string, opts: LoadOptions = {}): Playbook {
  const r = parsePlaybook(text, fileName);
  const problems = r.ok ? limitProblems(r.playbook, opts) : r.problems;
  if (problems.length) throw new PlaybookError(problems.map((p) => `${fileName}: ${p}`), fileName);
  return (r as { playbook: Playbook }).playbook;
}

function limitProblems(p: Playbook, opts: LoadOptions): string[] {
  if (opts.maxRows === undefined) return [];
  return p.params
    .filter((s) => s.type.kind === 'limit' && Number(s.default) > opts.maxRows!)
    .map((s) => `param ${s.name}: default ${s.default} exceeds KEEL_PLAYBOOK_MAX_ROWS (${opts.maxRows})`);
}

/** Loads every `*.sql` file of `dir` (other files are ignored), in name order. */
export function loadPlaybooks(dir: string = DEFAULT_PLAYBOOKS_DIR, opts: LoadOptions = {}): PlaybookCatalog {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /\.sql$/i.test(n)).sort();
  } catch (err) {
    throw new PlaybookError([`cannot read the playbook directory: ${(err as Error).message}`], dir);
  }
  const problems: string[] = [];
  const catalog = new Map<string, Playbook>();
  for (const name of names) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch (err) {
      problems.push(`${name}: cannot be read: ${(err as Error).message}`);
      continue;
    }
    try {
      const p = parsePlaybookFile(text, name, opts);
      catalog.set(p.name, p);
    } catch (err) {
      if (!(err instanceof PlaybookError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (!names.length) problems.push('no playbooks (*.sql files) found');
  if (problems.length) throw new PlaybookError(problems, dir);
  return catalog;
}
