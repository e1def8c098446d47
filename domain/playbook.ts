// Playbooks as data: the header grammar of one playbooks/<name>.sql file, the checks that tie its
// parameters to its SQL, and the resolution of a caller's parameter values. Pure (no fs, no database,
// the clock is passed in): reading the files lives in playbooks/load.ts, running them in
// db/playbook-runner.ts.
//
// A file is a header of `--` lines (it ends at the first line that is not one) and ONE read-only
// statement (SELECT, WITH, VALUES or TABLE):
//
//   -- name: customer-bookings                      the file name without .sql, kebab-case
//   -- description: Every booking of one customer, newest first.     (repeat the key to continue)
//   -- param: customer_id id required | the customer's id
//   -- param: since timestamp default now-90d | earliest start
//   -- param: status enum(BookingStatus) default any
//   -- param: limit limit default 100
//   SELECT ... WHERE customer_id = :customer_id AND starts_at >= :since
//     AND (:status IS NULL OR status = :status) ORDER BY starts_at DESC
//
// `-- param: <name> <type> (required | default <value>) [| <help>]`. Types (and the PostgreSQL type
// each placeholder is cast to, so a value is never re-interpreted by the database):
//   id               1-200 of A-Z a-z 0-9 _ . : -                        text
//   text             1-500 characters without control characters         text
//   timestamp        ISO 8601 with a zone, a date (UTC midnight), now, now-7d, now+2h   timestamptz
//   period           <timestamp>/<timestamp>, start inclusive, end exclusive, e.g. now-7d/now;
//                    used as :name.start and :name.end                     timestamptz
//   interval         <n>s|m|h|d|w, e.g. 30m                                interval
//   integer          whole number; integer(<min>..<max>) bounds it        bigint
//   enum(<DbEnum>)   one value of a database enum (case-insensitive)     "<DbEnum>"
//   limit            rows to return, 1..KEEL_PLAYBOOK_MAX_ROWS; applied by the runner (which fetches
//                    one more row to say `truncated`), so it never appears in the SQL
// `default any` (id, text, timestamp, integer, enum) binds NULL: the SQL says `(:x IS NULL OR ...)`.
//
// Parameters are `:name` placeholders, replaced by `$n::<type>` and bound: values are never written
// into the SQL text. A file is refused when its SQL uses a placeholder it does not declare or declares
// one it never uses, so the header is always the whole truth about what a playbook takes.
import { z } from 'zod';
import { BOOKING_STATUSES } from './booking';
import { CAMPAIGN_STATUSES } from './campaign';
import { INCIDENT_STATUSES } from './incident';

/** The database enums a parameter may name. test/playbooks checks them against pg_enum. */
export const PLAYBOOK_ENUMS = {
  BookingStatus: BOOKING_STATUSES,
  CampaignStatus: CAMPAIGN_STATUSES,
  DeliveryStatus: ['PENDING', 'SENT', 'FAILED', 'SKIPPED'],
  IncidentStatus: INCIDENT_STATUSES,
} as const satisfies Record<string, readonly string[]>;
export type PlaybookEnumName = keyof typeof PLAYBOOK_ENUMS;

export const PLAYBOOK_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,39}$/;
const MAX_PARAMS = 20;
/** Longest interval a parameter may take; beyond it a query over "the last N" is not a support pull. */
const MAX_INTERVAL_MS = 366 * 86_400_000;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;

export type ParamType =
  | { kind: 'id' }
  | { kind: 'text' }
  | { kind: 'timestamp' }
  | { kind: 'period' }
  | { kind: 'interval' }
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'limit' }
  | { kind: 'enum'; enumName: PlaybookEnumName; values: readonly string[] };

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** The type as written in the header, e.g. `enum(BookingStatus)`: what GET /v1/playbooks shows. */
  typeText: string;
  required: boolean;
  /** The default as written (`any`, `now-90d`, `100`...); undefined when required. */
  default?: string;
  help?: string;
}

/** Where a placeholder's value comes from: a parameter, or one end of a period. */
export interface Binding {
  param: string;
  part?: 'start' | 'end';
  pgType: string;
}

