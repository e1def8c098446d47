// /v1/campaigns: submit (idempotent by the Idempotency-Key header), watch, and steer campaigns.
import { Router, type Request } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client';
import type { Db } from '../../db/client';
import { createCampaign, deleteUnstartedCampaign, failPending, resetFailed, type CampaignRow } from '../../db/campaign-store';
import { CHANNELS, unknownPlaceholders, usesPromoCode, workflowIdForCampaign, type Channel } from '../../domain/campaign';
import { taskQueue } from '../../domain/task-queues';
import * as wf from '../../workflows/campaign';
import { allow } from '../auth';
import { ApiError } from '../errors';
import { countWorkflowStart } from '../metrics';
import { businessId, isoTime, parse } from '../validation';
import { sendUpdate } from '../workflow-updates';

export interface CampaignRouterDeps {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  settings: wf.CampaignSettings;
}

export const IDEMPOTENCY_KEY = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -');

export const CreateCampaignBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  channel: z.enum(CHANNELS),
  template: z.strictObject({ subject: z.string().max(300).optional(), body: z.string().min(1).max(10_000) }),
  audience: z.union([
    z.strictObject({ all: z.literal(true) }),
    z.strictObject({ userIds: z.array(businessId).min(1).max(100_000) }),
  ]),
  promoPoolId: businessId.optional(),
  sendAt: isoTime.optional(),
  ratePerSecond: z.number().int().min(1).max(100_000).optional(),
  /** Marketing messages are deferred out of the recipient's local quiet hours. */
  marketing: z.boolean().optional(),
});
export const RateBody = z.strictObject({ ratePerSecond: z.number().int().min(1).max(100_000).nullable() });
const DeliveriesQuery = z.strictObject({
  status: z.enum(['pending', 'sent', 'failed', 'skipped']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  // seq is a PostgreSQL integer: a larger value is refused here, not by the database (500).
  after: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
});
const Empty = z.strictObject({});
const Id = z.strictObject({ id: IDEMPOTENCY_KEY });

const ADDRESS: Record<Channel, Prisma.Sql> = { email: Prisma.sql`email`, sms: Prisma.sql`phone`, push: Prisma.sql`push_token` };

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

export function campaignsRouter(deps: CampaignRouterDeps): Router {
  const r = Router();
  const WRITE = allow('service', 'operator');
  const READ = allow('service', 'operator', 'viewer');

  /** Everything that would make the campaign fail is refused here, before anything is sent. */
  async function preflight(body: z.infer<typeof CreateCampaignBody>): Promise<void> {
    const unknown = unknownPlaceholders(body.template);
    if (unknown.length) {
      throw new ApiError(400, 'VALIDATION_FAILED', `unknown placeholder(s) ${unknown.map((p) => `{{${p}}}`).join(', ')}; known: {{firstName}}, {{promoCode}}`, {
        fields: [{ field: 'template', message: `unknown placeholders: ${unknown.join(', ')}` }],
      });
    }
    if (usesPromoCode(body.template) && !body.promoPoolId) {
      throw new ApiError(400, 'VALIDATION_FAILED', 'the template uses {{promoCode}} but no promoPoolId is given', { fields: [{ field: 'promoPoolId', message: 'required by {{promoCode}}' }] });
    }
    let audienceSize: number;
    const address = ADDRESS[body.channel];
    if ('all' in body.audience) {
      const [row] = await deps.db.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM "users" WHERE NOT opted_out AND ${address} IS NOT NULL`;
      audienceSize = row.n;
    } else {
      const ids = [...new Set(body.audience.userIds)];
      const rows = await deps.db.$queryRaw<Array<{ id: string; sendable: boolean }>>`
        SELECT id, (NOT opted_out AND ${address} IS NOT NULL) AS sendable FROM "users" WHERE id = ANY(${ids}::text[])`;
      const found = new Set(rows.map((x) => x.id));
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length) {
        throw new ApiError(400, 'VALIDATION_FAILED', `${missing.length} unknown user(s) in the audience`, {
          fields: [{ field: 'audience.userIds', message: `unknown: ${missing.slice(0, 50).join(', ')}${missing.length > 50 ? ', ...' : ''}` }],
        });
      }
      audienceSize = rows.filter((x) => x.sendable).length;
    }
    if (body.promoPoolId) {
      const pool = await deps.db.promoPool.findUnique({ where: { id: body.promoPoolId }, select: { id: true } });
      if (!pool) throw new ApiError(400, 'VALIDATION_FAILED', `unknown promo pool ${body.promoPoolId}`, { fields: [{ field: 'promoPoolId', message: 'unknown pool' }] });
      const free = await deps.db.promoCode.count({ where: { poolId: body.promoPoolId, assignedAt: null } });
      if (free < audienceSize) {
        throw new ApiError(400, 'VALIDATION_FAILED', `promo pool ${body.promoPoolId} has ${free} free codes for an audience of ${audienceSize}`, {
          fields: [{ field: 'promoPoolId', message: 'pool smaller than the audience' }], free, audience: audienceSize,
        });
      }
    }
  }

  r.post('/', WRITE, async (req, res) => {
    const key = req.get('idempotency-key');
    if (key === undefined) throw new ApiError(400, 'VALIDATION_FAILED', 'the Idempotency-Key header is required', { fields: [{ field: 'Idempotency-Key', message: 'required' }] });
    const keyCheck = IDEMPOTENCY_KEY.safeParse(key);
    if (!keyCheck.success) throw new ApiError(400, 'VALIDATION_FAILED', `Idempotency-Key ${keyCheck.error.issues[0].message}`, { fields: [{ field: 'Idempotency-Key', message: keyCheck.error.issues[0].message }] });
    const body = parse(CreateCampaignBody, req.body);
    const workflowId = workflowIdForCampaign(key);
    const campaign = {
      id: key, idempotencyKey: key, name: body.name, channel: body.channel, template: body.template, audience: body.audience,
      promoPoolId: body.promoPoolId, sendAt: body.sendAt ? new Date(body.sendAt) : undefined, ratePerSecond: body.ratePerSecond,
      defaultRatePerSecond: deps.settings.defaultRatePerSecond, marketing: body.marketing ?? false, workflowId,
    };
    const existing = await deps.db.campaign.findUnique({ where: { idempotencyKey: key } });
    if (!existing) await preflight(body);
    const result = await createCampaign(deps.db, campaign);
    if (result.kind === 'different_request') {
      throw new ApiError(409, 'DUPLICATE_CONFLICT', `campaign ${key} already exists with a different request`, { campaignId: key });
    }
    try {
      await deps.client.withDeadline(Date.now() + 5000, () =>
        deps.client.workflow.start<typeof wf.campaignWorkflow>('campaignWorkflow', {
          workflowId,
          taskQueue: taskQueue('notifications', deps.taskQueuePrefix),
          args: [{
            campaignId: key, channel: body.channel, template: body.template, audience: body.audience, promoPoolId: body.promoPoolId,
            sendAt: campaign.sendAt?.toISOString(), ratePerSecond: body.ratePerSecond, marketing: campaign.marketing, settings: deps.settings,
          }],
          // Concurrent identical submits converge on one run; a finished campaign is not started again.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          staticSummary: `Campaign ${body.name} (${body.channel})`,
        }),
      );
      countWorkflowStart('campaignWorkflow');
    } catch (err) {
      const closed = (err as Error)?.name === 'WorkflowExecutionAlreadyStartedError';
      if (!closed) {
        if (result.kind === 'created') await deleteUnstartedCampaign(deps.db, key).catch(() => undefined);
        throw err;
      }
    }
    const row = await deps.db.campaign.findUniqueOrThrow({ where: { id: key } });
    res.status(result.kind === 'created' ? 202 : 200).json({ campaignId: key, workflowId, status: row.status });
  });

  async function load(req: Request): Promise<CampaignRow> {
    const { id } = parse(Id, { id: req.params.id }, 'path');
    const row = await deps.db.campaign.findUnique({ where: { id } });
    if (!row) throw new ApiError(404, 'NOT_FOUND', `no campaign ${id}`);
    return row;
  }

  r.get('/:id', READ, async (req, res) => {
    res.json(campaignView(await load(req)));
  });

  r.get('/:id/deliveries', READ, async (req, res) => {
    const c = await load(req);
    const q = parse(DeliveriesQuery, req.query, 'query');
    const rows = await deps.db.delivery.findMany({
      where: { campaignId: c.id, ...(q.status ? { status: q.status.toUpperCase() as 'PENDING' } : {}), ...(q.after !== undefined ? { seq: { gt: q.after } } : {}) },
      orderBy: { seq: 'asc' },
      take: q.limit,
    });
    res.json({
      deliveries: rows.map((d) => ({
        userId: d.userId, seq: d.seq, status: d.status, promoCode: d.promoCode, attempts: d.attempts, lastError: d.lastError,
        notBefore: d.notBefore?.toISOString() ?? null, providerMessageId: d.providerMessageId, sentAt: d.sentAt?.toISOString() ?? null,
      })),
      next: rows.length === q.limit ? `?${new URLSearchParams({ ...(q.status ? { status: q.status } : {}), limit: String(q.limit), after: String(rows.at(-1)!.seq) })}` : null,
    });
  });

  const handle = (c: CampaignRow) => deps.client.workflow.getHandle(c.workflowId);
  const finished = (c: CampaignRow) => async () => `the campaign is ${(await deps.db.campaign.findUnique({ where: { id: c.id } }))?.status ?? c.status}`;

  for (const [verb, def] of [['pause', wf.pauseUpdate], ['resume', wf.resumeUpdate], ['cancel', wf.cancelCampaignUpdate]] as const) {
    r.post(`/:id/${verb}`, WRITE, async (req, res) => {
      parse(Empty, req.body);
      const c = await load(req);
      await sendUpdate(() => handle(c).executeUpdate(def), finished(c));
      res.json(campaignView(await deps.db.campaign.findUniqueOrThrow({ where: { id: c.id } })));
    });
  }

  r.patch('/:id', WRITE, async (req, res) => {
    const body = parse(RateBody, req.body);
    const c = await load(req);
    await sendUpdate(() => handle(c).executeUpdate(wf.setRateUpdate, { args: [{ ratePerSecond: body.ratePerSecond }] }), finished(c));
    const row = await deps.db.campaign.update({ where: { id: c.id }, data: { ratePerSecond: body.ratePerSecond, updatedAt: new Date() } });
    res.json(campaignView(row));
  });

  r.post('/:id/retry-failed', WRITE, async (req, res) => {
    parse(Empty, req.body);
    const c = await load(req);
    // Claim the campaign first (COMPLETED with failures -> RUNNING), so concurrent calls get one winner
    // and a quick retry cannot finish before the claim is written.
    const claimed = await deps.db.campaign.updateMany({
      where: { id: c.id, status: 'COMPLETED', failed: { gt: 0 } },
      data: { status: 'RUNNING', finishedAt: null, updatedAt: new Date() },
    });
    if (!claimed.count) {
      const now = await load(req);
      throw new ApiError(409, 'INVALID_TRANSITION', now.status !== 'COMPLETED'
        ? `retry-failed needs a COMPLETED campaign (it is ${now.status})`
        : 'the campaign has no failed deliveries');
    }
    const reset = await resetFailed(deps.db, c.id);
    const last = await maxSeq(c.id);
    try {
      // A new run of the same workflow id sends only what is PENDING again: the failed ones.
      await deps.client.withDeadline(Date.now() + 5000, () =>
        deps.client.workflow.start<typeof wf.campaignWorkflow>('campaignWorkflow', {
          workflowId: c.workflowId,
          taskQueue: taskQueue('notifications', deps.taskQueuePrefix),
          args: [{
            campaignId: c.id, channel: c.channel as Channel, template: c.template as never, audience: c.audience as never,
            promoPoolId: c.promoPoolId ?? undefined, ratePerSecond: c.ratePerSecond ?? undefined, marketing: c.marketing, settings: deps.settings,
            cursor: { maxSeq: last, nextSeq: 1, redo: [], ratePerSecond: c.ratePerSecond ?? undefined, paused: false, pass: 1 },
          }],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          staticSummary: `Campaign ${c.name}: retry ${reset} failed`,
        }),
      );
      countWorkflowStart('campaignWorkflow');
    } catch (err) {
      // Put things back as they were: the deliveries failed again, the campaign COMPLETED.
      await failPending(deps.db, c.id, 1, last, 'retry could not be started; try retry-failed again').catch(() => undefined);
      await deps.db.campaign.update({ where: { id: c.id }, data: { status: 'COMPLETED', finishedAt: new Date() } }).catch(() => undefined);
      throw err;
    }
    res.json({ ...campaignView(await deps.db.campaign.findUniqueOrThrow({ where: { id: c.id } })), retried: reset });
  });

  async function maxSeq(campaignId: string): Promise<number> {
    const agg = await deps.db.delivery.aggregate({ where: { campaignId }, _max: { seq: true } });
    return agg._max.seq ?? 0;
  }

  return r;
}
