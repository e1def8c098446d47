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
//   app.use('/v1/promo-pools', authenticate(keys), promoPoolsRouter({ db: deps.db }));
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { createPromoPool, getPromoPool, MAX_CODES_PER_POOL } from '../../db/promo-store';
import { allow, callerOf } from '../auth';
import { ApiError } from '../errors';
import { parse } from '../validation';

/** Room for 200,000 codes of the maximum length (100 characters) as JSON. */
export const DEFAULT_PROMO_BODY_LIMIT = '24mb';
/** How many problems a 400 lists; the totals are always given. */
export const MAX_LISTED_PROBLEMS = 100;

const CODE = /^[A-Za-z0-9_-]{1,100}$/;
const CODE_MESSAGE = 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -';
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{1,100}$/;

const poolName = z
  .string({ message: 'must be a string' })
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters')
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

/** The codes as read from the upload, and where each came from (for messages). */
export interface Upload {
  values: unknown[];
  /** `codes.3` for JSON, `line 7` for CSV. */
  where(i: number): string;
  csv: boolean;
}

const show = (v: unknown) => (typeof v === 'string' ? (v.length > 120 ? `${v.slice(0, 120)}...` : v) : v);

export function parseCsvCodes(text: string): Upload {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const values: string[] = [];
  const lineNumbers: number[] = [];
  let sawFirst = false;
  lines.forEach((raw, i) => {
    let value = raw.trim();
    if (value === '') return;
    const quoted = /^"(.*)"$/.exec(value);
    if (quoted) value = quoted[1].trim();
    if (!sawFirst) {
      sawFirst = true;
      if (value.toLowerCase() === 'code') return; // header line
    }
    values.push(value);
    lineNumbers.push(i + 1);
  });
  return { values, where: (i) => `line ${lineNumbers[i]}`, csv: true };
}

export function jsonCodes(codes: unknown[]): Upload {
  return { values: codes, where: (i) => `codes.${i}`, csv: false };
}

/** Every malformed code and every repeated one, in one 400; the codes otherwise. */
export function checkCodes(upload: Upload): string[] {
  const { values, where, csv } = upload;
  const invalid: Array<{ field: string; code: unknown; message: string }> = [];
  // First index of each code; repeats (all indexes, first one included) only for codes seen twice.
  const first = new Map<string, number>();
  const repeats = new Map<string, number[]>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'string' || !CODE.test(v)) {
      const several = csv && typeof v === 'string' && /[,;\t]/.test(v);
      invalid.push({
        field: where(i),
        code: show(v),
        message: typeof v !== 'string' ? 'must be a string' : several ? 'one code per line: this line has several columns' : CODE_MESSAGE,
      });
      continue;
    }
    const at = first.get(v);
    if (at === undefined) first.set(v, i);
    else {
      const list = repeats.get(v);
      if (list) list.push(i);
      else repeats.set(v, [at, i]);
    }
  }
  const field = csv ? 'body' : 'codes';
  if (invalid.length === 0 && repeats.size === 0) {
    if (values.length === 0) {
      throw new ApiError(400, 'VALIDATION_FAILED', 'the upload contains no codes', { fields: [{ field, message: 'must contain at least one code' }] });
    }
    if (values.length > MAX_CODES_PER_POOL) {
      throw new ApiError(400, 'VALIDATION_FAILED', `at most ${MAX_CODES_PER_POOL.toLocaleString('en-US')} codes per pool (got ${values.length})`, {
        fields: [{ field, message: `must contain at most ${MAX_CODES_PER_POOL.toLocaleString('en-US')} codes` }],
      });
    }
    return values as string[];
  }
  const duplicates = [...repeats].map(([code, at]) => ({ code, count: at.length, at: at.slice(0, 5).map(where) }));
  const parts = [
    invalid.length ? `${invalid.length} invalid code${invalid.length === 1 ? '' : 's'} (first at ${invalid[0].field})` : '',
    duplicates.length
      ? `${duplicates.length} code${duplicates.length === 1 ? '' : 's'} appearing more than once: ${duplicates.slice(0, 5).map((d) => d.code).join(', ')}${duplicates.length > 5 ? ', ...' : ''}`
      : '',
  ].filter(Boolean);
  throw new ApiError(400, 'VALIDATION_FAILED', `${parts.join('; ')}; nothing was written`, {
    fields: invalid.slice(0, MAX_LISTED_PROBLEMS),
    invalidCount: invalid.length,
    duplicates: duplicates.slice(0, MAX_LISTED_PROBLEMS),
    duplicateCount: duplicates.length,
    truncated: invalid.length > MAX_LISTED_PROBLEMS || duplicates.length > MAX_LISTED_PROBLEMS,
  });
}

function idempotencyKeyOf(req: Request): string {
  const key = req.get('idempotency-key');
  if (key === undefined || key === '') {
    throw new ApiError(400, 'VALIDATION_FAILED', 'the Idempotency-Key header is required: generate one per upload (e.g. a UUID) and repeat it on retries', {
      fields: [{ field: 'Idempotency-Key', message: 'required header' }],
    });
  }
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, 'VALIDATION_FAILED', 'invalid header: Idempotency-Key', {
      fields: [{ field: 'Idempotency-Key', message: 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -' }],
    });
  }
  return key;
}

export interface PromoPoolsRouterDeps {
  db: Db;
  /** Body limit for uploads (express syntax, e.g. '24mb'), JSON and CSV alike. */
  bodyLimit?: string;
}

export function promoPoolsRouter(deps: PromoPoolsRouterDeps): Router {
  const r = Router();
  const limit = deps.bodyLimit ?? DEFAULT_PROMO_BODY_LIMIT;
  const json = express.json({ limit, strict: true });
  const csv = express.text({ limit, type: 'text/csv' });
  const requireKey: express.RequestHandler = (req, _res, next) => {
    idempotencyKeyOf(req);
    next();
  };

  r.post('/', allow('service', 'operator'), requireKey, json, csv, async (req, res) => {
    const idempotencyKey = idempotencyKeyOf(req);
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
    const codes = checkCodes(upload);
    const { actor } = callerOf(req);
    const result = await createPromoPool(deps.db, { idempotencyKey, name, codes }, { actor, requestId: String(req.id ?? '') || undefined });
    if (result.kind === 'different_request') {
      throw new ApiError(409, 'DUPLICATE_CONFLICT', `Idempotency-Key ${idempotencyKey} was already used for a different upload (pool ${result.pool.poolId})`, {
        poolId: result.pool.poolId,
      });
    }
    res.status(result.kind === 'created' ? 201 : 200).json({ poolId: result.pool.poolId, name: result.pool.name, size: result.pool.size });
  });

  r.get('/:id', allow('service', 'operator', 'viewer'), async (req, res) => {
    const { id } = parse(IdParam, req.params, 'path');
    const pool = await getPromoPool(deps.db, id);
    if (!pool) throw new ApiError(404, 'NOT_FOUND', `no promo pool ${id}`);
    res.json({ poolId: pool.poolId, name: pool.name, size: pool.size, assigned: pool.assigned, free: pool.free, createdAt: pool.createdAt.toISOString() });
  });

  return r;
}
