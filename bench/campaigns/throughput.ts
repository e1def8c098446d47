// The uncounted warm-up, then 1. Throughput: a users-sized campaign ({all: true}, promo codes, email
// through the outbox provider, no rate limit) per page-size x concurrency setting, each with a fresh
// pool of codes. Total = submit -> the campaign row's finishedAt.
import { runPool, secs, sleep } from '../common';
import { bookingBody, postBooking } from '../harness/booking-starts';
import { note, say } from '../harness/run';
import { settingsName } from './options';
import { runCampaign, printCampaign, type CampaignResult } from './run-campaign';
import { makePool, userId, type Bench } from './stack';

export async function warmUp(b: Bench): Promise<CampaignResult> {
  const { s, opts } = b;
  say(`\n== Warm-up (not counted): ${opts.warmup} recipients, ${settingsName(opts.configs[0] ?? opts.settings)} ==`);
  const pool = await makePool(s, 'warmup', opts.warmup);
  const warm = await runCampaign(b, {
    label: 'warmup', settings: opts.configs[0] ?? opts.settings, audience: { userIds: Array.from({ length: opts.warmup }, (_, i) => userId(i + 1)) },
    expected: opts.warmup, poolId: pool.poolId, profile: false,
  });
  say(`  warm-up: ${warm.sent} in ${secs(warm.totalMs)} (${warm.perSec.toFixed(0)}/s)`);
  if (!opts.skipIsolation) {
    // The bookings worker too: its first workflow tasks load the workflow bundle.
    const api = await s.api(opts.settings);
    const far = Date.now() + 30 * 86_400_000;
    const r = await runPool(50, 8, async (i) => {
      b.workflowIds.push(await postBooking(api, bookingBody(`${s.tag}-warm-${i}`, `cust-${i}`, far + i * 3_600_000)));
    });
    if (r.errors.length) b.fail(`warm-up bookings: ${r.errors.length} failed (${r.errors[0]})`);
    await sleep(2000);
    say(`  warm-up: ${r.ok} bookings (starting in 30 days) through the API in ${secs(r.wallMs)}`);
  }
  return warm;
}

export async function throughput(b: Bench) {
  const { s, opts } = b;
  say(`\n== 1. Throughput: ${opts.users} recipients, promo codes, email via the outbox provider, no rate limit ==`);
  say(`  API in this process (createApp, HTTP); notifications worker: separate process (node --import tsx workers/main.ts, ` +
    `KEEL_WORKERS=notifications, DATABASE_POOL_SIZE=${opts.workerPoolSize}, LOG_LEVEL=info)`);
  const results: CampaignResult[] = [];
  for (const [i, settings] of opts.configs.entries()) {
    const pool = await makePool(s, `tp${i}-${settingsName(settings)}`, opts.users);
    await s.db.$executeRawUnsafe('ANALYZE promo_codes');
    note(`pool of ${opts.users} codes for ${settingsName(settings)} in ${secs(pool.ms)}`);
    await sleep(1000);
    const r = await runCampaign(b, { label: `tp-${settingsName(settings)}`, settings, audience: { all: true }, expected: opts.users, poolId: pool.poolId, profile: opts.profile });
    printCampaign(r);
    results.push(r);
    await s.db.$executeRawUnsafe('VACUUM ANALYZE promo_codes, deliveries, outbox_messages'); // start the next one from a tidy table, as autovacuum would
  }
  const best = results.filter((r) => r.ok).sort((x, y) => x.totalMs - y.totalMs)[0];
  if (best) say(`  best: ${settingsName(best.settings)} in ${secs(best.totalMs)} (${best.perSec.toFixed(0)}/s); target < 60 s: ${best.totalMs < 60_000 ? 'MET' : 'MISSED'}`);
  return { results, best };
}
