// Request validation with zod: one 400 that names every bad field.
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
