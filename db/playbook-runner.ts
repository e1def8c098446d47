// Runs playbook queries (playbooks/*.sql): the API's POST /v1/playbooks/:name/run and
// `npm run playbook` both end here.
//
// Each run, on a connection of the runner's own small pool:
//   BEGIN; SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = <KEEL_PLAYBOOK_TIMEOUT>;
//   DECLARE playbook NO SCROLL CURSOR FOR <the query, parameters bound as $n>;
//   FETCH FORWARD <limit + 1> FROM playbook; ROLLBACK
// READ ONLY makes any write fail inside the database, whatever the SQL looks like; the cursor bounds
// what is read into memory to limit + 1 rows (the extra row only says `truncated`) without the SQL
// having to carry a LIMIT; the timeout bounds what one pull can cost the database.
//
// Every run is audited in audit_log (action playbook.run, resource playbook/<name>) with its actor,
// parameters, row count, duration and outcome, failed and refused runs included. The audit row is
// written after the run in its own statement (the run's transaction is read-only); when it cannot be
// written, the rows are not handed out.
//
// Playbook files are code (reviewed, shipped with Keel); parameters are not: they are checked against
// the header's types, cast to the declared PostgreSQL type and bound, never written into the SQL.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import {
  bindValues,
  describePlaybook,
  resolveParams,
  runLimit,
  type ParamProblem,
  type Playbook,
  type ResolvedParams,
} from '../domain/playbook';
import type { PlaybookCatalog } from '../playbooks/load';

export type PlaybookFailure =
  /** Unknown playbook name. */
  | 'not_found'
  /** Parameters refused before anything ran (details: the problems, each naming its parameter). */
  | 'invalid_params'
  /** A parameter value the database refused (e.g. a time out of its range). */
  | 'bad_value'
  /** The query tried to write: refused by the read-only transaction. */
  | 'read_only'
  /** The statement ran longer than the timeout and was cancelled. */
  | 'timeout';

export class PlaybookRunError extends Error {
  constructor(
    readonly kind: PlaybookFailure,
    message: string,
    readonly details?: { fields?: ParamProblem[]; sqlState?: string },
  ) {
    super(message);
    this.name = 'PlaybookRunError';
  }
}

export interface PlaybookColumn {
  name: string;
  /** PostgreSQL type name, e.g. text, timestamptz, int4, BookingStatus. */
  type: string;
}

export interface PlaybookResult {
  name: string;
  params: ResolvedParams;
  columns: PlaybookColumn[];
  rows: Record<string, unknown>[];
  rowCount: number;
  truncated: boolean;
  durationMs: number;
}

export interface RunContext {
  /** `<role>:<key id>` for the API, `cli:<os user>` for the command line. */
  actor: string;
  requestId?: string;
}

export interface PlaybookRunnerOptions {
  databaseUrl: string;
  catalog: PlaybookCatalog;
  /** Statement timeout of each run (KEEL_PLAYBOOK_TIMEOUT). */
  timeoutMs?: number;
  /** Hard cap on the rows of a run (KEEL_PLAYBOOK_MAX_ROWS). */
  maxRows?: number;
  /** Connections the runner may hold at once (KEEL_PLAYBOOK_POOL_SIZE). */
  poolSize?: number;
  /** The clock relative times (now-7d) resolve against; tests pin it. */
  now?: () => Date;
  /** Called when an audit row could not be written for a run that failed anyway. */
  onAuditError?: (err: unknown) => void;
}

export interface PlaybookRunner {
  readonly catalog: PlaybookCatalog;
  readonly maxRows: number;
  list(): ReturnType<typeof describePlaybook>[];
  get(name: string): Playbook | undefined;
  run(name: string, params: Record<string, unknown>, ctx: RunContext): Promise<PlaybookResult>;
  close(): Promise<void>;
}

export const DEFAULT_PLAYBOOK_TIMEOUT_MS = 5_000;
export const DEFAULT_PLAYBOOK_MAX_ROWS = 10_000;

