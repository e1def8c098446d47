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
  return (err, req, res, _next) => {
    let apiErr: CommandError;
    if (err instanceof CommandError) apiErr = err;
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
    if (apiErr.status === 503) res.setHeader('Retry-After', String(apiErr.retryAfterSeconds ?? 5));
    res.status(apiErr.status).json({
      error: { code: apiErr.code, message: apiErr.message, ...(apiErr.details !== undefined ? { details: apiErr.details } : {}) },
    });
  };
}
