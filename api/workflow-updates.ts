// Sending an update to a workflow and turning its refusals into API errors, for every resource.
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ApiError } from './errors';

/**
 * Run `send`; a validator's or handler's ApplicationFailure becomes a 4xx by its type (NotFound 404,
 * ValidationFailed 400, BookingOverlap 409 BOOKING_OVERLAP, anything else 409 INVALID_TRANSITION).
 * A workflow that has already finished answers 409 with `finished()`'s explanation.
 */
export async function sendUpdate<R>(send: () => Promise<R>, finished: () => Promise<string>): Promise<R> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      const message = cause?.message ?? err.message;
      const type = cause instanceof ApplicationFailure ? cause.type : undefined;
      if (type === 'NotFound') throw new ApiError(404, 'NOT_FOUND', message);
      if (type === 'ValidationFailed') throw new ApiError(400, 'VALIDATION_FAILED', message);
      if (type === 'BookingOverlap') throw new ApiError(409, 'BOOKING_OVERLAP', message);
      throw new ApiError(409, 'INVALID_TRANSITION', message);
    }
    if (err instanceof WorkflowNotFoundError || /workflow execution already completed/i.test((err as Error)?.message ?? '')) {
      throw new ApiError(409, 'INVALID_TRANSITION', await finished());
    }
    throw err;
  }
}
