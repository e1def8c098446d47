// The optional Idempotency-Key header of action routes (POST /v1/bookings/:id/cancel, campaign and
// incident actions): its format is checked here, for every operation whose document entry lists
// ACTION_IDEMPOTENCY_KEY, so a malformed key is a 400 as the document says (before the route runs).
// What a key means (replaying the first answer, 409 IDEMPOTENCY_CONFLICT) belongs to the routes.
import type { RequestHandler } from 'express';
import { ApiError } from './errors';
import { compilePaths, operationsFor } from './method-not-allowed';
import { ACTION_IDEMPOTENCY_KEY } from './openapi';

const KEY = new RegExp(ACTION_IDEMPOTENCY_KEY.schema.pattern);

export function actionIdempotencyKey(doc: { paths: Record<string, object> }): RequestHandler {
  const entries = compilePaths(doc.paths);
  const declares = (operation: unknown) => ((operation as { parameters?: unknown[] }).parameters ?? []).includes(ACTION_IDEMPOTENCY_KEY);
  return (req, _res, next) => {
    const key = req.get('idempotency-key');
    if (key === undefined || !operationsFor(entries, req.method, req.path).some(declares)) return next();
    if (KEY.test(key)) return next();
    next(new ApiError(400, 'VALIDATION_FAILED', 'invalid header: Idempotency-Key', {
      fields: [{ field: 'Idempotency-Key', message: 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -' }],
    }));
  };
}