export interface Playbook {
  name: string;
  description: string;
  params: ParamSpec[];
  /** The statement as written (header removed, trailing semicolon dropped). */
  sql: string;
  /** The statement with `$n::type` in place of the placeholders; `bindings[n-1]` says what $n is. */
  text: string;
  bindings: Binding[];
}

export type PlaybookParse = { ok: true; playbook: Playbook } | { ok: false; problems: string[] };

/** A resolved value: what the response shows and what is bound. */
export type ResolvedValue = string | number | null | { start: string; end: string };
export type ResolvedParams = Record<string, ResolvedValue>;

// ---------------------------------------------------------------------------------------------
// Values

function pgTypeOf(t: ParamType): string {
  switch (t.kind) {
    case 'id':
    case 'text':
      return 'text';
    case 'timestamp':
    case 'period':
      return 'timestamptz';
    case 'interval':
      return 'interval';
    case 'integer':
    case 'limit':
      return 'bigint';
    case 'enum':
      return `"${t.enumName}"`;
  }
}

const ID = /^[A-Za-z0-9_.:-]{1,200}$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are refused
const CONTROL = /[\u0000-\u001f\u007f]/;
const RELATIVE = /^now(?:([+-])(\d{1,6})([smhdw]))?$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const isoDateTime = z.iso.datetime({ offset: true });
const isoDate = z.iso.date();

type Check<T> = { ok: true; value: T } | { ok: false; message: string };
const fail = (message: string): { ok: false; message: string } => ({ ok: false, message });

function timestamp(input: string, now: Date): Check<string> {
  const s = input.trim();
  const rel = RELATIVE.exec(s);
  let ms: number;
  if (rel) {
    const offset = rel[1] ? Number(rel[2]) * UNIT_MS[rel[3] as keyof typeof UNIT_MS] * (rel[1] === '-' ? -1 : 1) : 0;
    ms = now.getTime() + offset;
  } else if (DATE_ONLY.test(s) && isoDate.safeParse(s).success) {
    ms = Date.parse(`${s}T00:00:00Z`);
  } else if (isoDateTime.safeParse(s).success) {
    ms = Date.parse(s);
  } else {
    return fail('must be an ISO 8601 time with a zone (2026-12-01T10:00:00Z), a date (2026-12-01, UTC), now, or now-<n><s|m|h|d|w> such as now-7d');
  }
  const year = new Date(ms).getUTCFullYear();
  if (!Number.isFinite(ms) || year < 1970 || year > 9999) return fail('must be between the years 1970 and 9999');
  return { ok: true, value: new Date(ms).toISOString() };
}

function period(input: string, now: Date): Check<{ start: string; end: string }> {
  const parts = input.split('/');
  if (parts.length !== 2) return fail('must be <start>/<end>, e.g. now-7d/now or 2026-11-01/2026-12-01');
  const start = timestamp(parts[0], now);
  if (!start.ok) return fail(`start ${start.message}`);
  const end = timestamp(parts[1], now);
  if (!end.ok) return fail(`end ${end.message}`);
  if (start.value >= end.value) return fail(`start (${start.value}) must be before end (${end.value})`);
  return { ok: true, value: { start: start.value, end: end.value } };
}

function interval(input: string): Check<string> {
  const m = /^(\d{1,6})([smhdw])$/.exec(input.trim());
  if (!m) return fail('must be a duration such as 30s, 15m, 2h, 7d or 1w');
  if (Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] > MAX_INTERVAL_MS) return fail('must be at most 366d');
  return { ok: true, value: `${Number(m[1])}${m[2]}` };
}

function integer(input: string | number, min: number, max: number, what = 'a whole number'): Check<number> {
  const n = typeof input === 'number' ? input : /^-?\d{1,16}$/.test(input.trim()) ? Number(input.trim()) : NaN;
  if (!Number.isSafeInteger(n)) return fail(`must be ${what}`);
  if (n < min || n > max) return fail(`must be between ${min} and ${max}`);
  return { ok: true, value: n };
}

export interface ResolveContext {
  now: Date;
  /** Upper bound of a `limit` parameter (KEEL_PLAYBOOK_MAX_ROWS). */
  maxRows: number;
}

