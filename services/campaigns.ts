// Campaign commands: submit (preflight, row, workflow), read, and the actions a campaign's workflow
// takes. The workflow alone writes a campaign's status and rate; every command is audited with its
// caller in the transaction of its change (db/campaign-store.ts).
import type { UpdateDefinition } from '@temporalio/common';
import {
  audienceReach,
  claimFailedForRetry,
  createCampaign as insertCampaign,
  deleteUnstartedCampaign,
  lifecycleStarted,
  markWorkflowStarted,
  unclaimRetry,
  type CampaignRow,
} from '../db/campaign-store';
import { workflowIdForCampaign, type Audience, type CampaignTemplate, type Channel } from '../domain/campaign';
import type { RequestMeta } from '../domain/request-meta';
import { checkTemplate, renderTemplate, SAMPLE_VALUES, TemplateError, type CompiledTemplate, type TemplateValues } from '../domain/template';
import {
  cancelCampaignUpdate,
  pauseUpdate,
  resumeUpdate,
  setRateUpdate,
  takeOverUpdate,
  type CampaignInput,
  type CampaignProgress,
} from '../workflows/campaign-messages';
import { runAction } from './actions';
import type { CommandContext } from './context';
import { CommandError, invalid, notFound } from './errors';

/** What a caller submits (POST /v1/campaigns' body). */
export interface CampaignRequest {
  name: string;
  channel: Channel;
  template: CampaignTemplate;
  audience: Audience;
  promoPoolId?: string;
  sendAt?: string;
  ratePerSecond?: number;
  marketing?: boolean;
}

const meta = (ctx: CommandContext): RequestMeta => ({ actor: ctx.actor, requestId: ctx.requestId });

/** A refused template as 400 VALIDATION_FAILED: details.fields holds {field, message, line?, column?} per field. */
const templateRefusal = (err: TemplateError) => invalid(`invalid template: ${err.message}`, err.problems);

/** The template parsed and checked (domain/template.ts checkTemplate), or 400. */
function checkedTemplate(t: CampaignTemplate): CompiledTemplate {
  try {
    return checkTemplate(t);
  } catch (err) {
    if (err instanceof TemplateError) throw templateRefusal(err);
    throw err;
  }
}

/** Everything that would make the campaign fail is refused here, before anything is sent. */
async function preflight(ctx: CommandContext, body: CampaignRequest): Promise<void> {
  const template = checkedTemplate(body.template);
  if (template.usesPromoCode && !body.promoPoolId) {
    throw invalid('the template uses promoCode but no promoPoolId is given', [{ field: 'promoPoolId', message: 'required by promoCode' }]);
  }
  const reach = await audienceReach(ctx.db, body.channel, body.audience);
  if (reach.missing.length) {
    throw invalid(`${reach.missing.length} unknown user(s) in the audience`, [
      { field: 'audience.userIds', message: `unknown: ${reach.missing.slice(0, 50).join(', ')}${reach.missing.length > 50 ? ', ...' : ''}` },
    ]);
  }
  if (body.promoPoolId) {
    const pool = await ctx.db.promoPool.findUnique({ where: { id: body.promoPoolId }, select: { id: true } });
    if (!pool) throw invalid(`unknown promo pool ${body.promoPoolId}`, [{ field: 'promoPoolId', message: 'unknown pool' }]);
    const free = await ctx.db.promoCode.count({ where: { poolId: body.promoPoolId, assignedAt: null } });
    if (free < reach.sendable) {
      throw invalid(`promo pool ${body.promoPoolId} has ${free} free codes for an audience of ${reach.sendable}`, [
        { field: 'promoPoolId', message: 'pool smaller than the audience' },
      ], { free, audience: reach.sendable });
    }
  }
}

/**
 * Submit, idempotent by the required Idempotency-Key (it is the campaign id): the row (with its audit
 * row and its explicit audience), then the workflow, whose input names no user. A new row whose
 * workflow could not be started is deleted again, so a retry starts afresh; the same key and body
 * again answers the existing campaign, and starts nothing once the campaign's lifecycle has begun -
 * the row, not Temporal (which forgets closed runs after retention), is what remembers that.
 */
