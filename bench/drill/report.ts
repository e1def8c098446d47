// The drill's verdict: the invariants (any broken one makes `npm run drill` exit 1) and the figures, as a
// terminal table, a JSON file and a Markdown file.
import fs from 'node:fs';
import path from 'node:path';
import { dist, round } from '../common';
import type { DrillFacts } from './scenario';

/** Lateness bound (documented in the README): a start more than this late at p99 breaks the drill. */
export const LATENESS_P99_BOUND_MS = 60_000;

export interface Invariant {
  name: string;
  ok: boolean;
  value: string;
  expected: string;
}

export interface DrillReport {
  ok: boolean;
  startedAt: string;
  options: DrillFacts['opts'];
  invariants: Invariant[];
  figures: {
    bookings: { created: number; started: number; latenessMs: { p50: number | null; p99: number | null; max: number | null } };
    connects: { atStart: number; of: number; eventually: number; firstTryStatuses: Record<string, number> };
    submits: Array<{ api: number; status: number; ms: number | null }>;
    hostile: { status: number; ms: number | null; bytes: number };
    campaign: { id: string; status: string; total: number; sent: number; failed: number; skipped: number; notSent: DrillFacts['checks']['notSent'] };
    workerKill: { sentAtKill: number | null; downMs: number | null };
    outage: { seconds: number | null };
    watchdog: {
      runs: number; triggers: number; incident: 'opened' | 'not opened'; incidentId: string | null; title: string | null; drill: boolean | null;
      openedAfterFirstFaultMs: number | null; openedAfterOutageStartMs: number | null; stuckKinds: Record<string, number>; why?: string;
    };
    recovery: { recoveredAfterMs: number | null; campaignCompletedAfterMs: number | null; allOngoingAfterMs: number | null };
  };
}

