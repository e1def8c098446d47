// A notification campaign: one workflow, id `campaign-<idempotency key>`, on the `notifications` task
// queue. It waits for sendAt, freezes the audience into delivery rows, then sends pages of audience
// positions with bounded concurrency. Progress lives in the database (counters move with every page),
// so the history holds only page boundaries and stays bounded: the workflow continues as new every
// `pagesPerRun` pages, carrying its cursor, and a million recipients are a few dozen short runs.
import * as wf from '@temporalio/workflow';
import type { CampaignActivities, PageResult } from '../activities/campaigns';
import type { CampaignAction, CampaignCommand } from '../db/campaign-store';
import type { CampaignStatus } from '../domain/campaign';
import { FailureType } from '../domain/failures';
import type { RequestMeta } from './booking-messages';
import {
  cancelCampaignUpdate,
  pauseUpdate,
  progressQuery,
  resumeUpdate,
  setRateUpdate,
  takeOverUpdate,
  type CampaignCursor,
  type CampaignInput,
  type CampaignProgress,
} from './campaign-messages';

export * from './campaign-messages';

const book = wf.proxyActivities<CampaignActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * Runs whose setRate wrote nothing (the API wrote the row's rate) replay without the write; from this
 * patch on the workflow writes the rate, with its audit row, like every other change of the campaign.
 */
const RATE_WRITTEN_BY_WORKFLOW = 'campaign-rate-written-by-workflow';

function refused(message: string, type: FailureType = FailureType.InvalidTransition): wf.ApplicationFailure {
  return wf.ApplicationFailure.create({ message, type, nonRetryable: true });
}

/**
 * The audit identity of the command being handled: its caller and its update id (which makes the
 * write once-only under activity retries). Updates sent before commands carried their caller have none.
 */
function commandOf(meta: RequestMeta | undefined): CampaignCommand | undefined {
  return meta?.actor ? { actor: meta.actor, requestId: meta.requestId, commandId: wf.currentUpdateInfo()?.id } : undefined;
}

function statusCommand(action: CampaignAction, meta: RequestMeta | undefined) {
  const command = commandOf(meta);
  return command && { action, ...command };
}

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignProgress> {
  const { settings } = input;
  let status: CampaignStatus = input.cursor ? (input.cursor.paused ? 'PAUSED' : 'RUNNING') : 'SCHEDULED';
  // What the row holds as far as this run knows: every status write expects it (compare-and-set), so a
  // run that finds the row elsewhere - revived after retention for a finished campaign - stops at once.
  // A retry run starts from the COMPLETED row its claim left.
  let written: CampaignStatus = input.retry ? 'COMPLETED' : status;
  let cursor: CampaignCursor | undefined = input.cursor;
  let cancelled = false;
  // A retry run has taken over once its RUNNING is in the row (the claim left it COMPLETED).
  let takenOver = !input.retry;
  const inFlight = new Map<string, wf.CancellationScope>();
  let writes: Promise<unknown> = Promise.resolve();

  // The row's status and rate are written here only, in order: the row follows the workflow within moments.
  const write = (fn: () => Promise<void>) => (writes = writes.then(fn));
  const setStatus = (s: CampaignStatus, command?: ReturnType<typeof statusCommand>) => {
    status = s;
    const from = written;
    written = s;
    return write(() => book.setCampaignStatus({ campaignId: input.campaignId, status: s, from, ...(command ? { command } : {}) }));
  };
  const progress = (): CampaignProgress => ({ status, cursor, pagesInFlight: inFlight.size });

  wf.setHandler(progressQuery, progress);
  wf.setHandler(takeOverUpdate, async () => {
    await wf.condition(() => takenOver);
    return progress();
  });
  wf.setHandler(
    pauseUpdate,
    async (meta?: RequestMeta) => {
      const command = statusCommand('pause', meta);
      cursor!.paused = true;
      for (const scope of inFlight.values()) scope.cancel();
      // Answer once no page is sending any more: "paused" means nothing else goes out.
      await wf.condition(() => inFlight.size === 0);
      await setStatus('PAUSED', command);
      return progress();
    },
    {
      validator: (_meta?: RequestMeta) => {
        if (status !== 'RUNNING') throw refused(`only a RUNNING campaign can be paused (it is ${status})`);
        if (!cursor) throw refused('the audience is still being frozen: pause again in a moment');
      },
    },
  );
  wf.setHandler(
    resumeUpdate,
    async (meta?: RequestMeta) => {
      cursor!.paused = false;
      await setStatus('RUNNING', statusCommand('resume', meta));
      return progress();
    },
    { validator: (_meta?: RequestMeta) => { if (status !== 'PAUSED') throw refused(`only a PAUSED campaign can be resumed (it is ${status})`); } },
  );
  wf.setHandler(
    cancelCampaignUpdate,
    async (meta?: RequestMeta) => {
      const command = statusCommand('cancel', meta);
      cancelled = true;
      for (const scope of inFlight.values()) scope.cancel();
      await wf.condition(() => inFlight.size === 0);
      await setStatus('CANCELLED', command);
      return progress();
    },
    {
      validator: (_meta?: RequestMeta) => {
        if (!['SCHEDULED', 'RUNNING', 'PAUSED'].includes(status)) throw refused(`the campaign is already ${status}`);
      },
    },
  );
  wf.setHandler(
    setRateUpdate,
    async (args) => {
      const { ratePerSecond } = args;
      const command = commandOf(args);
      // null lifts the limit, the default one included (0 = explicitly unlimited, so the default is not
      // applied again when a scheduled campaign starts).
      if (cursor) cursor.ratePerSecond = ratePerSecond ?? undefined;
      else input.ratePerSecond = ratePerSecond ?? 0;
      if (wf.patched(RATE_WRITTEN_BY_WORKFLOW)) {
        await write(() => book.setCampaignRate({ campaignId: input.campaignId, ratePerSecond, ...(command ? { command } : {}) }));
      }
      return progress();
    },
    {
      validator: ({ ratePerSecond }) => {
        if (!['SCHEDULED', 'RUNNING', 'PAUSED'].includes(status)) throw refused(`the campaign is already ${status}`);
        if (ratePerSecond !== null && !(Number.isInteger(ratePerSecond) && ratePerSecond > 0)) {
          throw refused('ratePerSecond must be a positive integer', FailureType.ValidationFailed);
        }
      },
    },
  );

  const finish = async (s: CampaignStatus) => {
    if (status !== s) await setStatus(s);
    await writes;
    await wf.condition(wf.allHandlersFinished);
    return progress();
  };

  if (input.retry) {
    await setStatus('RUNNING');
    takenOver = true;
  }
  if (!cursor) {
    if (input.sendAt) {
      const wait = Date.parse(input.sendAt) - Date.now();
      if (wait > 0) await wf.condition(() => cancelled, wait, { summary: `send at ${input.sendAt}` });
    }
    if (cancelled) return finish('CANCELLED');
    await setStatus('RUNNING');
    const snap = await book.snapshotAudience.executeWithOptions(
      { startToCloseTimeout: '10 minutes', retry: { initialInterval: '1 second', maximumInterval: '30 seconds' }, summary: 'freeze the audience' },
      [{ campaignId: input.campaignId, channel: input.channel }],
    );
    cursor = { maxSeq: snap.maxSeq, nextSeq: 1, redo: [], ratePerSecond: input.ratePerSecond ?? input.settings.defaultRatePerSecond, paused: false, pass: 1 };
  }
  const c = cursor;
  let pagesThisRun = 0;

  /** Run one page; a pause or cancel cancels it and puts it back for later. */
  function launch(range: [number, number]): Promise<void> {
    const key = `${range[0]}-${range[1]}`;
    const scope = new wf.CancellationScope();
    inFlight.set(key, scope);
    return scope
      .run(() =>
        book.deliverPage.executeWithOptions(
          {
            startToCloseTimeout: '10 minutes',
            // Short: a cancellation (pause, cancel) reaches a page on its next heartbeat, within ~3 s.
            heartbeatTimeout: '4 seconds',
            cancellationType: wf.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 12 },
            summary: `deliver ${range[0]}..${range[1]}`,
          },
          [{
            campaignId: input.campaignId, channel: input.channel, template: input.template, promoPoolId: input.promoPoolId,
            fromSeq: range[0], toSeq: range[1], ratePerSecond: c.ratePerSecond,
            quietHours: input.marketing ? settings.quietHours : undefined,
          }],
        ),
      )
      .then(
        (_r: PageResult) => undefined,
        async (err) => {
          if (wf.isCancellation(err)) {
            c.redo.push(range);
            return;
          }
          // Retries exhausted: what is still pending in this page is marked failed, with the reason, and
          // can be sent again with retry-failed.
          const e = err as Error & { cause?: Error };
          const reason = `gave up after retries: ${e.cause?.message ?? e.message}`;
          await book.failPending({ campaignId: input.campaignId, fromSeq: range[0], toSeq: range[1], reason });
        },
      )
      .finally(() => {
        inFlight.delete(key);
        pagesThisRun++;
      });
  }

  const nextRange = (): [number, number] | undefined => {
    if (c.redo.length) return c.redo.shift();
    if (c.nextSeq > c.maxSeq) return undefined;
    // Enough pages to keep every lane busy (each lane sends rate/concurrency), and rate-limited pages
    // of about five seconds' worth, so a rate change or pause applies quickly.
    const remaining = c.maxSeq - c.nextSeq + 1;
    const cap = c.ratePerSecond ? Math.ceil((c.ratePerSecond * 5) / settings.concurrency) : settings.pageSize;
    const size = Math.max(1, Math.min(settings.pageSize, cap, Math.ceil(remaining / settings.concurrency)));
    const r: [number, number] = [c.nextSeq, Math.min(c.maxSeq, c.nextSeq + size - 1)];
    c.nextSeq = r[1] + 1;
    return r;
  };

  for (;;) {
    // One pass over the audience with up to `concurrency` pages at once.
    while (!cancelled) {
      await wf.condition(() => cancelled || (!c.paused && inFlight.size < settings.concurrency));
      if (cancelled) break;
      if (pagesThisRun >= settings.pagesPerRun) {
        await wf.condition(() => inFlight.size === 0);
        if (!cancelled && !c.paused) {
          await writes;
          await wf.condition(wf.allHandlersFinished);
          // An old run's audience ids are not carried on: the next run's input is bounded too.
          return wf.continueAsNew<typeof campaignWorkflow>({ ...input, audience: undefined, cursor: c, retry: undefined });
        }
        continue;
      }
      const range = nextRange();
      if (!range) {
        await wf.condition(() => inFlight.size === 0 || cancelled);
        if (c.redo.length && !cancelled) continue; // a page was interrupted at the very end
        break;
      }
      void launch(range);
    }
    if (cancelled) return finish('CANCELLED');
    // Deferred deliveries (quiet hours) are still PENDING: wait until the first is due, then another pass.
    const left = await book.nextPending({ campaignId: input.campaignId });
    if (!left.count) return finish('COMPLETED');
    const wait = left.dueAt ? Date.parse(left.dueAt) - Date.now() : 0;
    if (wait <= 0 && c.pass >= 3) {
      // Due, yet left behind by repeated passes: never loop on them; make them visible instead.
      await book.failPending({ campaignId: input.campaignId, fromSeq: 1, toSeq: c.maxSeq, reason: 'not sent after repeated passes' });
      return finish('COMPLETED');
    }
    if (wait > 0) await wf.condition(() => cancelled, wait, { summary: `deferred messages due at ${left.dueAt}` });
    if (cancelled) return finish('CANCELLED');
    await wf.condition(() => !c.paused || cancelled);
    c.pass++;
    c.nextSeq = 1;
  }
}
