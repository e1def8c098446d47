// Where a campaign's database time goes: a sampling profile (pg_stat_activity every 50 ms: which
// statement each connection of the benchmark's database is in, or idle inside a transaction after), and
// auto_explain's plans of the statements slower than 1 s (any session) from the server log.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client as PgClient } from 'pg';
import { ms, round, sleep } from '../common';
import { say } from '../harness/run';
import type { Stack } from './stack';

const STATEMENTS: Array<[RegExp, string]> = [
  [/INSERT INTO "outbox_messages"/, 'outbox INSERT (provider sendMany)'],
  [/SELECT code FROM "promo_codes"/, 'claim free codes (SELECT .. FOR UPDATE SKIP LOCKED)'],
  [/UPDATE "promo_codes"/, 'assign codes (UPDATE promo_codes)'],
  [/UPDATE "deliveries" d SET promo_pool_id/, 'codes onto deliveries (UPDATE deliveries)'],
  [/SELECT user_id, promo_code FROM "deliveries"/, 'codes already held (SELECT deliveries)'],
  [/UPDATE "deliveries" d SET status/, 'record outcomes (UPDATE deliveries)'],
  [/UPDATE "campaigns" SET sent/, 'counters (UPDATE campaigns)'],
  [/FROM "deliveries" d JOIN "users"/, 'pending page (SELECT deliveries JOIN users)'],
  [/INSERT INTO "deliveries"/, 'audience snapshot (INSERT deliveries)'],
  [/FROM "deliveries" WHERE "campaign_id"/, 'snapshot count'],
  [/^\s*BEGIN/i, 'BEGIN'],
  [/^\s*COMMIT/i, 'COMMIT'],
  [/^\s*ROLLBACK/i, 'ROLLBACK'],
  [/booking/i, 'bookings (any)'],
  [/request_stats|"api_request/i, 'request stats'],
  [/"campaigns"/, 'campaign row (other)'],
];
const statementOf = (q: string) => STATEMENTS.find(([re]) => re.test(q))?.[1] ?? `other: ${q.replace(/\s+/g, ' ').slice(0, 60)}`;

export interface DbProfile {
  ticks: number;
  intervalMs: number;
  /** key -> samples */
  counts: Map<string, number>;
  connections: number;
}

export class DbSampler {
  private client: PgClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private profile: DbProfile = { ticks: 0, intervalMs: 50, counts: new Map(), connections: 0 };
  constructor(private readonly s: Stack) {}
  async start(): Promise<void> {
    this.client = new PgClient({ connectionString: this.s.databaseUrl });
    this.client.on('error', () => undefined);
    await this.client.connect();
    this.running = true;
    const sql = `SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`;
    this.loop = (async () => {
      while (this.running) {
        const t = performance.now();
        try {
          const r = await this.client!.query<{ state: string | null; wait_event_type: string | null; wait_event: string | null; query: string }>(sql, [this.s.dbName]);
          this.profile.ticks++;
          this.profile.connections += r.rows.length;
          for (const row of r.rows) {
            if (row.state === 'idle') continue;
            const st = statementOf(row.query ?? '');
            const key =
              row.state === 'active'
                ? `active      ${st}${row.wait_event_type ? ` [waits ${row.wait_event_type}:${row.wait_event}]` : ''}`
                : `${row.state === 'idle in transaction' ? 'idle in tx' : row.state}  after ${st}`;
            this.profile.counts.set(key, (this.profile.counts.get(key) ?? 0) + 1);
          }
        } catch {
          // a sample lost is fine
        }
        await sleep(Math.max(0, this.profile.intervalMs - (performance.now() - t)));
      }
    })();
  }
  async stop(): Promise<DbProfile> {
    this.running = false;
    await this.loop;
    await this.client?.end().catch(() => undefined);
    return this.profile;
  }
}

/** The `top` most frequent states, as average connections in them (JSON keys with single spaces). */
export function dbProfileJson(p: DbProfile, top = 10): Record<string, number> {
  if (!p.ticks) return {};
  return Object.fromEntries([...p.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k.replace(/\s+/g, ' '), round(v / p.ticks, 3)!]));
}

export function printDbProfile(p: DbProfile, top = 14): void {
  if (!p.ticks) return;
  const rows = [...p.counts.entries()].sort((a, b) => b[1] - a[1]);
  const busy = rows.reduce((a, [, v]) => a + v, 0) / p.ticks;
  say(`    database (pg_stat_activity every ${p.intervalMs} ms, ${p.ticks} samples): ${(p.connections / p.ticks).toFixed(1)} connections open, ` +
    `${busy.toFixed(2)} not idle on average; by statement (average connections in that state):`);
  for (const [k, v] of rows.slice(0, top)) say(`      ${(v / p.ticks).toFixed(2).padStart(5)}  ${k}`);
}

// ---------------------------------------------------------------------------------------------
// Slow statements: auto_explain's plans in the server log.

export interface SlowStatements {
  count: number;
  byStatement: Map<string, { n: number; maxMs: number; totalMs: number; plan: string[] }>;
}

export function logSize(file: string | undefined): number {
  try {
    return file ? fs.statSync(file).size : 0;
  } catch {
    return 0;
  }
}

/** The plans logged in `file` since byte `from`, by statement. */
export function slowStatements(file: string | undefined, from: number): SlowStatements | undefined {
  if (!file) return undefined;
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    fs.readSync(fd, buf, 0, buf.length, from);
    fs.closeSync(fd);
    text = buf.toString('utf8');
  } catch {
    return undefined;
  }
  const out: SlowStatements = { count: 0, byStatement: new Map() };
  const entries: Array<{ ms: number; lines: string[] }> = [];
  for (const line of text.split('\n')) {
    const m = /LOG:\s+duration: ([\d.]+) ms\s+plan:/.exec(line);
    if (m) entries.push({ ms: Number(m[1]), lines: [] });
    else if (line.startsWith('\t') && entries.length) entries[entries.length - 1].lines.push(line.slice(1));
  }
  for (const e of entries) {
    const sql = e.lines.join('\n').replace(/^Query Text:\s*/, '');
    const label = statementOf(sql);
    const start = e.lines.findIndex((l) => /^(Update on|Insert on|Delete on|Limit|LockRows|Hash Join|Nested Loop|Sort|Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Aggregate|Result|Merge Join)/.test(l.trim()) && !/^Query Text/.test(l));
    const plan = start >= 0 ? e.lines.slice(start).map((l) => l.replace(/\s+\(cost=[^)]*\)/g, '').trimEnd()).filter((l) => l.trim()) : [];
    const cur = out.byStatement.get(label) ?? { n: 0, maxMs: 0, totalMs: 0, plan };
    cur.n++;
    cur.totalMs += e.ms;
    if (e.ms > cur.maxMs) {
      cur.maxMs = e.ms;
      cur.plan = plan;
    }
    out.byStatement.set(label, cur);
    out.count++;
  }
  return out;
}

export function printSlow(sl: SlowStatements | undefined): void {
  if (!sl) return;
  if (!sl.count) {
    say('    statements slower than 1 s (auto_explain): none');
    return;
  }
  say(`    statements slower than 1 s (auto_explain, any session of this database): ${sl.count}`);
  for (const [k, v] of [...sl.byStatement.entries()].sort((a, b) => b[1].totalMs - a[1].totalMs)) {
    say(`      ${String(v.n).padStart(4)} x ${k}: max ${ms(v.maxMs)}, plan of the slowest: ${v.plan.slice(0, 7).map((l) => l.trim()).join(' / ')}`);
  }
}