export function judge(f: DrillFacts): DrillReport {
  const c = f.checks;
  const lat = dist(f.starts.map((x) => x.latenessMs));
  const inv = (name: string, ok: boolean, value: string | number, expected: string | number): Invariant => ({ name, ok, value: String(value), expected: String(expected) });
  const okSubmits = f.submits.filter((x) => x.status === 200 || x.status === 201 || x.status === 202);
  const ids = new Set(okSubmits.map((x) => x.campaignId));
  const firstFault = Math.min(f.outage.from || Infinity, f.kill.at ?? Infinity);
  const after = (t: number | null) => (t === null ? null : Math.max(0, t - f.recovery.faultsEndedAt));
  const invariants = [
    inv('campaigns created', c.campaignsCreated === 1, c.campaignsCreated, 1),
    inv(`submits answered with the one campaign`, okSubmits.length === f.submits.length && ids.size === 1, `${okSubmits.length}/${f.submits.length} (${ids.size} id)`, `${f.submits.length}/${f.submits.length} (1 id)`),
    inv('hostile template refused (4xx)', f.hostile.status >= 400 && f.hostile.status < 500, `${f.hostile.status} in ${Math.round(f.hostile.ms)} ms`, '4xx'),
    inv('campaign completed', c.campaignStatus === 'COMPLETED', c.campaignStatus, 'COMPLETED'),
    inv('duplicate codes', c.duplicateCodes === 0 && c.codesIssued === c.eligible, `${c.duplicateCodes} (${c.codesIssued} issued)`, `0 (${c.eligible} issued)`),
    inv('recipients lost', c.eligible - c.usersWithOneSent === 0, c.eligible - c.usersWithOneSent, 0),
    inv('duplicate sends', c.duplicateSends === 0, `${c.duplicateSends} (${c.sends} sends to ${c.sends - c.duplicateSends} recipients)`, 0),
    inv('bookings created', f.bookings.created === f.opts.bookings, f.bookings.created, f.opts.bookings),
    inv('bookings started (none never)', f.starts.length === f.bookings.created && c.bookingsOngoing === f.bookings.created, `${f.starts.length} started, ${c.bookingsOngoing} ONGOING`, f.bookings.created),
    inv('early starts', c.earlyStarts === 0, c.earlyStarts, 0),
    inv(`start lateness p99 < ${LATENESS_P99_BOUND_MS / 1000} s`, f.starts.length > 0 && lat.p99 < LATENESS_P99_BOUND_MS, `${Math.round(lat.p99)} ms`, `< ${LATENESS_P99_BOUND_MS} ms`),
    inv('recovered', f.recovery.recoveredAt !== null, f.recovery.recoveredAt === null ? 'no' : `after ${((f.recovery.recoveredAt - f.recovery.faultsEndedAt) / 1000).toFixed(1)} s`, 'yes'),
    inv('watchdog incident marked as a drill', !f.watchdog.incident || f.watchdog.incident.drill, f.watchdog.incident ? String(f.watchdog.incident.drill) : 'no incident', 'true'),
  ];
  const i = f.watchdog.incident;
  return {
    ok: invariants.every((x) => x.ok),
    startedAt: new Date(f.startedAt).toISOString(),
    options: f.opts,
    invariants,
    figures: {
      bookings: { created: f.bookings.created, started: f.starts.length, latenessMs: { p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max) } },
      connects: { atStart: f.connects.acceptedAtStart, of: f.connects.attempted, eventually: f.connects.eventuallyAccepted, firstTryStatuses: f.connects.firstTryStatuses },
      submits: f.submits.map((x) => ({ api: x.api, status: x.status, ms: round(x.ms, 0) })),
      hostile: { status: f.hostile.status, ms: round(f.hostile.ms, 0), bytes: f.hostile.bytes },
      campaign: { id: f.campaignId, status: c.campaignStatus, ...c.campaignCounts, notSent: c.notSent },
      workerKill: { sentAtKill: f.kill.sentAtKill, downMs: f.kill.at && f.kill.restartedAt ? f.kill.restartedAt - f.kill.at : null },
      outage: { seconds: round((f.outage.to - f.outage.from) / 1000, 1) },
      watchdog: {
        runs: f.watchdog.runs, triggers: f.watchdog.triggers, incident: i ? 'opened' : 'not opened', incidentId: i?.id ?? null, title: i?.title ?? null,
        drill: i ? i.drill : null, openedAfterFirstFaultMs: i && Number.isFinite(firstFault) ? i.declaredAt - firstFault : null,
        openedAfterOutageStartMs: i && f.outage.from ? i.declaredAt - f.outage.from : null, stuckKinds: f.watchdog.stuckKinds,
        ...(i ? {} : { why: Object.keys(f.watchdog.stuckKinds).length ? 'runs found stuck work but no incident row was written' : `no run found anything stuck past the ${f.opts.watchdogEveryMs} ms trigger interval and the grace: everything moved on its own` }),
      },
      recovery: {
        recoveredAfterMs: after(f.recovery.recoveredAt), campaignCompletedAfterMs: after(f.recovery.campaignCompletedAt), allOngoingAfterMs: after(f.recovery.allOngoingAt),
      },
    },
  };
}