/** Checks and resolves one value (given, or the default) of a parameter. */
export function resolveValue(spec: Pick<ParamSpec, 'type' | 'default'>, input: string | number, ctx: ResolveContext): Check<ResolvedValue> {
  const t = spec.type;
  // `any` means "no filter" only where the header made it the default; elsewhere it is an ordinary
  // value (an id may be "any") or refused by the type's own check.
  if (input === 'any' && spec.default === 'any' && t.kind !== 'period' && t.kind !== 'interval' && t.kind !== 'limit') return { ok: true, value: null };
  if (typeof input === 'number' && t.kind !== 'integer' && t.kind !== 'limit') return fail('must be a string');
  switch (t.kind) {
    case 'id':
      return ID.test(input as string) ? { ok: true, value: input as string } : fail('must be 1-200 characters of A-Z, a-z, 0-9, _, ., : or -');
    case 'text': {
      const s = input as string;
      if (s.length < 1 || s.length > 500) return fail('must be 1-500 characters');
      return CONTROL.test(s) ? fail('must not contain control characters') : { ok: true, value: s };
    }
    case 'timestamp':
      return timestamp(input as string, ctx.now);
    case 'period':
      return period(input as string, ctx.now);
    case 'interval':
      return interval(input as string);
    case 'integer':
      return integer(input, t.min, t.max);
    case 'limit':
      return integer(input, 1, ctx.maxRows, 'a whole number of rows');
    case 'enum': {
      const v = (input as string).trim().toUpperCase();
      return t.values.includes(v) ? { ok: true, value: v } : fail(`must be one of: ${t.values.join(', ')}, or any`);
    }
  }
}

/** What is bound for a placeholder: intervals as `<ms> milliseconds`, period ends by part. */
export function bindValue(b: Binding, value: ResolvedValue, spec: ParamSpec): unknown {
  if (value !== null && typeof value === 'object') return b.part === 'end' ? value.end : value.start;
  if (spec.type.kind === 'interval' && typeof value === 'string') {
    const m = /^(\d+)([smhdw])$/.exec(value)!;
    return `${Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]} milliseconds`;
  }
  return value;
}

export interface ParamProblem {
  field: string;
  message: string;
}

/**
 * Resolves a caller's parameters: every given one checked, every missing one defaulted (relative
 * times against ctx.now), unknown names refused. Problems name the parameter.
 */
export function resolveParams(
  playbook: Playbook,
  given: Record<string, unknown>,
  ctx: ResolveContext,
): { ok: true; params: ResolvedParams } | { ok: false; problems: ParamProblem[] } {
  const problems: ParamProblem[] = [];
  const params: ResolvedParams = {};
  const known = new Set(playbook.params.map((p) => p.name));
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      const list = playbook.params.map((p) => p.name).join(', ') || 'none';
      problems.push({ field: key.slice(0, 100), message: `unknown parameter (${playbook.name} takes: ${list})` });
    }
  }
  for (const spec of playbook.params) {
    const raw = Object.prototype.hasOwnProperty.call(given, spec.name) ? given[spec.name] : undefined;
    if (raw === undefined) {
      if (spec.required) {
        problems.push({ field: spec.name, message: `is required (${spec.typeText})` });
        continue;
      }
      const r = resolveValue(spec, spec.default!, ctx);
      // Defaults were checked when the file was loaded; only a limit default above the configured
      // maximum can fail here, and it is capped rather than refused.
      params[spec.name] = r.ok ? r.value : spec.type.kind === 'limit' ? ctx.maxRows : null;
      continue;
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      problems.push({ field: spec.name, message: `must be a string${spec.type.kind === 'integer' || spec.type.kind === 'limit' ? ' or a number' : ''} (${spec.typeText})` });
      continue;
    }
    const r = resolveValue(spec, raw, ctx);
    if (r.ok) params[spec.name] = r.value;
    else problems.push({ field: spec.name, message: `${r.message} (${spec.typeText})` });
  }
  return problems.length ? { ok: false, problems } : { ok: true, params };
}

/** The row limit of a run: the `limit` parameter when the playbook has one, else the maximum. */
export function runLimit(playbook: Playbook, params: ResolvedParams, maxRows: number): number {
  const spec = playbook.params.find((p) => p.type.kind === 'limit');
  const v = spec ? params[spec.name] : undefined;
  return typeof v === 'number' ? Math.min(v, maxRows) : maxRows;
}

// ---------------------------------------------------------------------------------------------
// Header

