// The crisis, all at once (CONTEXT.md §1): a promo campaign to every user submitted N times across both
// API processes (plus one hostile template), bookings starting within one window, the notifications
// worker SIGKILLed mid-campaign and restarted, the database unreachable to Keel for a while; the watchdog
// triggered every few seconds. Then it waits for everything to recover and collects the raw facts the
// report (./report.ts) judges.
import { performance } from 'node:perf_hooks';
import { createPromoPool } from '../../db/promo-store';
import { upsertUsers } from '../../db/user-store';
import { WATCHDOG_DEDUPE_KEY } from '../../domain/watchdog';
import { runPool, sleep } from '../common';
import { bookingBody, startEvents } from '../harness/booking-starts';
import { note } from '../harness/run';
import type { DrillStack } from './stack';

export interface DrillOptions {
  users: number;
  bookings: number;
  submits: number;
  /** Seconds the database is unreachable. */
  outageS: number;
  /** The bookings' starts are spread over this window (ms), which opens `leadMs` after the drill begins. */
  windowMs: number;
  leadMs: number;
  /** The outage begins this long after the window opens. */
  outageAtMs: number;
  /** The campaign's ratePerSecond (so it is still sending when the faults hit). */
  rate: number;
  /** The notifications worker is SIGKILLed once this share of the deliveries is sent. */
  killAt: number;
  /** Give up waiting for recovery after this long past the faults. */
  timeoutMs: number;
  watchdogEveryMs: number;
}

export interface Submit {
  api: number;
  status: number;
  ms: number;
  campaignId?: string;
  error?: string;
}

export interface DrillFacts {
  opts: DrillOptions;
  startedAt: number;
  campaignId: string;
  submits: Submit[];
  hostile: Submit & { bytes: number };
  bookings: { created: number; createErrors: string[]; createMs: number; windowOpensAt: number };
  starts: Array<{ bookingId: string; latenessMs: number }>;
  connects: { attempted: number; acceptedAtStart: number; eventuallyAccepted: number; firstTryStatuses: Record<string, number> };
  kill: { at: number | null; sentAtKill: number | null; restartedAt: number | null };
  outage: { from: number; to: number };
  watchdog: {
    runs: number; triggers: number; triggerErrors: number;
    incident: { id: string; title: string; drill: boolean; declaredAt: number } | null;
    firstStuckRunAt: number | null; stuckKinds: Record<string, number>;
    lastRun: { finishedAt: number; stuck: number; errors: number } | null;
  };
  recovery: { faultsEndedAt: number; campaignCompletedAt: number | null; allOngoingAt: number | null; cleanWatchdogAt: number | null; recoveredAt: number | null };
  checks: {
    campaignsCreated: number; campaignStatus: string; campaignCounts: { total: number; sent: number; failed: number; skipped: number };
    eligible: number; deliveriesSent: number; usersWithOneSent: number; duplicateCodes: number; codesIssued: number;
    sends: number; duplicateSends: number; bookingsOngoing: number; earlyStarts: number;
    /** Deliveries not SENT at the end, by status and reason (why a recipient was lost). */
    notSent: Array<{ status: string; reason: string | null; n: number }>;
  };
}

const uid = (tag: string, i: number) => `${tag}-u${String(i).padStart(6, '0')}`;
/** `{{` followed by 3,000 spaces: a template the parser must refuse quickly, not chew on. */
export const HOSTILE_TEMPLATE = { subject: 'Hello', body: `{{${' '.repeat(3000)}` };

