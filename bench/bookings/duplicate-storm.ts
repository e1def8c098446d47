// The duplicate storm: the same POST /v1/bookings sent many times at once (the freeze of CONTEXT.md:
// a submit button clicked again and again, requests landing on several containers), several rounds,
// each with a fresh booking id. Prints the latency every caller saw and checks the answers: one 201,
// the rest 200 with the same body, one row, one event, one audit entry, one workflow run.
import { performance } from 'node:perf_hooks';
import { workflowIdForBooking } from '../../domain/booking';
import { dist, fmtCpu, fmtDist, sleep, type Dist } from '../common';
import { note, say } from '../harness/run';
import { HttpApi } from '../harness/services';
import { booking, type Bench } from './stack';

export interface StormResult {
  rounds: number;
  size: number;
  latency: Dist;
  /** Answers, rows or runs that were not exactly as required (one line each in the failures). */
  problems: number;
}

async function runsOf(b: Bench, workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of b.s.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) n++;
  return n;
}

export async function duplicateStorm(b: Bench): Promise<StormResult> {
  const { stormRounds: rounds, stormSize: size } = b.opts;
  const tag = b.s.workflows.taskQueuePrefix;
  say(`\n== Duplicate storm: ${size} identical POST /v1/bookings at once, ${rounds} rounds (fresh id each) ==`);
  // A connection per request, so the storm reaches the API at once instead of queueing in the client.
  const api = new HttpApi(b.s.apiPort, b.s.token, size);
  const latencies: number[] = [];
  const problems: string[] = [];
  const ids: string[] = [];
  const c0 = b.s.cpu.snap();
  let stormMs = 0;
  try {
    // Open the connections first (an uncounted request each), so the rounds time requests, not TCP handshakes.
    await Promise.all(Array.from({ length: size }, () => api.request('GET', '/v1/bookings/warm-up-no-such-booking')));
    for (let r = 0; r < rounds; r++) {
      await b.drained();
      await sleep(100);
      const body = booking(`${tag}-storm-${r}`, r);
      const t0 = performance.now();
      const answers = await Promise.all(
        Array.from({ length: size }, async () => {
          const t = performance.now();
          const res = await api.request('POST', '/v1/bookings', body);
          latencies.push(performance.now() - t);
          return res;
        }),
      );
      stormMs += performance.now() - t0;
      b.expectedWft += 1;
      ids.push(body.bookingId);
      b.workflowIds.push(workflowIdForBooking(body.bookingId));
      const created = answers.filter((a) => a.status === 201).length;
      const same = answers.filter((a) => a.status === 200).length;
      const expected = JSON.stringify({ bookingId: body.bookingId, workflowId: workflowIdForBooking(body.bookingId), status: 'CONFIRMED' });
      const otherBodies = answers.filter((a) => (a.status === 200 || a.status === 201) && JSON.stringify(a.body) !== expected).length;
      const [rows, events, audits] = await Promise.all([
        b.s.db.booking.count({ where: { id: body.bookingId } }),
        b.s.db.bookingEvent.count({ where: { bookingId: body.bookingId } }),
        b.s.db.auditLog.count({ where: { resourceType: 'booking', resourceId: body.bookingId } }),
      ]);
      const run = await b.s.client.workflow.getHandle(workflowIdForBooking(body.bookingId)).describe();
      const bad = [
        created !== 1 && `${created} x 201`,
        same !== size - 1 && `${same} x 200`,
        answers.some((a) => a.status !== 200 && a.status !== 201) && `other statuses ${[...new Set(answers.map((a) => a.status))].join(',')}`,
        otherBodies && `${otherBodies} bodies differ`,
        rows !== 1 && `${rows} rows`,
        events !== 1 && `${events} events`,
        audits !== 1 && `${audits} audit rows`,
        run.status.name !== 'RUNNING' && `run ${run.status.name}`,
      ].filter(Boolean);
      if (bad.length) problems.push(`round ${r + 1}: ${bad.join(', ')}`);
    }
    // One run per id ever: the list shows every run with that id once visibility has caught up (a second
    // run would show as 2; none would show as 0 until it has).
    const deadline = Date.now() + 15_000;
    for (const id of ids) {
      for (;;) {
        const n = await runsOf(b, workflowIdForBooking(id));
        if (n === 1) break;
        if (n > 1 || Date.now() > deadline) {
          problems.push(`${id}: ${n} workflow runs in visibility`);
          break;
        }
        await sleep(200);
      }
    }
  } finally {
    api.close();
  }
  // Over the whole phase (checks and idle waits included): who else was busy, for the noise figure.
  const cpu = b.s.cpu.usage(c0, b.s.cpu.snap(), 'duplicate storm');
  const latency = dist(latencies);
  say(`  latency per request ${fmtDist(latency)}; the storms themselves took ${(stormMs / 1000).toFixed(1)} s`);
  say(`  phase ${fmtCpu(cpu)}`);
  say(`  answers: ${problems.length ? `${problems.length} problem(s): ${problems.slice(0, 5).join(' | ')}` : `every round one 201 and ${size - 1} x 200 with the same body, one row, one event, one audit row, one run`}`);
  if (problems.length) b.failures.push(`duplicate storm: ${problems.slice(0, 5).join(' | ')}`);
  note(`duplicate storm: ${rounds} rounds done`);
  return { rounds, size, latency, problems: problems.length };
}