// Type names of the built-in types playbooks return; anything else (enums) is looked up once.
const BUILTIN_TYPES: Record<number, string> = {
  16: 'bool', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 114: 'json', 700: 'float4', 701: 'float8',
  1000: 'bool[]', 1005: 'int2[]', 1007: 'int4[]', 1009: 'text[]', 1015: 'varchar[]', 1016: 'int8[]',
  1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1083: 'time', 1114: 'timestamp', 1184: 'timestamptz',
  1186: 'interval', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb',
};

// bigint (count(*), sums, integer parameters echoed back) as a JSON number while it is exact, as a
// string beyond 2^53; every other type as node-postgres parses it.
const INT8_OID = 20;
function typeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') {
    return (v: string) => {
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : v;
    };
  }
  return pg.types.getTypeParser(oid, format) as (value: string) => unknown; // pg-types declares `any`
}

/** Audit details keep parameters readable but bounded: a refused 100 kB value is cut. */
function boundedParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params).slice(0, 50)) {
    out[k.slice(0, 100)] = typeof v === 'string' && v.length > 300 ? `${v.slice(0, 300)}...(${v.length} chars)` : v;
  }
  return out;
}

function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** A database error of the run as what it means to the caller; anything else is rethrown as is. */
function classify(err: unknown, name: string, timeoutMs: number): unknown {
  const state = sqlStateOf(err);
  const msg = (err as Error)?.message ?? String(err);
  // 25006: read_only_sql_transaction. 0A000 from DECLARE: a data-modifying WITH (the cursor refuses
  // it before the read-only check would). 42501 on a write to a protected object is not ours to hide.
  if (state === '25006' || (state === '0A000' && /data-modifying/i.test(msg))) {
    return new PlaybookRunError('read_only', `playbook ${name} tried to write (${msg}); playbooks are read-only and nothing was changed`, { sqlState: state });
  }
  if (state === '57014') {
    return new PlaybookRunError('timeout', `playbook ${name} ran longer than ${timeoutMs} ms and was cancelled; narrow the parameters (a shorter period, a lower limit)`, { sqlState: state });
  }
  // Class 22 (data exception): the only inputs are the parameters, so the caller's value was refused.
  if (state?.startsWith('22')) {
    return new PlaybookRunError('bad_value', `a parameter value was refused by the database: ${msg}`, { sqlState: state });
  }
  return err;
}

function outcomeOf(err: unknown): string {
  return err instanceof PlaybookRunError ? err.kind : 'error';
}

