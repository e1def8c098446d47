// /v1/campaigns: submit (idempotent by the Idempotency-Key header), watch, and steer campaigns.
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { CHANNELS } from '../../domain/campaign';
import { MAX_BODY_CHARS, MAX_SUBJECT_CHARS } from '../../domain/template';
import { CAMPAIGN_BODY_LIMIT, MAX_AUDIENCE_IDS } from '../../domain/campaign-audience';
import * as campaigns from '../../services/campaigns';
import type { Services } from '../../services/context';
import { allow, callerOf } from '../auth';
import { deliveryForRole } from '../personal-data';
import { commandContext, IDEMPOTENCY_KEY } from '../context';
import { businessId, isoTime, parse } from '../validation';

/** Liquid text (domain/template.ts); the sizes bound what the engine parses. */
const Template = z.strictObject({ subject: z.string().max(MAX_SUBJECT_CHARS).optional(), body: z.string().min(1).max(MAX_BODY_CHARS) });

/** A union's own message says nothing ("Invalid input"): an audience naming userIds gets that branch's first issue. */
function audienceError(issue: { input?: unknown; errors?: Array<Array<{ message: string; path?: PropertyKey[] }>> }): string {
  const listed = typeof issue.input === 'object' && issue.input !== null && 'userIds' in issue.input;
  const first = listed ? issue.errors?.[1]?.[0] : undefined;
  if (!first) return 'must be {"all": true} or {"userIds": [...]}';
  return first.path?.length ? `${first.path.map(String).join('.')}: ${first.message}` : first.message;
}

export const CreateCampaignBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  channel: z.enum(CHANNELS),
  template: Template,
  audience: z.union([
    z.strictObject({ all: z.literal(true) }),
    // Repeated ids are sent once; up to MAX_AUDIENCE_IDS ids (repeats included) are stored, not carried by the workflow.
    z.strictObject({ userIds: z.array(businessId).min(1).max(MAX_AUDIENCE_IDS, `must name at most ${MAX_AUDIENCE_IDS.toLocaleString('en-US')} user ids; use {"all": true} for everyone`) }),
  ], { error: audienceError }),
  promoPoolId: businessId.optional(),
  sendAt: isoTime.optional(),
  ratePerSecond: z.number().int().min(1).max(100_000).optional(),
  /** Marketing messages are deferred out of the recipient's local quiet hours. */
  marketing: z.boolean().optional(),
}) satisfies z.ZodType<campaigns.CampaignRequest>;
export const PreviewBody = z.strictObject({ template: Template, userId: businessId.optional() }) satisfies z.ZodType<campaigns.PreviewRequest>;
export const RateBody = z.strictObject({ ratePerSecond: z.number().int().min(1).max(100_000).nullable() });
const DeliveriesQuery = z.strictObject({
  status: z.enum(['pending', 'sent', 'failed', 'skipped']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  // seq is a PostgreSQL integer: a larger value is refused here, not by the database (500).
  after: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
}) satisfies z.ZodType<campaigns.DeliveriesQuery>;
const Empty = z.strictObject({});
/** A campaign's id is its submit's Idempotency-Key. */
const IdParam = z.strictObject({ id: IDEMPOTENCY_KEY });
const idOf = (req: Request) => parse(IdParam, req.params, 'path').id;

/**
 * The submit's body parser, with room for MAX_AUDIENCE_IDS ids (CAMPAIGN_BODY_LIMIT), after the role
 * check so no unauthenticated caller makes the API read tens of MB. Mount it behind authenticate and
 * BEFORE the app's global express.json (body-parser skips a body already read), like /v1/users.
 */
export function campaignSubmitBody(): Router {
  const r = Router();
  r.post('/', allow('service', 'operator'), express.json({ limit: CAMPAIGN_BODY_LIMIT, strict: true }));
  return r;
}

export function campaignsRouter(services: Services): Router {
  const r = Router();
  const WRITE = allow('service', 'operator');
  const READ = allow('service', 'operator', 'viewer');

  r.post('/', WRITE, async (req, res) => {
    const ctx = commandContext(services, req);
    const { created, ...campaign } = await campaigns.createCampaign(ctx, parse(CreateCampaignBody, req.body));
    res.status(created ? 202 : 200).json(campaign);
  });

  // Same roles as a submit: with a userId it reads that user's first name.
  r.post('/preview', WRITE, async (req, res) => {
    res.json(await campaigns.previewTemplate(services, parse(PreviewBody, req.body)));
  });

  r.get('/:id', READ, async (req, res) => {
    res.json(await campaigns.getCampaign(services, idOf(req)));
  });

  r.get('/:id/deliveries', READ, async (req, res) => {
    const id = idOf(req);
    const page = await campaigns.listDeliveries(services, id, parse(DeliveriesQuery, req.query, 'query'));
    const { role } = callerOf(req);
    res.json({ ...page, deliveries: page.deliveries.map((d) => deliveryForRole(d, role)) });
  });

  for (const [path, verb] of [['pause', campaigns.pauseCampaign], ['resume', campaigns.resumeCampaign], ['cancel', campaigns.cancelCampaign], ['retry-failed', campaigns.retryFailed]] as const) {
    r.post(`/:id/${path}`, WRITE, async (req, res) => {
      parse(Empty, req.body);
      res.json(await verb(commandContext(services, req), idOf(req)));
    });
  }

  r.patch('/:id', WRITE, async (req, res) => {
    const { ratePerSecond } = parse(RateBody, req.body);
    res.json(await campaigns.setCampaignRate(commandContext(services, req), idOf(req), ratePerSecond));
  });

  return r;
}