export async function createCampaign(ctx: CommandContext, body: CampaignRequest) {
  const key = ctx.idempotencyKey;
  if (!key) throw invalid('the Idempotency-Key header is required', [{ field: 'Idempotency-Key', message: 'required' }]);
  const workflowId = workflowIdForCampaign(key);
  const sendAt = body.sendAt ? new Date(body.sendAt) : undefined;
  const marketing = body.marketing ?? false;
  const existing = await ctx.db.campaign.findUnique({ where: { idempotencyKey: key }, select: { id: true } });
  if (!existing) await preflight(ctx, body);
  const result = await insertCampaign(ctx.db, {
    id: key, idempotencyKey: key, name: body.name, channel: body.channel, template: body.template, audience: body.audience,
    promoPoolId: body.promoPoolId, sendAt, ratePerSecond: body.ratePerSecond, defaultRatePerSecond: ctx.settings.campaigns.defaultRatePerSecond,
    marketing, workflowId,
  }, meta(ctx));
  if (result.kind === 'different_request') {
    throw new CommandError('DUPLICATE_CONFLICT', `campaign ${key} already exists with a different request`, { campaignId: key });
  }
  if (result.kind === 'existing' && lifecycleStarted(result.campaign)) {
    return { created: false, campaignId: key, workflowId, status: result.campaign.status };
  }
  const input: CampaignInput = {
    campaignId: key, channel: body.channel, template: body.template, promoPoolId: body.promoPoolId,
    sendAt: sendAt?.toISOString(), ratePerSecond: body.ratePerSecond, marketing, settings: ctx.settings.campaigns,
  };
  try {
    // Also for an existing row not started yet: an earlier attempt may have written it and died before
    // the start (or a concurrent identical submit is starting it: the start policy joins that run).
    await ctx.temporal.start('campaignWorkflow', { workflowId, args: [input], summary: `Campaign ${body.name} (${body.channel})` });
  } catch (err) {
    if (result.kind === 'created') await deleteUnstartedCampaign(ctx.db, key, meta(ctx), 'the workflow could not be started').catch(() => undefined);
    throw err;
  }
  await markWorkflowStarted(ctx.db, key);
  const row = await ctx.db.campaign.findUniqueOrThrow({ where: { id: key }, select: { status: true } });
  return { created: result.kind === 'created', campaignId: key, workflowId, status: row.status };
}

export interface PreviewRequest {
  template: CampaignTemplate;
  /** Render with this user's first name (404 when unknown); without it, sample values. */
  userId?: string;
}

/**
 * A template rendered for one recipient, with the checks of a submit. The promo code is always the
 * sample value: a preview never takes a code from a pool. Reads only.
 */
export async function previewTemplate(ctx: Pick<CommandContext, 'db'>, req: PreviewRequest): Promise<{ subject: string | null; body: string }> {
  const template = checkedTemplate(req.template);
  let values: TemplateValues = SAMPLE_VALUES;
  if (req.userId !== undefined) {
    const user = await ctx.db.user.findUnique({ where: { id: req.userId }, select: { firstName: true } });
    if (!user) throw notFound(`user ${req.userId}`);
    values = { ...SAMPLE_VALUES, firstName: user.firstName ?? '' };
  }
  try {
    const message = renderTemplate(template, values);
    return { subject: message.subject ?? null, body: message.body };
  } catch (err) {
    // This user's name can push a template over a limit the sample values did not.
    if (err instanceof TemplateError) throw templateRefusal(err);
    throw err;
  }
}

