// Every failure leaves the API as {error: {code, message, details?}} with a 4xx, or a 5xx that names
// the unavailable dependency. Never a stack trace. Commands refuse with CommandError (services/errors.ts);
// ApiError is the same thing raised by the HTTP layer itself (authentication, parsing).
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { isConnectivityError } from '../db/errors';
import { CommandError, type ErrorCode } from '../services/errors';
import { isTemporalUnavailable } from '../services/temporal';

export type { ErrorCode } from '../services/errors';

export class ApiError extends CommandError {
  constructor(
    private readonly httpStatus: number,
    code: ErrorCode,
    message: string,
    details?: unknown,
  ) {
    super(code, message, details);
  }

  override get status(): number {
    return this.httpStatus;
  }
}

export const notFoundRoute: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`));
};

export function errorHandler(log: (err: unknown, req: unknown) => void): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    // What body-parser and express attach to the errors they raise.
    const e = err as { type?: string; limit?: number; status?: number } | undefined;
    let apiErr: CommandError;
    if (err instanceof CommandError) apiErr = err;
    else if (e?.type === 'entity.parse.failed') apiErr = new ApiError(400, 'MALFORMED_JSON', 'request body is not valid JSON');
    else if (e?.type === 'entity.too.large') apiErr = new ApiError(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${e.limit} bytes`);
    else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
      apiErr = new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding');
    else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
      apiErr = new ApiError(e.status, 'VALIDATION_FAILED', 'bad request');
    else if (isConnectivityError(err)) apiErr = new ApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unreachable; retry shortly');
    else if (isTemporalUnavailable(err)) apiErr = new ApiError(503, 'TEMPORAL_UNAVAILABLE', 'Temporal is unreachable; retry shortly');
    else {
      log(err, req);
      apiErr = new ApiError(500, 'INTERNAL', 'internal error; the request id in X-Request-Id finds it in the logs');
    }
    if (apiErr.status === 503) res.setHeader('Retry-After', String(apiErr.retryAfterSeconds ?? 5));
    // Errors are JSON even when the route had already chosen another type (res.json keeps a set one).
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.status(apiErr.status).json({
      error: { code: apiErr.code, message: apiErr.message, ...(apiErr.details !== undefined ? { details: apiErr.details } : {}) },
    });
  };
}