export function createPlaybookRunner(opts: PlaybookRunnerOptions): PlaybookRunner {
  const timeoutMs = Math.max(1, Math.floor(opts.timeoutMs ?? DEFAULT_PLAYBOOK_TIMEOUT_MS));
  const maxRows = Math.max(1, Math.floor(opts.maxRows ?? DEFAULT_PLAYBOOK_MAX_ROWS));
  const now = opts.now ?? (() => new Date());
  const pool = new pg.Pool({
    connectionString: opts.databaseUrl,
    max: opts.poolSize ?? 2,
    // Shows the pulls in pg_stat_activity, so a DBA can tell them from the application's own queries.
    application_name: 'keel-playbooks',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // The server-side timeout cancels the statement; this one only guards against a server that
    // stops answering altogether.
    query_timeout: timeoutMs + 10_000,
    types: { getTypeParser: typeParser as typeof pg.types.getTypeParser },
  });
  // An idle connection dropped by the server must not crash the process; the next run reconnects.
  pool.on('error', () => undefined);
  const typeNames = new Map<number, string>(Object.entries(BUILTIN_TYPES).map(([k, v]) => [Number(k), v]));

  async function audit(name: string, ctx: RunContext, details: Record<string, unknown>): Promise<void> {
    await pool.query(
      `INSERT INTO audit_log (actor, action, resource_type, resource_id, request_id, details)
       VALUES ($1, 'playbook.run', 'playbook', $2, $3, $4::jsonb)`,
      [ctx.actor.slice(0, 80), name.slice(0, 160), ctx.requestId?.slice(0, 100) ?? null, JSON.stringify(details)],
    );
  }

  async function columnTypes(client: pg.PoolClient, oids: number[]): Promise<void> {
    const unknown = [...new Set(oids.filter((o) => !typeNames.has(o)))];
    if (!unknown.length) return;
    const r = await client.query<{ oid: number; typname: string }>('SELECT oid::int AS oid, typname FROM pg_type WHERE oid = ANY($1::oid[])', [unknown]);
    for (const row of r.rows) typeNames.set(row.oid, row.typname);
  }

  async function execute(playbook: Playbook, params: ResolvedParams, limit: number) {
    const client = await pool.connect();
    let discard: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SET TRANSACTION READ ONLY');
      // SET takes no bind parameters; timeoutMs is an integer computed above, never caller input.
      await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
      await client.query({ text: `DECLARE playbook NO SCROLL CURSOR FOR ${playbook.text}`, values: bindValues(playbook, params) });
      const res = await client.query({ text: `FETCH FORWARD ${limit + 1} FROM playbook`, rowMode: 'array' });
      await columnTypes(client, res.fields.map((f) => f.dataTypeID));
      await client.query('ROLLBACK');
      return res;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        discard = e; // a connection that cannot roll back is not given back to the pool
      });
      throw err;
    } finally {
      client.release(discard);
    }
  }

  return {
    catalog: opts.catalog,
    maxRows,
    list: () => [...opts.catalog.values()].map(describePlaybook),
    get: (name) => opts.catalog.get(name),

    async run(name, given, ctx) {
      const playbook = opts.catalog.get(name);
      if (!playbook) throw new PlaybookRunError('not_found', `no playbook named ${JSON.stringify(name.slice(0, 100))}; GET /v1/playbooks lists them`);
      const started = performance.now();
      const resolved = resolveParams(playbook, given, { now: now(), maxRows });
      if (!resolved.ok) {
        const err = new PlaybookRunError(
          'invalid_params',
          `invalid parameters for ${name}: ${resolved.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
          { fields: resolved.problems },
        );
        await audit(name, ctx, { params: boundedParams(given), outcome: err.kind, error: err.message.slice(0, 1000), durationMs: 0 })
          .catch((e) => opts.onAuditError?.(e));
        throw err;
      }
      const params = resolved.params;
      const limit = runLimit(playbook, params, maxRows);
      let res: pg.QueryResult<unknown[]>;
      try {
        res = await execute(playbook, params, limit);
      } catch (raw) {
        const err = classify(raw, name, timeoutMs);
        const durationMs = Math.round(performance.now() - started);
        await audit(name, ctx, {
          params, limit, outcome: outcomeOf(err), durationMs,
          error: ((err as Error)?.message ?? String(err)).slice(0, 1000), sqlState: sqlStateOf(raw) ?? null,
        }).catch((e) => opts.onAuditError?.(e));
        throw err;
      }
      const names = res.fields.map((f) => f.name);
      const duplicate = names.find((n, i) => names.indexOf(n) !== i);
      if (duplicate) {
        // Caught by the test that runs every shipped playbook; named here for a new file's author.
        const err = new Error(`playbook ${name} returns two columns named ${duplicate}; give them distinct aliases`);
        await audit(name, ctx, { params, limit, outcome: 'error', error: err.message, durationMs: Math.round(performance.now() - started) })
          .catch((e) => opts.onAuditError?.(e));
        throw err;
      }
      const truncated = res.rows.length > limit;
      const rows = res.rows.slice(0, limit).map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
      const durationMs = Math.round(performance.now() - started);
      // Not caught: no rows leave without their audit row.
      await audit(name, ctx, { params, limit, outcome: 'ok', rowCount: rows.length, truncated, durationMs });
      return {
        name,
        params,
        columns: res.fields.map((f) => ({ name: f.name, type: typeNames.get(f.dataTypeID) ?? String(f.dataTypeID) })),
        rows,
        rowCount: rows.length,
        truncated,
        durationMs,
      };
    },

    async close() {
      await pool.end();
    },
  };
}