function parseType(text: string): ParamType | string {
  switch (text) {
    case 'id':
    case 'text':
    case 'timestamp':
    case 'period':
    case 'interval':
    case 'limit':
      return { kind: text };
    case 'integer':
      return { kind: 'integer', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
  }
  const range = /^integer\((-?\d{1,15})\.\.(-?\d{1,15})\)$/.exec(text);
  if (range) {
    const [min, max] = [Number(range[1]), Number(range[2])];
    return min <= max ? { kind: 'integer', min, max } : `integer range ${text}: min must not exceed max`;
  }
  const e = /^enum\(([A-Za-z]+)\)$/.exec(text);
  if (e) {
    const values = (PLAYBOOK_ENUMS as Record<string, readonly string[]>)[e[1]];
    return values ? { kind: 'enum', enumName: e[1] as PlaybookEnumName, values } : `unknown enum ${e[1]} (known: ${Object.keys(PLAYBOOK_ENUMS).join(', ')})`;
  }
  return `unknown type "${text}" (expected id, text, timestamp, period, interval, integer, integer(<min>..<max>), limit or enum(<${Object.keys(PLAYBOOK_ENUMS).join('|')}>))`;
}

const ParamLine = z
  .tuple([
    z.string().regex(PARAM_NAME, 'the parameter name must be snake_case: a lowercase letter, then lowercase letters, digits or _ (at most 40)'),
    z.string().transform((s, ctx) => {
      const t = parseType(s);
      if (typeof t === 'string') {
        ctx.addIssue({ code: 'custom', message: t });
        return z.NEVER;
      }
      return { type: t, typeText: s };
    }),
  ], z.string());

/** One `-- param:` line's value -> a ParamSpec, or the problem with it. */
function parseParamLine(value: string): ParamSpec | string {
  const bar = value.indexOf('|');
  const main = (bar >= 0 ? value.slice(0, bar) : value).trim();
  const help = bar >= 0 ? value.slice(bar + 1).trim() : undefined;
  const tokens = main.split(/\s+/).filter(Boolean);
  const shape = 'expected "<name> <type> required" or "<name> <type> default <value>", optionally followed by "| <help>"';
  if (tokens.length < 3) return shape;
  const parsed = ParamLine.safeParse(tokens);
  if (!parsed.success) return parsed.error.issues.map((i) => i.message).join('; ');
  const [name, { type, typeText }, ...rest] = parsed.data;
  let spec: ParamSpec;
  if (rest.length === 1 && rest[0] === 'required') {
    if (type.kind === 'limit') return `${name}: a limit cannot be required; give it a default`;
    spec = { name, type, typeText, required: true };
  } else if (rest.length === 2 && rest[0] === 'default') {
    spec = { name, type, typeText, required: false, default: rest[1] };
    // The default is checked as a caller's value would be (relative times against any clock).
    const r = resolveValue(spec, rest[1], { now: new Date(Date.UTC(2000, 0, 1)), maxRows: Number.MAX_SAFE_INTEGER });
    if (!r.ok) return `${name}: default "${rest[1]}" ${r.message}`;
  } else {
    return `${name}: ${shape}`;
  }
  if (help !== undefined) {
    if (!help) return `${name}: empty help text after "|"`;
    spec.help = help;
  }
  return spec;
}

// ---------------------------------------------------------------------------------------------
// SQL

interface Scan {
  /** Placeholders in order of appearance with their source offsets. */
  refs: Array<{ start: number; end: number; name: string; part?: 'start' | 'end'; line: number }>;
  /** Offset where the statement ends (its trailing semicolon, or the end of the text). */
  end: number;
  problems: string[];
}

/**
 * Finds `:name` / `:name.start` placeholders outside string literals, quoted identifiers, dollar
 * quotes and comments, and checks there is exactly one statement. `::type` casts are not
 * placeholders (a placeholder never follows a colon).
 */
function scanSql(sql: string, firstLine: number): Scan {
  const refs: Scan['refs'] = [];
  const problems: string[] = [];
  let end = sql.length;
  let line = firstLine;
  let i = 0;
  const at = () => `line ${line}`;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '\n') {
      line++;
      i++;
    } else if (c === '-' && next === '-') {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else {
          if (sql[i] === '\n') line++;
          i++;
        }
      }
      if (depth > 0) problems.push(`${at()}: unterminated /* comment`);
    } else if (c === "'" || c === '"') {
      // E'...' strings allow backslash escapes; '' (or "") is the quote itself.
      const backslash = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
      const startLine = line;
      i++;
      let closed = false;
      while (i < sql.length) {
        if (sql[i] === '\n') line++;
        if (backslash && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) {
          i++;
          closed = true;
          break;
        } else i++;
      }
      if (!closed) problems.push(`line ${startLine}: unterminated ${c === "'" ? 'string' : 'quoted identifier'}`);
    } else if (c === '$' && /[0-9]/.test(next ?? '')) {
      problems.push(`${at()}: positional parameter $${next}...: use :name placeholders declared in the header`);
      i++;
    } else if (c === '$' && /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.test(sql.slice(i)) && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$[A-Za-z_]?[A-Za-z0-9_]*\$/.exec(sql.slice(i))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) {
        problems.push(`${at()}: unterminated ${tag} quote`);
        i = sql.length;
      } else {
        for (let k = i; k < close; k++) if (sql[k] === '\n') line++;
        i = close + tag.length;
      }
    } else if (c === ':' && next !== ':' && sql[i - 1] !== ':' && /[A-Za-z_]/.test(next ?? '')) {
      const m = /^:([A-Za-z_][A-Za-z0-9_]*)(?:\.(start|end)\b)?/.exec(sql.slice(i))!;
      refs.push({ start: i, end: i + m[0].length, name: m[1], part: m[2] as 'start' | 'end' | undefined, line });
      i += m[0].length;
    } else if (c === ';') {
      if (end === sql.length) end = i;
      i++;
      // Only comments and whitespace may follow the one statement.
      const rest = sql.slice(i).replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
      if (rest.trim()) problems.push(`${at()}: more than one statement; a playbook is exactly one query`);
      break;
    } else {
      i++;
    }
  }
  return { refs, end, problems };
}

