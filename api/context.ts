// One command context per request: the process's services plus who is asking (the authenticated
// caller), the request id and the caller's Idempotency-Key.
import type { Request } from 'express';
import { z } from 'zod';
import type { CommandContext, Services } from '../services/context';
import { callerOf } from './auth';
import { ApiError } from './errors';

export const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;
export const IDEMPOTENCY_KEY = z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -');

/** The Idempotency-Key header, validated; undefined when absent. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  const check = IDEMPOTENCY_KEY.safeParse(key);
  if (!check.success) {
    const message = check.error.issues[0].message;
    throw new ApiError(400, 'VALIDATION_FAILED', `Idempotency-Key ${message}`, { fields: [{ field: 'Idempotency-Key', message }] });
  }
  return key;
}

export function commandContext(services: Services, req: Request): CommandContext {
  return {
    ...services,
    actor: callerOf(req).actor,
    // pino-http's genReqId (api/app.ts) always makes a string.
    requestId: typeof req.id === 'string' && req.id ? req.id : undefined,
    idempotencyKey: idempotencyKeyOf(req),
  };
}
