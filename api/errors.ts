// Every failure leaves the API as {error: {code, message, details?}} with a 4xx, or a 5xx that names
// the unavailable dependency. Never a stack trace.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isConnectivityError } from '../db/errors';

export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'MALFORMED_JSON'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'DUPLICATE_CONFLICT'
  | 'BOOKING_OVERLAP'
  | 'INVALID_TRANSITION'
  /** A playbook query tried to write (refused by its read-only transaction). */
  | 'READ_ONLY_VIOLATION'
  /** A playbook query ran past its statement timeout. */
  | 'QUERY_TIMEOUT'
  | 'DATABASE_UNAVAILABLE'
  | 'TEMPORAL_UNAVAILABLE'
  | 'ALREADY_LINKED'
  /** A method the path does not have (api/method-not-allowed.ts); the Allow header lists those it has. */
  | 'METHOD_NOT_ALLOWED'
  | 'INTERNAL';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`));
};

/** Temporal's gRPC errors when the server cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED). */
export function isTemporalUnavailable(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number }; name?: string; message?: string };
  const code = e?.code ?? e?.cause?.code;
  return code === 14 || code === 4 || /UNAVAILABLE|DEADLINE_EXCEEDED|Failed to connect/i.test(`${e?.message ?? ''}`);
}

export function errorHandler(log: (err: unknown, req: unknown) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else if (err?.type === 'entity.parse.failed') apiErr = new ApiError(400, 'MALFORMED_JSON', 'request body is not valid JSON');
    else if (err?.type === 'entity.too.large') apiErr = new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${err.limit} bytes`);
    else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported')
      apiErr = new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding');
    else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500)
      apiErr = new ApiError(err.status, 'VALIDATION_FAILED', 'bad request');
    else if (isConnectivityError(err)) apiErr = new ApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unreachable; retry shortly');
    else if (isTemporalUnavailable(err)) apiErr = new ApiError(503, 'TEMPORAL_UNAVAILABLE', 'Temporal is unreachable; retry shortly');
    else {
      log(err, req);
      apiErr = new ApiError(500, 'INTERNAL', 'internal error; the request id in X-Request-Id finds it in the logs');
    }
    if (apiErr.status === 503) res.setHeader('Retry-After', '5');
    // Errors are JSON even when the route had already chosen another type (res.json keeps a set one).
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.status(apiErr.status).json({
      error: { code: apiErr.code, message: apiErr.message, ...(apiErr.details !== undefined ? { details: apiErr.details } : {}) },
    });
  };
}
