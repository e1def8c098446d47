// npm run playbook -- <name> [--param key=value ...] [--csv | --json]
// npm run playbook -- --list
//
// Runs a playbook query (playbooks/*.sql, or KEEL_PLAYBOOKS_DIR) against DATABASE_URL through the same
// verb as POST /v1/playbooks/:name/run (services/playbooks.ts): read-only transaction,
// KEEL_PLAYBOOK_TIMEOUT, row limit, and an audit row with the actor `cli:<os user>`. Prints an aligned
// table (default), CSV or the API's JSON. Exit status: 0 ran, 1 the run failed (tried to write, timed
// out, database error), 2 bad usage or parameters.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cliDatabaseUrl } from '../config/dev-database';
import { loadEnv } from '../config/env';
import { toCsv } from '../api/csv';
import { createPlaybookRunner, type PlaybookResult } from '../db/playbook-runner';
import { PlaybookError, loadPlaybooks } from '../playbooks/load';
import { CommandError } from '../services/errors';
import { listPlaybooks, runPlaybook } from '../services/playbooks';

const USAGE = 'usage: npm run playbook -- <name> [--param key=value ...] [--csv | --json]\n       npm run playbook -- --list';
const MAX_CELL = 60;

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  const s =
    typeof v === 'string' ? v
    : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? v.toString()
    : (JSON.stringify(v) ?? '');
  const flat = s.replace(/[\r\n\t]+/g, ' ');
  return flat.length > MAX_CELL ? `${flat.slice(0, MAX_CELL - 3)}...` : flat;
}

/** Columns padded to their widest cell; long cells cut (the CSV and JSON outputs are never cut). */
export function formatTable(columns: string[], rows: Record<string, unknown>[]): string {
  const cells = rows.map((r) => columns.map((c) => cellText(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

/** `--param a=1 --param b=x=y` -> {a: '1', b: 'x=y'}; a repeated key is a usage error. */
export function parseParamArgs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i < 1) throw new UsageError(`--param ${pair}: expected key=value`);
    const key = pair.slice(0, i);
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new UsageError(`--param ${key} is given twice`);
    out[key] = pair.slice(i + 1);
  }
  return out;
}

class UsageError extends Error {}

function listText(playbooks: ReturnType<typeof listPlaybooks>['playbooks']): string {
  return playbooks
    .map((p) => {
      const params = p.params.map((s) => {
        const how = s.required ? 'required' : `default ${s.default}`;
        const values = 'values' in s && s.values ? ` (${s.values.join('|')})` : '';
        return `    --param ${s.name}=<${s.type}>  ${how}${values}${s.description ? `  ${s.description}` : ''}`;
      });
      return [`${p.name}`, `    ${p.description}`, ...params].join('\n');
    })
    .join('\n\n') + '\n';
}

function output(result: PlaybookResult, format: 'table' | 'csv' | 'json'): string {
  const columns = result.columns.map((c) => c.name);
  if (format === 'json') return `${JSON.stringify(result, null, 2)}\n`;
  if (format === 'csv') return toCsv(columns, result.rows);
  return formatTable(columns, result.rows);
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        param: { type: 'string', short: 'p', multiple: true },
        csv: { type: 'boolean' },
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.csv && values.json) {
    console.error(`--csv and --json exclude each other\n${USAGE}`);
    return 2;
  }
  if (!values.list && positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const env = loadEnv();
  let catalog;
  try {
    catalog = loadPlaybooks(path.resolve(env.KEEL_PLAYBOOKS_DIR), { maxRows: env.KEEL_PLAYBOOK_MAX_ROWS });
  } catch (err) {
    if (!(err instanceof PlaybookError)) throw err;
    console.error(err.message);
    return 2;
  }
  const databaseUrl = cliDatabaseUrl(env);
  if (!databaseUrl && !values.list) {
    console.error('DATABASE_URL is not set and no `npm run dev` database was started here (its URL would be in <KEEL_DATA_DIR>/database-url)');
    return 2;
  }
  const runner = createPlaybookRunner({
    databaseUrl: databaseUrl ?? '', catalog, timeoutMs: env.KEEL_PLAYBOOK_TIMEOUT, maxRows: env.KEEL_PLAYBOOK_MAX_ROWS, poolSize: 1,
  });
  try {
    if (values.list) {
      process.stdout.write(listText(listPlaybooks({ playbooks: runner }).playbooks));
      return 0;
    }
    const params = parseParamArgs(values.param ?? []);
    const actor = `cli:${os.userInfo().username}`.slice(0, 80);
    const result = await runPlaybook({ playbooks: runner, actor }, positionals[0], params);
    process.stdout.write(output(result, values.csv ? 'csv' : values.json ? 'json' : 'table'));
    if (!values.json) {
      const more = result.truncated ? ` (truncated: more rows match; raise --param limit=..., at most ${runner.maxRows})` : '';
      console.error(`${result.rowCount} row${result.rowCount === 1 ? '' : 's'} in ${result.durationMs} ms${more}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof CommandError) {
      console.error(err.message);
      // Unknown playbook or refused parameters: usage (2); a run that tried to write or timed out: 1.
      return err.code === 'NOT_FOUND' || err.code === 'VALIDATION_FAILED' ? 2 : 1;
    }
    console.error(`playbook failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await runner.close();
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error((err as Error).message);
      process.exitCode = 1;
    },
  );
}