const s1 = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** The table's rows: [what, value, verdict]. */
function rows(r: DrillReport): Array<[string, string, string]> {
  const f = r.figures;
  const w = f.watchdog;
  const mark = (name: string) => {
    const x = r.invariants.find((i) => i.name === name || i.name.startsWith(name));
    return x ? (x.ok ? 'ok' : `BROKEN (want ${x.expected})`) : '';
  };
  return [
    ['bookings started', `${f.bookings.started}/${f.bookings.created}`, mark('bookings started')],
    ['start lateness p50 / p99 / max', `${f.bookings.latenessMs.p50} / ${f.bookings.latenessMs.p99} / ${f.bookings.latenessMs.max} ms`, mark('start lateness')],
    ['early starts', r.invariants.find((i) => i.name === 'early starts')!.value, mark('early starts')],
    ['connects accepted at start (+1 s)', `${f.connects.atStart}/${f.connects.of} (eventually ${f.connects.eventually}; first answers ${JSON.stringify(f.connects.firstTryStatuses)})`, ''],
    ['campaign submits (2 APIs)', f.submits.map((x) => `${x.status}@api${x.api} ${x.ms}ms`).join(', '), mark('submits')],
    ['campaigns created', r.invariants.find((i) => i.name === 'campaigns created')!.value, mark('campaigns created')],
    ['hostile template', `${f.hostile.status} in ${f.hostile.ms} ms (${f.hostile.bytes} B body)`, mark('hostile')],
    ['campaign', `${f.campaign.status} sent ${f.campaign.sent}/${f.campaign.total}, failed ${f.campaign.failed}, skipped ${f.campaign.skipped}`, mark('campaign completed')],
    ['duplicate codes', r.invariants.find((i) => i.name === 'duplicate codes')!.value, mark('duplicate codes')],
    ['recipients lost', r.invariants.find((i) => i.name === 'recipients lost')!.value, mark('recipients lost')],
    ...f.campaign.notSent.map((x): [string, string, string] => [`  not sent: ${x.status}`, `${x.n}: ${x.reason ?? '(no reason)'}`.slice(0, 200), '']),
    ['duplicate sends', r.invariants.find((i) => i.name === 'duplicate sends')!.value, mark('duplicate sends')],
    ['notifications worker SIGKILL', `at ${f.workerKill.sentAtKill ?? '-'} sent, back after ${s1(f.workerKill.downMs)}`, ''],
    ['database outage', `${f.outage.seconds} s`, ''],
    ['watchdog incident', w.incident === 'opened' ? `opened "${w.title}" ${s1(w.openedAfterFirstFaultMs)} after the first fault (the kill), ${s1(w.openedAfterOutageStartMs)} after the outage began; drill=${w.drill}` : `not opened: ${w.why}`, mark('watchdog incident')],
    ['watchdog runs / stuck kinds seen', `${w.runs} runs; ${JSON.stringify(w.stuckKinds)}`, ''],
    ['recovered after the faults', `${s1(f.recovery.recoveredAfterMs)} (campaign ${s1(f.recovery.campaignCompletedAfterMs)}, bookings ${s1(f.recovery.allOngoingAfterMs)})`, mark('recovered')],
  ];
}

export function printTable(r: DrillReport, out: (line: string) => void): void {
  const rs = rows(r);
  const w0 = Math.max(...rs.map((x) => x[0].length));
  const w1 = Math.min(90, Math.max(...rs.map((x) => x[1].length)));
  const line = `+-${'-'.repeat(w0)}-+-${'-'.repeat(w1)}-+--------`;
  out(line);
  for (const [a, b, c] of rs) out(`| ${a.padEnd(w0)} | ${b.padEnd(w1)} | ${c}`);
  out(line);
  out(r.ok ? 'DRILL PASSED: every invariant held' : `DRILL FAILED: ${r.invariants.filter((i) => !i.ok).map((i) => i.name).join('; ')}`);
}

export function markdown(r: DrillReport): string {
  const esc = (x: string) => x.replace(/\|/g, '\\|');
  return [
    `# Crisis drill ${r.startedAt}: ${r.ok ? 'PASSED' : 'FAILED'}`, '',
    `Options: \`${JSON.stringify(r.options)}\``, '',
    '| what | value | verdict |', '|---|---|---|',
    ...rows(r).map(([a, b, c]) => `| ${esc(a)} | ${esc(b)} | ${esc(c)} |`), '',
    '## Invariants', '', '| invariant | value | expected | ok |', '|---|---|---|---|',
    ...r.invariants.map((i) => `| ${esc(i.name)} | ${esc(i.value)} | ${esc(i.expected)} | ${i.ok ? 'yes' : '**NO**'} |`), '',
  ].join('\n');
}

export function writeReport(r: DrillReport, outDir: string): { json: string; md: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `drill-${r.startedAt.replace(/[:.]/g, '-')}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(`${base}.md`, markdown(r));
  return { json: `${base}.json`, md: `${base}.md` };
}
