// How the API talks to booking workflows: starting one (idempotently) and sending it requests.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { workflowIdForBooking } from '../domain/booking';
import { BookingStatusKey, CarIdKey, CustomerIdKey, NextTransitionAtKey } from '../domain/search-attributes';
import { taskQueue } from '../domain/task-queues';
import type { BookingInput, bookingWorkflow } from '../workflows/booking';
import { ApiError } from './errors';

const START_TIMEOUT_MS = 5000;

export interface BookingWorkflowConfig {
  taskQueuePrefix: string;
  settings: Omit<BookingInput['settings'], 'notificationsTaskQueue'>;
}

export function bookingInput(
  b: Omit<BookingInput, 'settings' | 'requestId'>,
  cfg: BookingWorkflowConfig,
  requestId?: string,
): BookingInput {
  return {
    ...b,
    requestId,
    settings: { ...cfg.settings, notificationsTaskQueue: taskQueue('notifications', cfg.taskQueuePrefix) },
  };
}

/**
 * Start `booking-<id>`, or find it already there. USE_EXISTING makes concurrent identical requests
 * converge on one run; REJECT_DUPLICATE stops a finished booking from being started again (the
 * database row, checked first, is what remembers it beyond Temporal's retention).
 */
export async function startBookingWorkflow(
  client: Client,
  input: BookingInput,
  cfg: BookingWorkflowConfig,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  try {
    // Bounded: with Temporal unreachable the caller gets a 503 in seconds, not after the client's
    // full retry schedule.
    await client.withDeadline(Date.now() + timeoutMs, () => client.workflow.start<typeof bookingWorkflow>('bookingWorkflow', {
      workflowId: workflowIdForBooking(input.bookingId),
      taskQueue: taskQueue('bookings', cfg.taskQueuePrefix),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      memo: { requestId: input.requestId ?? null },
      staticSummary: `Booking ${input.bookingId}: car ${input.carId}, ${input.startsAt} to ${input.endsAt}`,
      typedSearchAttributes: [
        { key: BookingStatusKey, value: 'CONFIRMED' },
        { key: CarIdKey, value: input.carId },
        { key: CustomerIdKey, value: input.customerId },
        { key: NextTransitionAtKey, value: new Date(input.startsAt) },
      ],
    }));
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return; // closed run with this id: already done
    throw err;
  }
}

/** Send an update and turn the workflow's refusals into API errors. */
export async function sendBookingUpdate<R>(run: () => Promise<R>, bookingStatus: () => Promise<string | undefined>): Promise<R> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      if (cause instanceof ApplicationFailure) {
        if (cause.type === 'ValidationFailed') throw new ApiError(400, 'VALIDATION_FAILED', cause.message);
        if (cause.type === 'BookingOverlap') throw new ApiError(409, 'BOOKING_OVERLAP', cause.message);
        throw new ApiError(409, 'INVALID_TRANSITION', cause.message);
      }
      throw new ApiError(409, 'INVALID_TRANSITION', cause?.message ?? err.message);
    }
    if (err instanceof WorkflowNotFoundError || /workflow execution already completed/i.test((err as Error)?.message ?? '')) {
      const status = await bookingStatus();
      throw new ApiError(409, 'INVALID_TRANSITION', `the booking is ${status ?? 'finished'}: its lifecycle has ended`);
    }
    throw err;
  }
}