/** The public shape of a campaign: counters straight from its row, pending and ETA derived. */
export function campaignView(c: CampaignRow, now = new Date()) {
  const pending = Math.max(0, c.total - c.sent - c.failed - c.skipped);
  const elapsed = c.startedAt ? (now.getTime() - c.startedAt.getTime()) / 1000 : 0;
  const observed = elapsed > 1 && c.sent + c.failed > 0 ? (c.sent + c.failed) / elapsed : undefined;
  const rate = observed ?? c.ratePerSecond ?? undefined;
  return {
    campaignId: c.id,
    workflowId: c.workflowId,
    name: c.name,
    channel: c.channel,
    status: c.status,
    total: c.total,
    sent: c.sent,
    failed: c.failed,
    skipped: c.skipped,
    pending,
    ratePerSecond: c.ratePerSecond,
    etaSeconds: c.status === 'RUNNING' && rate ? Math.ceil(pending / rate) : c.status === 'COMPLETED' ? 0 : null,
    sendAt: c.sendAt?.toISOString() ?? null,
    startedAt: c.startedAt?.toISOString() ?? null,
    finishedAt: c.finishedAt?.toISOString() ?? null,
    createdAt: c.createdAt.toISOString(),
  };
}

export type CampaignView = ReturnType<typeof campaignView>;

async function load(ctx: Pick<CommandContext, 'db'>, id: string): Promise<CampaignRow> {
  const row = await ctx.db.campaign.findUnique({ where: { id } });
  if (!row) throw notFound(`campaign ${id}`);
  return row;
}

export async function getCampaign(ctx: Pick<CommandContext, 'db'>, id: string): Promise<CampaignView> {
  return campaignView(await load(ctx, id));
}

export interface DeliveriesQuery {
  status?: 'pending' | 'sent' | 'failed' | 'skipped';
  limit: number;
  /** Deliveries after this audience position. */
  after?: number;
}

/** One page of a campaign's deliveries by audience position; `next` is the query of the following page. */
export async function listDeliveries(ctx: Pick<CommandContext, 'db'>, id: string, q: DeliveriesQuery) {
  const c = await load(ctx, id);
  const rows = await ctx.db.delivery.findMany({
    where: { campaignId: c.id, ...(q.status ? { status: q.status.toUpperCase() as 'PENDING' } : {}), ...(q.after !== undefined ? { seq: { gt: q.after } } : {}) },
    orderBy: { seq: 'asc' },
    take: q.limit,
  });
  return {
    deliveries: rows.map((d) => ({
      userId: d.userId, seq: d.seq, status: d.status, promoCode: d.promoCode, attempts: d.attempts, lastError: d.lastError,
      notBefore: d.notBefore?.toISOString() ?? null, providerMessageId: d.providerMessageId, sentAt: d.sentAt?.toISOString() ?? null,
    })),
    next: rows.length === q.limit ? `?${new URLSearchParams({ ...(q.status ? { status: q.status } : {}), limit: String(q.limit), after: String(rows.at(-1)!.seq) }).toString()}` : null,
  };
}

const finishedFor = (ctx: CommandContext, c: CampaignRow) => async () =>
  `the campaign is ${(await ctx.db.campaign.findUnique({ where: { id: c.id }, select: { status: true } }))?.status ?? c.status}`;

type CampaignAct = { action: 'pause' | 'resume' | 'cancel' } | { action: 'rate'; ratePerSecond: number | null };
const STATUS_UPDATES: Record<'pause' | 'resume' | 'cancel', UpdateDefinition<CampaignProgress, [RequestMeta]>> = {
  pause: pauseUpdate, resume: resumeUpdate, cancel: cancelCampaignUpdate,
};

/** One update of the campaign's workflow, bounded and idempotent (services/actions.ts); answers the row after it. */
async function act(ctx: CommandContext, id: string, body: CampaignAct): Promise<CampaignView> {
  const c = await load(ctx, id);
  return runAction(ctx, { workflowId: c.workflowId, action: `campaign.${body.action}`, body }, async (updateId) => {
    const opts = { updateId, finished: finishedFor(ctx, c) };
    if (body.action === 'rate') await ctx.temporal.update(c.workflowId, setRateUpdate, [{ ...meta(ctx), ratePerSecond: body.ratePerSecond }], opts);
    else await ctx.temporal.update(c.workflowId, STATUS_UPDATES[body.action], [meta(ctx)], opts);
    return getCampaign(ctx, id);
  });
}

