// /v1/promo-pools: upload a pool of promo codes (idempotent by the Idempotency-Key header) and read
// its counts.
//
// POST / takes either
//   Content-Type: application/json   {"name": "Winter 2026", "codes": ["AB12", "CD34", ...]}
//   Content-Type: text/csv           one code per line, an optional first line "code", blank lines
//                                    ignored, a value may be wrapped in double quotes; the pool's name
//                                    comes from the query: POST /v1/promo-pools?name=Winter%202026
// Codes are 1-100 characters of A-Z, a-z, 0-9, _ and -, case-sensitive, at most 200,000 per pool and
// each once per upload. "The same upload" means the same name and the same set of codes (order and
// format aside): sent again under the same key it answers 200 with the same pool; a different upload
// under a used key is 409.
//
// Uploads are larger than the app-wide JSON limit, so this router parses its own body after the role
// check and the Idempotency-Key check. Mount it (behind authenticate) BEFORE the app's global
// express.json so its limit applies:
//   app.use('/v1', authenticate(keys)); app.use('/v1/promo-pools', promoPoolsRouter(services));
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { MAX_CODES_PER_POOL } from '../../domain/campaign';
import type { Services } from '../../services/context';
import * as pools from '../../services/promo-pools';
import { allow } from '../auth';
import { commandContext, IDEMPOTENCY_KEY } from '../context';
import { ApiError } from '../errors';
import { checkCodes, CODE, CODE_MESSAGE, jsonCodes, parseCsvCodes, type Upload } from '../promo-upload';
import { parse } from '../validation';

/** Room for 200,000 codes of the maximum length (100 characters) as JSON. */
export const DEFAULT_PROMO_BODY_LIMIT = '24mb';

const poolName = z
  .string({ message: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
  // Control characters are exactly what this refuses.
  // eslint-disable-next-line no-control-regex
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

/** The JSON body as documented (for OpenAPI). Codes are checked one by one (see checkCodes). */
export const PromoPoolJsonBody = z.strictObject({
  name: poolName,
  codes: z.array(z.string().regex(CODE, CODE_MESSAGE)).min(1).max(MAX_CODES_PER_POOL),
});

const JsonShape = z.strictObject({
  name: poolName,
  codes: z
    .array(z.unknown(), { message: 'must be an array of codes' })
    .min(1, 'must contain at least one code')
    .max(MAX_CODES_PER_POOL, `must contain at most ${MAX_CODES_PER_POOL.toLocaleString('en-US')} codes`),
});
const JsonQuery = z.strictObject({});
const CsvQuery = z.strictObject({ name: poolName });
const IdParam = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'not a pool id') });

/** Checked before the body is read: a missing or bad key is refused without reading megabytes. */
function checkIdempotencyKey(req: Request): void {
  const key = req.get('idempotency-key');
  if (key === undefined || key === '') {
    throw new ApiError(400, 'VALIDATION_FAILED', 'the Idempotency-Key header is required: generate one per upload (e.g. a UUID) and repeat it on retries', {
      fields: [{ field: 'Idempotency-Key', message: 'required header' }],
    });
  }
  if (!IDEMPOTENCY_KEY.safeParse(key).success) {
    throw new ApiError(400, 'VALIDATION_FAILED', 'invalid header: Idempotency-Key', {
      fields: [{ field: 'Idempotency-Key', message: 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -' }],
    });
  }
}

/** `bodyLimit`: body limit for uploads (express syntax, e.g. '24mb'), JSON and CSV alike. */
export function promoPoolsRouter(services: Services, opts: { bodyLimit?: string } = {}): Router {
  const r = Router();
  const limit = opts.bodyLimit ?? DEFAULT_PROMO_BODY_LIMIT;
  const json = express.json({ limit, strict: true });
  const csv = express.text({ limit, type: 'text/csv' });
  const requireKey: express.RequestHandler = (req, _res, next) => {
    checkIdempotencyKey(req);
    next();
  };

  r.post('/', allow('service', 'operator'), requireKey, json, csv, async (req, res) => {
    let name: string;
    let upload: Upload;
    if (req.is('text/csv')) {
      ({ name } = parse(CsvQuery, req.query, 'query'));
      upload = parseCsvCodes(typeof req.body === 'string' ? req.body : '');
    } else if (req.headers['content-type'] === undefined || req.is('application/json')) {
      parse(JsonQuery, req.query, 'query');
      const body = parse(JsonShape, req.body);
      name = body.name;
      upload = jsonCodes(body.codes);
    } else {
      throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send application/json {"name", "codes": [...]} or text/csv with one code per line and ?name=');
    }
    const { created, ...pool } = await pools.createPromoPool(commandContext(services, req), { name, codes: checkCodes(upload) });
    res.status(created ? 201 : 200).json(pool);
  });

  r.get('/:id', allow('service', 'operator', 'viewer'), async (req, res) => {
    res.json(await pools.getPromoPool(services, parse(IdParam, req.params, 'path').id));
  });

  return r;
}
