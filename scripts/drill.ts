// `npm run drill`: the crisis drill (game day). Starts its own stack (or uses TEMPORAL_ADDRESS /
// DATABASE_URL), replays the seed's crisis all at once (bench/drill/scenario.ts), prints a table, writes
// a JSON and a Markdown report, and exits 1 when an invariant broke (bench/drill/report.ts).
import path from 'node:path';
import { parseFlags } from '../bench/harness/cli';
import { Cleanups, endRun, note, runMain, say, timeNotes, BenchRun } from '../bench/harness/run';
import { printTable, judge, writeReport } from '../bench/drill/report';
import { runDrill } from '../bench/drill/scenario';
import { startDrillStack } from '../bench/drill/stack';

const USAGE = `usage: npm run drill -- [flags]
  --users N           users in the campaign's audience, one promo code each (default 20000)
  --bookings N        bookings starting within the window (default 300)
  --window S          the window their starts are spread over, seconds (default 60)
  --submits N         identical submits of the campaign across the two API processes (default 5)
  --outage S          seconds the database is unreachable to Keel (default 20)
  --outage-at S       seconds into the window the outage begins (default 20)
  --rate N            the campaign's ratePerSecond (default: users / 60, at least 50)
  --kill-at F         SIGKILL the notifications worker once this share is sent (default 0.33)
  --watchdog-every S  trigger the watchdog schedule this often, seconds (default 5)
  --watchdog-grace S  KEEL_WATCHDOG_GRACE for the drill's processes, seconds (default 10)
  --timeout S         give up waiting for recovery this long after the faults, seconds (default 300)
  --out DIR           where drill-<timestamp>.json and .md go (default .data/drill)
  --keep-logs         keep the Keel processes' logs (their directory is printed)
  --help
Services: TEMPORAL_ADDRESS / DATABASE_URL when given (a fresh database is created and dropped), else an
own Temporal dev server and PostgreSQL cluster.`;

const cleanups = new Cleanups(30_000);

async function main(): Promise<number> {
  const { values: v, int, fail } = parseFlags(USAGE, {
    users: { type: 'string', default: '20000' }, bookings: { type: 'string', default: '300' }, window: { type: 'string', default: '60' },
    submits: { type: 'string', default: '5' }, outage: { type: 'string', default: '20' }, 'outage-at': { type: 'string', default: '20' },
    rate: { type: 'string' }, 'kill-at': { type: 'string', default: '0.33' }, 'watchdog-every': { type: 'string', default: '5' },
    'watchdog-grace': { type: 'string', default: '10' }, timeout: { type: 'string', default: '300' }, out: { type: 'string', default: '.data/drill' },
    'keep-logs': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
  });
  const users = int('users', v.users, 1);
  const bookings = int('bookings', v.bookings, 1);
  const killAt = Number(v['kill-at']);
  if (!(killAt > 0 && killAt < 1)) fail('--kill-at must be between 0 and 1');
  const opts = {
    users, bookings, submits: int('submits', v.submits, 1), outageS: int('outage', v.outage, 0),
    windowMs: int('window', v.window, 1) * 1000,
    // Creating the bookings must finish before the window opens (~20/s on a busy 2-core machine).
    leadMs: 15_000 + bookings * 50,
    outageAtMs: int('outage-at', v['outage-at'], 0) * 1000,
    rate: v.rate === undefined ? Math.max(50, Math.round(users / 60)) : int('rate', v.rate, 1),
    killAt, timeoutMs: int('timeout', v.timeout, 10) * 1000, watchdogEveryMs: Math.max(1100, int('watchdog-every', v['watchdog-every'], 1) * 1000),
  };
  timeNotes();
  const t0 = Date.now();
  const stack = await startDrillStack({ watchdogGraceMs: int('watchdog-grace', v['watchdog-grace'], 1) * 1000, campaignStallMs: 30_000, keepLogs: Boolean(v['keep-logs']) }, cleanups);
  note(`stack up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${stack.temporalMode}; PostgreSQL ${stack.postgresMode}); logs in ${stack.logDir}`);
  const facts = await runDrill(stack, opts);
  const report = judge(facts);
  say('');
  say(`Crisis drill: ${users} users x ${opts.submits} submits, ${bookings} bookings in ${opts.windowMs / 1000} s, notifications worker SIGKILLed, database down ${opts.outageS} s`);
  printTable(report, say);
  const files = writeReport(report, path.resolve(String(v.out)));
  say(`report: ${files.json}\n        ${files.md}\n  total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // On a server it did not start, nothing of the drill may keep running.
  const run = new BenchRun();
  run.workflowIds.push(`campaign-${facts.campaignId}`, ...Array.from({ length: bookings }, (_, i) => `booking-${stack.tag}-b${String(i).padStart(4, '0')}`));
  if (report.figures.watchdog.incidentId) run.workflowIds.push(`incident-${report.figures.watchdog.incidentId}`);
  await endRun(run, stack, cleanups);
  return report.ok ? 0 : 1;
}

runMain(main, cleanups);
