// What a command answers when it refuses: a stable code, a message for humans and optional details.
// The HTTP status belongs to the code (one table), so every caller - routes, CLI tools, the watchdog -
// sees the same refusal the same way.
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  DUPLICATE_CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  BOOKING_OVERLAP: 409,
  INVALID_TRANSITION: 409,
  ALREADY_LINKED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** A playbook query tried to write (refused by its read-only transaction). */
  READ_ONLY_VIOLATION: 422,
  /** A playbook query ran past its statement timeout. */
  QUERY_TIMEOUT: 422,
  INTERNAL: 500,
  DATABASE_UNAVAILABLE: 503,
  TEMPORAL_UNAVAILABLE: 503,
  /** Temporal took the request but no worker accepted it within KEEL_UPDATE_TIMEOUT. */
  WORKER_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    /** For 503s: when to try again (seconds), sent as Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'CommandError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: string) => new CommandError('NOT_FOUND', `no ${what}`);
export const invalid = (message: string, fields?: Array<{ field: string; message: string }>, extra?: object) =>
  new CommandError('VALIDATION_FAILED', message, fields || extra ? { ...(fields ? { fields } : {}), ...extra } : undefined);
