// Connect at start (issue 11): n bookings sharing one startsAt, every customer's connect sent 250 ms
// after it. All must be accepted: the workflow takes the due start first when its timer is still queued.
import { runPool, sleep, type Dist, dist } from '../common';
import { say } from '../harness/run';
import { booking, type Bench } from './stack';

export interface ConnectAtStart {
  n: number;
  accepted: number;
  answers: Record<string, number>;
  latency: Dist;
}

export async function connectAtStart(b: Bench, n: number, rate: number): Promise<ConnectAtStart> {
  const { s, opts } = b;
  const tag = `${s.workflows.taskQueuePrefix}-connect${n}`;
  say(`\n== Connect at start: ${n} bookings sharing one startsAt, connect sent at startsAt + 250 ms ==`);
  await b.drained();
  // Far enough out that creating them and their first workflow tasks are done before it (1.6x the rate seen).
  const startsAt = Math.ceil((Date.now() + (n / rate) * 1000 * 1.6 + opts.lateMarginS * 1000) / 1000) * 1000;
  const created = await runPool(n, opts.concurrency, (i) => b.viaApi(booking(`${tag}-${i}`, i, startsAt)));
  b.fail(`connect-at-start ${n} creation`, created.errors);
  b.expectedWft += created.ok;
  await b.drained();
  if (Date.now() > startsAt) say(`  WARNING: creation ran ${((Date.now() - startsAt) / 1000).toFixed(1)} s past startsAt`);
  await sleep(Math.max(0, startsAt + 250 - Date.now()));
  const answers: Record<string, number> = {};
  let accepted = 0;
  // As many in flight as there are bookings: every customer taps "unlock" at once.
  const r = await runPool(created.ok, created.ok, async (i) => {
    const res = await s.driver.request('POST', `/v1/bookings/${tag}-${i}/connect`, {});
    const status = res.status === 200 ? (JSON.parse(res.text) as { status?: string }).status : undefined;
    const key = res.status === 200 ? `200 ${status}` : `${res.status}`;
    answers[key] = (answers[key] ?? 0) + 1;
    if (res.status === 200 && status === 'ONGOING') accepted++;
  });
  b.fail(`connect-at-start ${n} connects`, r.errors);
  const latency = dist(r.latencies);
  say(`  accepted ${accepted}/${created.ok} (answers ${JSON.stringify(answers)}); connect latency p50 ${Math.round(latency.p50)} ms, p99 ${Math.round(latency.p99)} ms`);
  if (accepted < created.ok) b.failures.push(`connect at start ${n}: ${created.ok - accepted} of ${created.ok} refused or failed (${JSON.stringify(answers)})`);
  return { n: created.ok, accepted, answers, latency };
}
