// Records the workflow histories test/replay.test.ts replays: drives real bookings through every path
// of the booking workflow, and an incident through its whole life, on a full Keel stack (API, workers, PostgreSQL, Temporal), with short
// durations, waits for each workflow to finish and saves its history as test/histories/<name>.json.
//
//   npx tsx scripts/record-histories.ts [--out test/histories] [--only name,name]
//
// Re-record after an intentional, compatible change to the workflow, and keep the old files too
// (under another name) while workflows recorded with the old code may still be running: replaying
// them is what proves a deploy will not break those runs.
//
// Uses the test harness: given TEMPORAL_ADDRESS / KEEL_TEST_DATABASE_URL it records against those
// servers, otherwise it starts a throwaway Temporal dev server and PostgreSQL (test/global-setup.ts)
// and stops them at the end. Each booking gets a unique id, so a shared server is fine.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import globalSetup, { stopTestServices } from '../test/global-setup';
import { bookingBody, eventually, startStack, workflowBundle, type Stack } from '../test/helpers/stack';
import type { History } from '@temporalio/common/lib/proto-utils';
import type { RunbookSnapshot, Severity } from '../domain/incident';
import { explain, historyFileText, readHistoryFile, replayHistories } from './replay';

/**
 * Durations the scenarios are timed against: short, with margins wide enough for a loaded 2-core
 * machine (a customer must connect within the grace period after the start, as seen through the API).
 */
const SETTINGS = { noShowGraceMs: 4000, remindersBeforeStartMs: [1500], remindersBeforeEndMs: [1500] };
const HOUR = 60 * 60_000;

