// How the API talks to booking workflows: starting one (idempotently) and sending it requests.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { workflowIdForBooking } from '../domain/booking';
import { BookingStatusKey, CarIdKey, CustomerIdKey, NextTransitionAtKey } from '../domain/search-attributes';
import { taskQueue } from '../domain/task-queues';
import { countWorkflowStart } from './metrics';
import type { BookingInput, bookingWorkflow } from '../workflows/booking';

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
    countWorkflowStart('bookingWorkflow');
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return; // closed run with this id: already done
    throw err;
  }
}
