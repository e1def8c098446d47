// Request validation with zod: one 400 that names every bad field.
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { ApiError } from './errors';

export function parse<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => ({
    field: i.path.length ? i.path.join('.') : ((i as { keys?: string[] }).keys?.join(', ') ?? where),
    message: i.message,
  }));
  const names = [...new Set(fields.map((f) => f.field))];
  throw new ApiError(400, 'VALIDATION_FAILED', `invalid ${where}: ${names.join(', ')}`, { fields });
}

export const businessId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');
export const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time with a zone, e.g. 2026-12-01T10:00:00Z' });

/** The first path in `value` whose string value holds a NUL character, if any (keys are names: routes check them). */
function nulAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path || 'body' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulAt(value[i], `${path}${path ? '.' : ''}${i}`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = nulAt(v, `${path}${path ? '.' : ''}${k}`);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * PostgreSQL text cannot hold U+0000, so a JSON string with one would fail at the database (a 500) after
 * validation passed. Refused for every JSON body here, once, before any route reads it.
 */
export const refuseNulCharacters: RequestHandler = (req, _res, next) => {
  const field = nulAt(req.body, '');
  if (!field) return next();
  next(new ApiError(400, 'VALIDATION_FAILED', `invalid body: ${field}`, { fields: [{ field, message: 'must not contain the NUL character (U+0000)' }] }));
};