export const pauseCampaign = (ctx: CommandContext, id: string) => act(ctx, id, { action: 'pause' });
export const resumeCampaign = (ctx: CommandContext, id: string) => act(ctx, id, { action: 'resume' });
export const cancelCampaign = (ctx: CommandContext, id: string) => act(ctx, id, { action: 'cancel' });
/** null lifts the limit (the default one included). */
export const setCampaignRate = (ctx: CommandContext, id: string, ratePerSecond: number | null) => act(ctx, id, { action: 'rate', ratePerSecond });

/** Whether the workflow's latest run is the retry run this command started (its memo names the command). */
async function isRetryRunOf(ctx: CommandContext, workflowId: string, commandId: string): Promise<boolean> {
  const run = await ctx.temporal.client.withDeadline(Date.now() + 5000, () => ctx.temporal.handle(workflowId).describe());
  return run.memo?.retryOf === commandId;
}

/**
 * Send a COMPLETED campaign's failed deliveries again: claim them (db/campaign-store.ts), start a new
 * run of the same workflow id that sends only what is PENDING, and answer once that run has taken the
 * campaign over (its RUNNING is in the row). Idempotent by key like every action: the same request
 * again finds its claim and its run, and starts no second one. A run that could not be started gives
 * the claim back.
 */
export async function retryFailed(ctx: CommandContext, id: string): Promise<CampaignView & { retried: number }> {
  const c = await load(ctx, id);
  return runAction(ctx, { workflowId: c.workflowId, action: 'campaign.retry_failed', body: {} }, async (commandId) => {
    const cmd = { ...meta(ctx), commandId };
    const claim = await claimFailedForRetry(ctx.db, c.id, cmd);
    if (claim.kind === 'missing') throw notFound(`campaign ${id}`);
    if (claim.kind === 'refused') {
      throw new CommandError('INVALID_TRANSITION', claim.status !== 'COMPLETED'
        ? `retry-failed needs a COMPLETED campaign (it is ${claim.status})`
        : 'the campaign has no failed deliveries');
    }
    if (!claim.again || !(await isRetryRunOf(ctx, c.workflowId, commandId))) {
      const input: CampaignInput = {
        campaignId: c.id, channel: c.channel as Channel, template: c.template as unknown as CampaignTemplate,
        promoPoolId: c.promoPoolId ?? undefined, ratePerSecond: c.ratePerSecond ?? undefined, marketing: c.marketing, settings: ctx.settings.campaigns,
        cursor: { maxSeq: claim.maxSeq, nextSeq: 1, redo: [], ratePerSecond: c.ratePerSecond ?? undefined, paused: false, pass: 1 },
        retry: true,
      };
      try {
        const { started } = await ctx.temporal.start('campaignWorkflow', {
          workflowId: c.workflowId, args: [input], memo: { retryOf: commandId }, summary: `Campaign ${c.name}: retry ${claim.retried} failed`,
          // A new run of the closed id; a run still there (the last one finishing) refuses it.
          policy: { conflict: 'FAIL', reuse: 'ALLOW_DUPLICATE' },
        });
        // Not started: a concurrent copy of this request started it (fine), or the last run is still closing.
        if (!started && !(await isRetryRunOf(ctx, c.workflowId, commandId))) {
          throw new CommandError('INVALID_TRANSITION', 'the campaign\'s last run is still finishing: retry-failed again in a moment');
        }
      } catch (err) {
        await unclaimRetry(ctx.db, c.id, claim.maxSeq, cmd, 'retry could not be started; try retry-failed again').catch(() => undefined);
        throw err;
      }
    }
    try {
      await ctx.temporal.update(c.workflowId, takeOverUpdate, [], { updateId: commandId, finished: finishedFor(ctx, c) });
    } catch (err) {
      // takeOver refuses nothing: a run that has already ended took the campaign over and finished it.
      if (!(err instanceof CommandError && err.code === 'INVALID_TRANSITION')) throw err;
    }
    return { ...(await getCampaign(ctx, id)), retried: claim.retried };
  });
}