const READ_STATEMENT = /^(select|with|values|table)\b/i;

function stripLeadingComments(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s.replace(/^\s+/, '');
    if (t.startsWith('--')) s = t.replace(/^--[^\n]*/, '');
    else if (t.startsWith('/*')) s = t.replace(/^\/\*[\s\S]*?\*\//, '');
    else return t;
  }
}

// ---------------------------------------------------------------------------------------------
// The whole file

const HEADER_KEY = /^(name|description|param):\s*(.*)$/;

/**
 * Parses and checks one playbook file. `fileName` is used for the name check (the name must be the
 * file's name without .sql); every problem is reported, each as `line <n>: ...` where one applies.
 */
export function parsePlaybook(source: string, fileName: string): PlaybookParse {
  const problems: string[] = [];
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  let name: string | undefined;
  const description: string[] = [];
  const params: ParamSpec[] = [];
  let n = 0;
  for (; n < lines.length && lines[n].startsWith('--'); n++) {
    const content = lines[n].slice(2).trim();
    if (!content) continue;
    const m = HEADER_KEY.exec(content);
    if (!m) {
      problems.push(`line ${n + 1}: header lines are "-- name: ...", "-- description: ..." or "-- param: ..." (a blank line ends the header; put other comments after it)`);
      continue;
    }
    const [, key, value] = m;
    if (key === 'name') {
      if (name !== undefined) problems.push(`line ${n + 1}: name is given twice`);
      name = value.trim();
      const stem = fileName.replace(/^.*[\\/]/, '').replace(/\.sql$/i, '');
      if (!PLAYBOOK_NAME.test(name) || name.length > 60) problems.push(`line ${n + 1}: name "${name}" must be kebab-case (lowercase letters, digits, single dashes), at most 60 characters`);
      else if (name !== stem) problems.push(`line ${n + 1}: name "${name}" must match the file name (${stem}.sql)`);
    } else if (key === 'description') {
      if (!value.trim()) problems.push(`line ${n + 1}: empty description`);
      else description.push(value.trim());
    } else {
      const p = parseParamLine(value);
      if (typeof p === 'string') problems.push(`line ${n + 1}: param: ${p}`);
      else if (params.some((q) => q.name === p.name)) problems.push(`line ${n + 1}: param ${p.name} is declared twice`);
      else params.push(p);
    }
  }
  if (name === undefined) problems.push('line 1: the header must give "-- name: <name>" (the file starts with the header)');
  if (!description.length) problems.push('header: "-- description: ..." is required');
  if (params.length > MAX_PARAMS) problems.push(`header: at most ${MAX_PARAMS} parameters`);
  if (params.filter((p) => p.type.kind === 'limit').length > 1) problems.push('header: at most one limit parameter');
  const desc = description.join(' ');
  if (desc.length > 1000) problems.push('header: the description must be at most 1000 characters');

  // The body: everything after the header, line numbers kept.
  const bodyStart = lines.slice(0, n).join('\n').length + (n > 0 ? 1 : 0);
  const body = source.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n').slice(bodyStart);
  const scan = scanSql(body, n + 1);
  problems.push(...scan.problems);
  const statement = body.slice(0, scan.end);
  const first = stripLeadingComments(statement);
  if (!first) problems.push('the file holds no query after its header');
  else if (!READ_STATEMENT.test(first)) problems.push(`the query must be one SELECT (or WITH/VALUES/TABLE) statement; it starts with "${first.split(/\s/)[0].slice(0, 30)}"`);

  // Placeholders against the header.
  const byName = new Map(params.map((p) => [p.name, p]));
  const used = new Set<string>();
  const refs = scan.refs.filter((r) => r.start < scan.end);
  for (const r of refs) {
    const spec = byName.get(r.name);
    if (!spec) {
      problems.push(`line ${r.line}: :${r.name} is not a declared parameter (declare it with "-- param: ${r.name} <type> ...")`);
      continue;
    }
    used.add(r.name);
    if (spec.type.kind === 'limit') problems.push(`line ${r.line}: :${r.name} is a limit, applied by the runner; do not use it in the SQL`);
    else if (spec.type.kind === 'period' && !r.part) problems.push(`line ${r.line}: :${r.name} is a period; use :${r.name}.start and :${r.name}.end`);
    else if (spec.type.kind !== 'period' && r.part) problems.push(`line ${r.line}: :${r.name}.${r.part}: only a period has .start and .end`);
  }
  for (const p of params) {
    if (p.type.kind !== 'limit' && !used.has(p.name)) problems.push(`param ${p.name} is declared but the query never uses :${p.name}${p.type.kind === 'period' ? '.start or .end' : ''}`);
  }
  if (problems.length) return { ok: false, problems };

  // `$n::type` for each distinct (param, part), in order of first use.
  const bindings: Binding[] = [];
  const index = new Map<string, number>();
  let text = '';
  let pos = 0;
  for (const r of refs) {
    const key = `${r.name}.${r.part ?? ''}`;
    let k = index.get(key);
    if (k === undefined) {
      bindings.push({ param: r.name, ...(r.part ? { part: r.part } : {}), pgType: pgTypeOf(byName.get(r.name)!.type) });
      k = bindings.length;
      index.set(key, k);
    }
    text += `${statement.slice(pos, r.start)}$${k}::${bindings[k - 1].pgType}`;
    pos = r.end;
  }
  text += statement.slice(pos);
  return { ok: true, playbook: { name: name!, description: desc, params, sql: statement.trim(), text: text.trim(), bindings } };
}

/** The values for `$1..$n`, in order. */
export function bindValues(playbook: Playbook, params: ResolvedParams): unknown[] {
  const specs = new Map(playbook.params.map((p) => [p.name, p]));
  return playbook.bindings.map((b) => bindValue(b, params[b.param] ?? null, specs.get(b.param)!));
}

/** The public description of a playbook (GET /v1/playbooks). */
export function describePlaybook(p: Playbook) {
  return {
    name: p.name,
    description: p.description,
    params: p.params.map((s) => ({
      name: s.name,
      type: s.typeText,
      required: s.required,
      ...(s.default !== undefined ? { default: s.default } : {}),
      ...(s.type.kind === 'enum' ? { values: [...s.type.values] } : {}),
      ...(s.type.kind === 'integer' && s.typeText !== 'integer' ? { min: s.type.min, max: s.type.max } : {}),
      ...(s.help ? { description: s.help } : {}),
    })),
  };
}
