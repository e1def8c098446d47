// Campaign activities, on the `notifications` task queue. deliverPage sends one page of a campaign
// (a range of audience positions): it only ever touches PENDING deliveries, so running it twice - a
// retry, a worker killed mid-page, a page re-run after a pause - sends nothing twice and skips no one.
import { ApplicationFailure, CancelledFailure, Context, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import {
  assignPromoCodes,
  deferDeliveries,
  failPending,
  nextPending,
  pendingInRange,
  recordOutcomes,
  recordTransient,
  reserveSendSlots,
  setCampaignRate,
  setCampaignStatus,
  snapshotAudience,
  type CampaignAction,
  type CampaignCommand,
  type DeliveryOutcome,
  type PendingDelivery,
} from '../db/campaign-store';
import {
  deliveryKey,
  quietUntil,
  type Audience,
  type CampaignStatus,
  type CampaignTemplate,
  type Channel,
  type QuietHours,
} from '../domain/campaign';
import { compileTemplate, renderTemplate, TemplateError, type CompiledTemplate } from '../domain/template';
import { TokenBucket } from '../providers/token-bucket';
import type { OutgoingMessage, Provider, SendResult } from '../providers/types';
import { recordDeliveries } from './metrics';

/** A provider that can also take many messages in one call (the outbox does: one INSERT). */
export type BatchingProvider = Provider & { sendMany?(messages: OutgoingMessage[]): Promise<SendResult[]> };

export interface CampaignActivityDeps {
  db: Db;
  providers: Record<Channel, BatchingProvider>;
  /** Provider limits per channel (messages per second), shared by every page in this process. */
  channelRates?: Partial<Record<Channel, number>>;
  /** Tries per message inside one activity attempt before the attempt gives up (Temporal retries it). */
  sendRounds?: number;
  retryBackoffMs?: number;
}

export interface PageRequest {
  campaignId: string;
  channel: Channel;
  template: CampaignTemplate;
  promoPoolId?: string;
  fromSeq: number;
  toSeq: number;
  /** The campaign's rate limit (messages per second), shared by all its pages through the database. */
  ratePerSecond?: number;
  quietHours?: QuietHours;
}

export interface PageResult {
  sent: number;
  failed: number;
  deferred: number;
}

const CHUNK = 250;
const PARALLEL_SENDS = 16;
/** Rendering is synchronous: after this much of it the page lets the event loop run (heartbeats, other queues' tasks). */
const RENDER_SLICE_MS = 20;

/** The page's template parsed once, or why it cannot be (a campaign submitted before templates were Liquid). */
function compileForPage(template: CampaignTemplate): CompiledTemplate | string {
  try {
    return compileTemplate(template);
  } catch (err) {
    if (err instanceof TemplateError) return `template: ${err.message}`;
    throw err;
  }
}

export function createCampaignActivities(deps: CampaignActivityDeps) {
  const channelBuckets = new Map<Channel, TokenBucket>();
  for (const [channel, rate] of Object.entries(deps.channelRates ?? {}) as Array<[Channel, number]>) {
    if (rate) channelBuckets.set(channel, new TokenBucket(rate));
  }
  const rounds = deps.sendRounds ?? 4;
  const backoff = deps.retryBackoffMs ?? 200;

  async function sendAll(provider: BatchingProvider, messages: OutgoingMessage[]): Promise<SendResult[]> {
    if (provider.sendMany) return provider.sendMany(messages);
    const results = new Array<SendResult>(messages.length);
    let next = 0;
    const lanes = Array.from({ length: Math.min(PARALLEL_SENDS, messages.length) }, async () => {
      while (next < messages.length) {
        const i = next++;
        try {
          results[i] = await provider.send(messages[i]);
        } catch (err) {
          results[i] = { ok: false, permanent: false, error: (err as Error).message };
        }
      }
    });
    await Promise.all(lanes);
    return results;
  }

  /** Sleep in short steps, heartbeating, so a pause or cancel still lands within seconds. */
  async function sleepWithHeartbeat(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (let left = ms; left > 0; left = until - Date.now()) {
      await new Promise((r) => setTimeout(r, Math.min(left, 1000)));
      checkCancelled();
    }
  }

  function checkCancelled(): void {
    const ctx = Context.current();
    ctx.heartbeat();
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('page cancelled (campaign paused or cancelled)');
  }

  return {
    /**
     * The campaign's status, as the workflow sees it; `command` when a command changed it (audited).
     * `from` is the status the workflow last wrote: a row elsewhere (a finished campaign met by a run
     * revived after retention) is refused for good, so that run fails before it sends anything.
     */
    async setCampaignStatus(args: {
      campaignId: string; status: CampaignStatus; from?: CampaignStatus; command?: { action: CampaignAction } & CampaignCommand;
    }): Promise<void> {
      const w = await setCampaignStatus(deps.db, args.campaignId, args.status, args.command, args.from);
      if (w.kind === 'stale') {
        throw ApplicationFailure.create({
          message: `campaign ${args.campaignId} is ${w.status}, not ${args.from}: this run may not move it to ${args.status}`,
          type: 'StaleCampaignStatus', nonRetryable: true, details: [{ status: w.status, expected: args.from, wanted: args.status }],
        });
      }
    },

    async setCampaignRate(args: { campaignId: string; ratePerSecond: number | null; command?: CampaignCommand }): Promise<void> {
      await setCampaignRate(deps.db, args.campaignId, args.ratePerSecond, args.command);
    },

    /** Reads the audience from the campaign's row and table; `audience` (runs started before) is ignored. */
    async snapshotAudience(args: { campaignId: string; channel: Channel; audience?: Audience }): Promise<{ total: number; maxSeq: number }> {
      return snapshotAudience(deps.db, args.campaignId, args.channel);
    },

    async nextPending(args: { campaignId: string }): Promise<{ count: number; dueAt: string | null }> {
      const r = await nextPending(deps.db, args.campaignId);
      return { count: r.count, dueAt: r.dueAt?.toISOString() ?? null };
    },

    async failPending(args: { campaignId: string; fromSeq: number; toSeq: number; reason: string }): Promise<number> {
      return failPending(deps.db, args.campaignId, args.fromSeq, args.toSeq, args.reason);
    },

    async deliverPage(p: PageRequest): Promise<PageResult> {
      // Heartbeat on a clock, not only between chunks: one slow statement on a loaded database must not
      // look like a dead worker (that would start a second, competing attempt of the same page).
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 1000);
      try {
        return await deliverPageNow(p);
      } finally {
        clearInterval(beat);
      }
    },
  };

  async function deliverPageNow(p: PageRequest): Promise<PageResult> {
    const provider = deps.providers[p.channel];
    const channelBucket = channelBuckets.get(p.channel);
    const result: PageResult = { sent: 0, failed: 0, deferred: 0 };
    const template = compileForPage(p.template);
    let due: PendingDelivery[] = await pendingInRange(deps.db, p.campaignId, p.channel, p.fromSeq, p.toSeq, new Date());

    if (p.quietHours) {
      const now = new Date();
      const later = due.flatMap((d) => {
        const until = quietUntil(now, d.timezone, p.quietHours!);
        return until ? [{ userId: d.userId, notBefore: until }] : [];
      });
      await deferDeliveries(deps.db, p.campaignId, later);
      const deferred = new Set(later.map((l) => l.userId));
      due = due.filter((d) => !deferred.has(d.userId));
      result.deferred = later.length;
    }

    if (typeof template === 'string') {
      // No message of this page can be written: each fails with the reason, and no promo code is taken.
      const recorded = await recordOutcomes(deps.db, p.campaignId, due.map((d) => ({ userId: d.userId, status: 'FAILED', error: template })));
      recordDeliveries('campaign', p.channel, recorded);
      return { ...result, ...recorded };
    }

    let lastError = '';
    // Rate-limited pages send a fifth of a second's worth per chunk: an even flow, not bursts.
    const chunkSize = p.ratePerSecond ? Math.max(1, Math.min(CHUNK, Math.floor(p.ratePerSecond / 5))) : CHUNK;
    for (let start = 0; start < due.length; start += chunkSize) {
      checkCancelled();
      const chunk = due.slice(start, start + chunkSize);
      const outcomes: DeliveryOutcome[] = [];
      let sendable = chunk;
      if (p.promoPoolId) {
        const codes = await assignPromoCodes(deps.db, p.campaignId, p.promoPoolId, chunk.map((d) => d.userId));
        for (const d of chunk) d.promoCode = codes.get(d.userId) ?? null;
        for (const d of chunk.filter((c) => !c.promoCode)) {
          outcomes.push({ userId: d.userId, status: 'FAILED', error: 'promo pool exhausted: no free code left' });
        }
        sendable = chunk.filter((c) => c.promoCode);
      }
      // A message that cannot be rendered (a limit hit for this recipient) fails alone; the page goes on.
      let queue: Array<{ d: PendingDelivery; m: OutgoingMessage }> = [];
      let sliceStart = performance.now();
      for (const d of sendable) {
        try {
          const { subject, body } = renderTemplate(template, { firstName: d.firstName ?? '', promoCode: d.promoCode ?? '' });
          queue.push({ d, m: { idempotencyKey: deliveryKey(p.campaignId, d.userId), channel: p.channel, to: d.address ?? '', subject, body } });
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          outcomes.push({ userId: d.userId, status: 'FAILED', error: `template: ${err.message}` });
        }
        if (performance.now() - sliceStart > RENDER_SLICE_MS) {
          await new Promise((r) => setImmediate(r));
          sliceStart = performance.now();
        }
      }
      for (let round = 1; queue.length && round <= rounds; round++) {
        if (round > 1) {
          await new Promise((r) => setTimeout(r, backoff * 2 ** (round - 2)));
          checkCancelled();
        }
        if (p.ratePerSecond) {
          const startsAt = await reserveSendSlots(deps.db, p.campaignId, queue.length, p.ratePerSecond);
          const wait = startsAt.getTime() - Date.now();
          if (wait > 0) await sleepWithHeartbeat(wait);
        }
        if (channelBucket) await channelBucket.take(queue.length);
        const results = await sendAll(provider, queue.map((q) => q.m));
        const retry: typeof queue = [];
        results.forEach((r, i) => {
          const { d } = queue[i];
          if (r.ok) outcomes.push({ userId: d.userId, status: 'SENT', providerMessageId: r.providerMessageId });
          else if (r.permanent) outcomes.push({ userId: d.userId, status: 'FAILED', error: r.error });
          else {
            lastError = r.error;
            retry.push(queue[i]);
          }
        });
        queue = retry;
      }
      const recorded = await recordOutcomes(deps.db, p.campaignId, outcomes);
      result.sent += recorded.sent;
      result.failed += recorded.failed;
      recordDeliveries('campaign', p.channel, recorded);
      if (queue.length) {
        await recordTransient(deps.db, p.campaignId, queue.map((q) => ({ userId: q.d.userId, error: lastError })));
        // The rest of this page waits for the retry: Temporal backs off and tries the page again,
        // and the attempt count and this message show in the Web UI.
        throw ApplicationFailure.retryable(
          `${queue.length} deliveries failed transiently after ${rounds} tries; last error: ${lastError}`,
          'TransientDeliveryFailure',
        );
      }
    }
    log.info('page delivered', { campaignId: p.campaignId, from: p.fromSeq, to: p.toSeq, ...result });
    return result;
  }
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