/** A short SEV2 checklist whose one timed step escalates 1.5 s after the declaration. */
const INCIDENT_RUNBOOKS = new Map<Severity, RunbookSnapshot>(
  (['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((severity) => [
    severity,
    {
      severity,
      version: 'recording+1',
      steps: [
        { id: 'database', kind: 'auto', title: 'Database reachable', check: 'database' },
        { id: 'late-bookings', kind: 'auto', title: 'Bookings started on time', check: 'bookings_not_started' },
        { id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected.', role: 'communications', timeLimitMs: 1500 },
        { id: 'verify-unlock', kind: 'manual', title: 'Confirm customers can connect to cars', instructions: 'Try one car.', role: 'operations' },
      ],
    },
  ]),
);

type Scenario = (stack: Stack) => Promise<string /* workflowId */>;

async function create(stack: Stack, startInMs: number, durationMs: number, over: Record<string, unknown> = {}) {
  const body = bookingBody({ bookingId: `hist-${Math.random().toString(36).slice(2, 10)}`, ...over }, startInMs, durationMs);
  await stack.api().post('/v1/bookings', body).expect(201);
  return body;
}

async function waitForStatus(stack: Stack, id: string, status: string, timeoutMs = 15_000): Promise<void> {
  await eventually(async () => (await stack.api('viewer').get(`/v1/bookings/${id}`).expect(200)).body.status === status, timeoutMs, 50);
}

/** POST a request on a booking and check the answer's status (the message says what came instead). */
async function post(stack: Stack, id: string, verb: string, expected: number, body?: object, role: 'service' | 'operator' = 'service') {
  const res = await stack.api(role).post(`/v1/bookings/${id}/${verb}`, body);
  if (res.status !== expected) throw new Error(`${verb} on ${id}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

/** One scenario per path through the workflow; the name is the file name. */
export const SCENARIOS: Record<string, Scenario> = {
  // Start timer fires, customer connects (twice: the second passes the gate without a write), returns.
  'started-connected-returned': async (stack) => {
    const b = await create(stack, 1000, 60_000);
    await waitForStatus(stack, b.bookingId, 'ONGOING');
    await post(stack, b.bookingId, 'connect', 200);
    await post(stack, b.bookingId, 'connect', 200);
    await post(stack, b.bookingId, 'return', 200);
    return `booking-${b.bookingId}`;
  },

  cancelled: async (stack) => {
    const b = await create(stack, HOUR, HOUR);
    await post(stack, b.bookingId, 'cancel', 200, { reason: 'customer changed plans' });
    return `booking-${b.bookingId}`;
  },

  // Never connected: NO_SHOW at startsAt + grace.
  'no-show': async (stack) => {
    const b = await create(stack, 500, 60_000);
    await waitForStatus(stack, b.bookingId, 'NO_SHOW');
    return `booking-${b.bookingId}`;
  },

  // Connected but not back at endsAt: OVERDUE (customer and operations notified), then returned.
  'overdue-returned': async (stack) => {
    const b = await create(stack, 500, 3500);
    await waitForStatus(stack, b.bookingId, 'ONGOING');
    await post(stack, b.bookingId, 'connect', 200);
    await waitForStatus(stack, b.bookingId, 'OVERDUE');
    await post(stack, b.bookingId, 'return', 200);
    return `booking-${b.bookingId}`;
  },

  // Extended once; an extension that would overlap the car's next booking is refused by the
  // database write (that refusal is in the history); then the trip runs to its return.
  extended: async (stack) => {
    const b = await create(stack, 2500, 3000);
    const nextStart = new Date(Date.parse(b.endsAt) + 3000);
    const next = await create(stack, 0, 0, {
      carId: b.carId,
      startsAt: nextStart.toISOString(),
      endsAt: new Date(nextStart.getTime() + HOUR).toISOString(),
    });
    await post(stack, b.bookingId, 'extend', 200, { endsAt: new Date(Date.parse(b.endsAt) + 1000).toISOString(), reason: 'running late' });
    await post(stack, b.bookingId, 'extend', 409, { endsAt: b.endsAt }); // not later: refused by the validator
    const clash = await post(stack, b.bookingId, 'extend', 409, { endsAt: new Date(nextStart.getTime() + 60_000).toISOString() });
    if (clash.body.error.code !== 'BOOKING_OVERLAP') throw new Error(`expected BOOKING_OVERLAP, got ${JSON.stringify(clash.body)}`);
    await waitForStatus(stack, b.bookingId, 'ONGOING');
    await post(stack, b.bookingId, 'connect', 200);
    await post(stack, b.bookingId, 'return', 200);
    await post(stack, next.bookingId, 'cancel', 200, { reason: 'recording cleanup' });
    return `booking-${b.bookingId}`;
  },

  // Operator override: an edge off the graph is refused, a legal one with a reason is taken.
  'forced-transition': async (stack) => {
    const b = await create(stack, HOUR, HOUR);
    await post(stack, b.bookingId, 'transition', 409, { to: 'COMPLETED', reason: 'skip ahead' }, 'operator');
    await post(stack, b.bookingId, 'transition', 200, { to: 'ONGOING', reason: 'job stuck; customer at the car' }, 'operator');
    await post(stack, b.bookingId, 'connect', 200);
    await post(stack, b.bookingId, 'return', 200);
    return `booking-${b.bookingId}`;
  },

  // Requests refused by the update validators before the booking starts, then a cancel.
  'connect-refused-before-start': async (stack) => {
    const b = await create(stack, HOUR, HOUR);
    await post(stack, b.bookingId, 'connect', 409);
    await post(stack, b.bookingId, 'return', 409);
    await post(stack, b.bookingId, 'cancel', 200, { reason: 'could not unlock' });
    return `booking-${b.bookingId}`;
  },

  // The start's timer fired while no worker ran; the connect that comes with it takes the due start
  // first, within the same update, then connects.
  'connect-takes-due-start': async (stack) => {
    const b = await create(stack, 2500, HOUR);
    const handle = stack.client.workflow.getHandle(`booking-${b.bookingId}`);
    await eventually(async () => ((await handle.fetchHistory()).events ?? []).some((e) => e.timerStartedEventAttributes), 15_000, 100);
    await stack.stopWorkers();
    let restarted = false;
    try {
      // Just past startsAt: restarting the workers takes seconds, and the no-show grace is short here.
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(b.startsAt) + 200 - Date.now())));
      const connect = post(stack, b.bookingId, 'connect', 200);
      await new Promise((r) => setTimeout(r, 100));
      restarted = true;
      await stack.startWorkers();
      await connect;
    } finally {
      if (!restarted) await stack.startWorkers();
    }
    await post(stack, b.bookingId, 'return', 200);
    return `booking-${b.bookingId}`;
  },

  // An incident from declare to close: checks, chain of command, an escalation, steps, a public update,
  // mitigation, resolution, an action item.
  'incident-lifecycle': async (stack) => {
    const act = async (path: string, body: object, expected = 200) => {
      const res = await stack.api('commander').post(path, body);
      if (res.status !== expected) throw new Error(`${path}: expected ${expected}, got ${res.status} ${JSON.stringify(res.body)}`);
      return res;
    };
    const { body } = await act('/v1/incidents', { title: 'Cars do not unlock', severity: 'SEV2', components: ['car-unlock'] }, 201);
    const base = `/v1/incidents/${body.incidentId}`;
    await act(`${base}/roles`, { role: 'commander', holder: 'alice' });
    await act(`${base}/roles`, { role: 'deputy', holder: 'bob' });
    await act(`${base}/roles`, { role: 'commander', holder: 'bob' });
    await eventually(async () => {
      const s = (await stack.api('viewer').get(base).expect(200)).body as { timeline: { kind: string }[] };
      return s.timeline.some((e) => e.kind === 'escalation') && s.timeline.filter((e) => e.kind === 'check').length === 2;
    }, 15_000);
    await act(`${base}/steps/first-update/complete`, { note: 'posted' });
    await act(`${base}/steps/first-update/complete`, {}, 409);
    await act(`${base}/steps/verify-unlock/skip`, { reason: 'covered by checks' });
    await act(`${base}/checks/run`, {});
    await act(`${base}/notes`, { text: 'gateway certificate expired?' });
    await act(`${base}/status-updates`, { message: 'Some customers cannot unlock cars.', componentStates: { 'car-unlock': 'major_outage' } });
    await act(`${base}/severity`, { severity: 'SEV1', reason: 'all cities' });
    await act(`${base}/mitigate`, { note: 'gateway restarted' });
    await act(`${base}/resolve`, { summary: 'Expired certificate renewed.' });
    await act(`${base}/action-items`, { title: 'Alert on certificate expiry', owner: 'carol', dueDate: '2026-12-15' });
    await act(`${base}/close`, { whatWentWell: 'Checks pointed at the gateway.' });
    return `incident-${body.incidentId}`;
  },

  // Both reminder timers fire: 1.5 s before the start and 1.5 s before the end; returned before overdue.
  reminders: async (stack) => {
    const b = await create(stack, 3000, 3500);
    await waitForStatus(stack, b.bookingId, 'ONGOING');
    await post(stack, b.bookingId, 'connect', 200);
    await eventually(() => stack.db.notificationOutbox.count({ where: { bookingId: b.bookingId, kind: 'booking.before_end' } }), 10_000, 50);
    await post(stack, b.bookingId, 'return', 200);
    const kinds = (await stack.db.notificationOutbox.findMany({ where: { bookingId: b.bookingId }, orderBy: { id: 'asc' } })).map((n) => n.kind);
    if (kinds.join() !== 'booking.before_start,booking.before_end') throw new Error(`unexpected reminders: ${kinds.join()}`);
    return `booking-${b.bookingId}`;
  },
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: 'string', default: path.join(__dirname, '..', 'test', 'histories') }, only: { type: 'string' } },
  });
  const outDir = path.resolve(values.out);
  const names = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(SCENARIOS);
  const unknown = names.filter((n) => !SCENARIOS[n]);
  if (unknown.length) {
    console.error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
    return 2;
  }

  await globalSetup();
  let stack: Stack | undefined;
  try {
    stack = await startStack({ name: 'record-histories', settings: SETTINGS, runbooks: INCIDENT_RUNBOOKS, updateTimeoutMs: 20_000 });
    const s = stack;
    // Warm up first (the first requests pay for Prisma's, the API's and the worker's cold start), then
    // run the scenarios one at a time: their timers are seconds apart, and a loaded machine that
    // answers late makes a customer miss the grace period. A scenario that fails is retried on a new
    // booking (the failed one is not recorded).
    const warm = await create(s, HOUR, HOUR);
    await post(s, warm.bookingId, 'cancel', 200, { reason: 'warm-up' });
    const recorded: { name: string; workflowId: string; status: string; history: History }[] = [];
    for (const name of names) {
      for (let attempt = 1; ; attempt++) {
        try {
          const started = Date.now();
          const workflowId = await SCENARIOS[name](s);
          const handle = s.client.workflow.getHandle(workflowId);
          const view = await handle.result();
          recorded.push({ name, workflowId, status: view.status, history: await handle.fetchHistory() });
          console.log(`recorded ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
          break;
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          if (attempt >= 3) {
            console.error(`scenario ${name} failed ${attempt} times, last: ${message}\nnothing saved: every scenario must pass`);
            return 1;
          }
          console.error(`scenario ${name} failed (attempt ${attempt}), retrying: ${message}`);
        }
      }
    }
    fs.mkdirSync(outDir, { recursive: true });
    for (const r of recorded) {
      const file = path.join(outDir, `${r.name}.json`);
      fs.writeFileSync(file, historyFileText(r.history));
      const kb = (fs.statSync(file).size / 1024).toFixed(1);
      console.log(`saved ${path.relative(process.cwd(), file)}: ${r.workflowId} ended ${r.status}, ${r.history.events?.length} events, ${kb} KB`);
    }
    // What was written must replay against the code that wrote it, read back from the files.
    const outcomes = await replayHistories(
      recorded.map((r) => readHistoryFile(path.join(outDir, `${r.name}.json`))),
      { workflowBundle: await workflowBundle() },
    );
    for (const o of outcomes) console.log(explain(o));
    return outcomes.every((o) => o.ok) ? 0 : 1;
  } finally {
    await stack?.stop().catch((err) => console.error(`stopping the stack: ${(err as Error).message}`));
    await stopTestServices();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    async (err: unknown) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exit(1);
    },
  );
}