export async function runDrill(s: DrillStack, o: DrillOptions): Promise<DrillFacts> {
  const { db } = s;
  // Users and their promo codes (one per user).
  const t0 = performance.now();
  for (let i = 0; i < o.users; i += 5000) {
    const n = Math.min(5000, o.users - i);
    await upsertUsers(db, Array.from({ length: n }, (_, j) => ({ userId: uid(s.tag, i + j), email: `${uid(s.tag, i + j)}@example.test`, firstName: 'Max', timezone: 'Europe/Paris' })));
  }
  const pool = await createPromoPool(db, {
    idempotencyKey: `${s.tag}-pool`, name: 'drill promo', codes: Array.from({ length: o.users }, (_, i) => `${s.tag.toUpperCase()}-${String(i).padStart(7, '0')}`),
  });
  if (pool.kind !== 'created') throw new Error(`promo pool: ${pool.kind}`);
  note(`${o.users} users and ${o.users} promo codes seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const startedAt = Date.now();
  const windowOpensAt = startedAt + o.leadMs;
  const outageFrom = windowOpensAt + o.outageAtMs;
  const key = `${s.tag}-promo`;
  const api = (i: number) => s.apis[i % s.apis.length];
  const body = {
    name: 'Saturday promo (drill)', channel: 'email', promoPoolId: pool.pool.poolId, ratePerSecond: o.rate, audience: { all: true },
    template: { subject: 'A ride on us, {{firstName}}', body: 'Hi {{firstName}}, your code is {{promoCode}}. Drive safe!' },
  };

  // 1. The submits, all at once, across both API processes; the hostile one among them.
  const submit = async (i: number, b: unknown, k: string): Promise<Submit> => {
    const t = performance.now();
    try {
      const r = await api(i).request('POST', '/v1/campaigns', b, { 'idempotency-key': k });
      const id = (r.body as { id?: string; campaignId?: string } | undefined);
      return { api: (i % s.apis.length) + 1, status: r.status, ms: performance.now() - t, campaignId: id?.id ?? id?.campaignId, ...(r.status >= 300 ? { error: r.text.slice(0, 200) } : {}) };
    } catch (err) {
      return { api: (i % s.apis.length) + 1, status: 0, ms: performance.now() - t, error: (err as Error).message };
    }
  };
  const hostileBody = { ...body, name: 'hostile template', template: HOSTILE_TEMPLATE };
  const submitsP = Promise.all(Array.from({ length: o.submits }, (_, i) => submit(i, body, key)));
  const hostileP = submit(1, hostileBody, `${s.tag}-hostile`).then((r) => ({ ...r, bytes: JSON.stringify(hostileBody).length }));

  // 2. The bookings, through both APIs, starting within the window.
  const bookingIds = Array.from({ length: o.bookings }, (_, i) => `${s.tag}-b${String(i).padStart(4, '0')}`);
  const startsAt = bookingIds.map((_, i) => windowOpensAt + Math.floor((i * o.windowMs) / Math.max(1, o.bookings)));
  const c0 = performance.now();
  const createErrors: string[] = [];
  const created = new Set<number>();
  const bookingsP = runPool(o.bookings, 8, async (i) => {
    const r = await api(i).request('POST', '/v1/bookings', bookingBody(bookingIds[i], `${s.tag}-c${i}`, startsAt[i]));
    if (r.status !== 201) throw new Error(`HTTP ${r.status} ${r.text.slice(0, 120)}`);
    created.add(i);
  }).then((r) => {
    createErrors.push(...r.errors.map(String));
    const createMs = performance.now() - c0;
    note(`${created.size}/${o.bookings} bookings created in ${(createMs / 1000).toFixed(1)} s${Date.now() > windowOpensAt ? ' (WARNING: creation ran into the start window)' : ''}`);
    return createMs;
  });

  const [submits, hostile] = await Promise.all([submitsP, hostileP]);
  note(`submits: ${submits.map((x) => `${x.status} (api ${x.api}, ${x.ms.toFixed(0)} ms)`).join(', ')}; hostile: ${hostile.status} in ${hostile.ms.toFixed(0)} ms`);
  const campaignId = submits.find((x) => x.campaignId)?.campaignId ?? key;

  // 3. Connects: each customer tries to unlock at its start (+1 s), then every second until it works.
  const firstTry: Record<string, number> = {};
  let acceptedAtStart = 0;
  let eventuallyAccepted = 0;
  const connectsP = Promise.all(bookingIds.map(async (id, i) => {
    await sleep(Math.max(0, startsAt[i] + 1000 - Date.now()));
    if (!created.has(i)) return;
    const deadline = Date.now() + o.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const r = await api(i).request('POST', `/v1/bookings/${id}/connect`, {}).catch(() => ({ status: 0 }));
      if (attempt === 0) firstTry[r.status] = (firstTry[r.status] ?? 0) + 1;
      if (r.status >= 200 && r.status < 300) {
        if (attempt === 0) acceptedAtStart++;
        eventuallyAccepted++;
        return;
      }
      if (Date.now() > deadline) return;
      await sleep(1000);
    }
  }));

  // 4. The watchdog, every few seconds (the schedule's own minute is too slow for a drill), until the end.
  const wd = { triggers: 0, triggerErrors: 0, stop: false };
  const watchdogP = (async () => {
    while (!wd.stop) {
      await sleep(o.watchdogEveryMs);
      try {
        await s.client.schedule.getHandle(s.watchdogScheduleId).trigger();
        wd.triggers++;
      } catch {
        wd.triggerErrors++;
      }
    }
  })();

  // 5. The notifications worker, SIGKILLed once killAt of the deliveries are sent, then restarted.
  const kill = { at: null as number | null, sentAtKill: null as number | null, restartedAt: null as number | null };
  const killP = (async () => {
    const threshold = Math.ceil(o.users * o.killAt);
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const c = await db.campaign.findUnique({ where: { id: campaignId }, select: { sent: true, status: true } });
      if (c && c.sent >= threshold) break;
      if (c?.status === 'COMPLETED' || Date.now() > deadline) {
        note('WARNING: the campaign finished before the kill threshold: the worker is killed anyway');
        break;
      }
      await sleep(100);
    }
    kill.at = Date.now();
    await s.workers.notifications.kill('SIGKILL');
    kill.sentAtKill = (await db.campaign.findUnique({ where: { id: campaignId }, select: { sent: true } }))?.sent ?? null;
    note(`notifications worker SIGKILLed with ${kill.sentAtKill}/${o.users} sent; restarting`);
    await sleep(1000);
    await s.startWorker('notifications');
    kill.restartedAt = Date.now();
  })();

  // 6. The database outage.
  const outage = { from: 0, to: 0 };
  const outageP = (async () => {
    await sleep(Math.max(0, outageFrom - Date.now()));
    outage.from = Date.now();
    await s.proxy.block();
    note(`database unreachable to Keel for ${o.outageS} s`);
    await sleep(o.outageS * 1000);
    await s.proxy.unblock();
    outage.to = Date.now();
    note('database reachable again');
  })();

  const createMs = await bookingsP;
  await Promise.all([killP, outageP]);
  const faultsEndedAt = Math.max(outage.to, kill.restartedAt ?? 0);

  // 7. Recovery: campaign COMPLETED, every booking ONGOING, then a watchdog run that finds nothing stuck.
  const recovery = { faultsEndedAt, campaignCompletedAt: null as number | null, allOngoingAt: null as number | null, cleanWatchdogAt: null as number | null, recoveredAt: null as number | null };
  const deadline = faultsEndedAt + o.timeoutMs;
  while (Date.now() < deadline) {
    if (recovery.campaignCompletedAt === null) {
      const c = await db.campaign.findUnique({ where: { id: campaignId }, select: { status: true, finishedAt: true } });
      if (c?.status === 'COMPLETED') recovery.campaignCompletedAt = c.finishedAt?.getTime() ?? Date.now();
    }
    if (recovery.allOngoingAt === null && Date.now() > startsAt[startsAt.length - 1]) {
      const ongoing = await db.booking.count({ where: { id: { in: bookingIds }, status: 'ONGOING' } });
      if (ongoing === created.size) recovery.allOngoingAt = Date.now();
    }
    if (recovery.campaignCompletedAt !== null && recovery.allOngoingAt !== null) {
      const after = new Date(Math.max(recovery.campaignCompletedAt, recovery.allOngoingAt));
      const runs = await db.watchdogRun.findMany({ where: { startedAt: { gt: after }, stuckCount: 0 }, orderBy: { finishedAt: 'asc' } });
      const clean = runs.find((r) => !Array.isArray(r.detectorErrors) || r.detectorErrors.length === 0);
      if (clean) {
        recovery.cleanWatchdogAt = clean.finishedAt.getTime();
        recovery.recoveredAt = recovery.cleanWatchdogAt;
        break;
      }
    }
    await sleep(500);
  }
  wd.stop = true;
  await watchdogP;
  await connectsP;
  if (recovery.recoveredAt === null) note(`WARNING: not recovered within ${o.timeoutMs / 1000} s of the faults' end`);

  // 8. The facts, straight from the database (not through the proxy).
  const events = await startEvents(db, `${s.tag}-b`);
  const starts = events.map((e) => ({ bookingId: e.bookingId, latenessMs: e.occurredAt.getTime() - (e.scheduledAt?.getTime() ?? NaN) }));
  const row = await db.campaign.findUnique({ where: { id: campaignId } });
  const [d] = await db.$queryRaw<Array<{ sent: number; users_one: number; codes: number; distinct_codes: number }>>`
    SELECT count(*) FILTER (WHERE status = 'SENT')::int AS sent,
           (SELECT count(*)::int FROM (SELECT user_id FROM deliveries WHERE campaign_id = ${campaignId} AND status = 'SENT' GROUP BY user_id HAVING count(*) = 1) x) AS users_one,
           count(promo_code)::int AS codes, count(DISTINCT promo_code)::int AS distinct_codes
    FROM deliveries WHERE campaign_id = ${campaignId}`;
  // The outbox is the recording provider: one row per message handed over. Sends per recipient.
  const [m] = await db.$queryRaw<Array<{ n: number; recipients: number }>>`
    SELECT count(*)::int AS n, count(DISTINCT recipient)::int AS recipients FROM outbox_messages
    WHERE idempotency_key >= ${`campaign:${campaignId}:`} AND idempotency_key < ${`campaign:${campaignId};`}`;
  const notSent = await db.$queryRaw<Array<{ status: string; reason: string | null; n: number }>>`
    SELECT status::text AS status, left(last_error, 300) AS reason, count(*)::int AS n FROM deliveries
    WHERE campaign_id = ${campaignId} AND status <> 'SENT' GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10`;
  const eligible = await db.user.count({ where: { id: { startsWith: `${s.tag}-u` } } });
  const runs = await db.watchdogRun.findMany({ orderBy: { startedAt: 'asc' } });
  const incidents = await db.incident.findMany({ where: { dedupeKey: WATCHDOG_DEDUPE_KEY }, orderBy: { declaredAt: 'asc' } });
  const stuckKinds: Record<string, number> = {};
  for (const r of runs) {
    for (const [k, n] of Object.entries((r.counts ?? {}) as Record<string, number>)) if (n > 0) stuckKinds[k] = Math.max(stuckKinds[k] ?? 0, n);
  }
  const last = runs[runs.length - 1];
  return {
    opts: o, startedAt, campaignId, submits, hostile,
    bookings: { created: created.size, createErrors, createMs, windowOpensAt },
    starts,
    connects: { attempted: created.size, acceptedAtStart, eventuallyAccepted, firstTryStatuses: firstTry },
    kill, outage,
    watchdog: {
      runs: runs.length, triggers: wd.triggers, triggerErrors: wd.triggerErrors,
      incident: incidents[0] ? { id: incidents[0].id, title: incidents[0].title, drill: incidents[0].drill, declaredAt: incidents[0].declaredAt.getTime() } : null,
      firstStuckRunAt: runs.find((r) => r.stuckCount > 0)?.finishedAt.getTime() ?? null, stuckKinds,
      lastRun: last ? { finishedAt: last.finishedAt.getTime(), stuck: last.stuckCount, errors: Array.isArray(last.detectorErrors) ? last.detectorErrors.length : 0 } : null,
    },
    recovery,
    checks: {
      campaignsCreated: await db.campaign.count(), campaignStatus: row?.status ?? 'MISSING',
      campaignCounts: { total: row?.total ?? 0, sent: row?.sent ?? 0, failed: row?.failed ?? 0, skipped: row?.skipped ?? 0 },
      eligible, deliveriesSent: d.sent, usersWithOneSent: d.users_one, duplicateCodes: d.codes - d.distinct_codes, codesIssued: d.codes,
      sends: m.n, duplicateSends: m.n - m.recipients,
      bookingsOngoing: await db.booking.count({ where: { id: { in: bookingIds }, status: 'ONGOING' } }),
      earlyStarts: starts.filter((x) => x.latenessMs < 0).length,
      notSent,
    },
  };
}
