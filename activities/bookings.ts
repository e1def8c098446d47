// Booking activities: the workflow's only way to touch the database. Built by a factory so tests and
// workers pass real dependencies. Each activity is idempotent (transition keys), so a retry, a timed
// out attempt that still finishes, or a replay never writes twice.
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { applyBookingChange, type BookingChange, type ChangeResult } from '../db/booking-store';
import { FailureType } from '../domain/failures';
import { recordTransition } from './metrics';

/** What the workflow gets back: a refused compare-and-set never returns, it fails the activity. */
export type RecordedChange = Exclude<ChangeResult, { outcome: 'conflict' }>;

export function createBookingActivities(deps: { db: Db }) {
  return {
    async recordBookingChange(change: BookingChange): Promise<RecordedChange> {
      const run = Context.current().info.workflowExecution;
      const result = await applyBookingChange(deps.db, change, { workflowId: run?.workflowId, runId: run?.runId });
      if (result.outcome === 'missing') {
        // Retrying cannot create the row: fail the activity for good so the workflow sees it.
        throw ApplicationFailure.nonRetryable(`booking ${change.bookingId} has no database row`, 'BookingRowMissing');
      }
      if (result.outcome === 'conflict') {
        // The row is not where this run believes it is (a stray or revived run, or a second writer):
        // retrying cannot make it so, and writing anyway could move a finished booking.
        const { expected, actual } = result;
        log.warn('booking write refused', { bookingId: change.bookingId, action: change.action, expected, actual });
        throw ApplicationFailure.create({
          type: FailureType.BookingWriteConflict,
          nonRetryable: true,
          message:
            `booking ${change.bookingId}: ${change.action} expected ${expected.status} at version ${expected.version ?? '(any)'} ` +
            `but the row is ${actual.status} at version ${actual.version}; nothing was written`,
          details: [{ bookingId: change.bookingId, transitionKey: change.transitionKey, expected, actual }],
        });
      }
      if (result.outcome === 'applied') recordTransition(change, result.occurredAt);
      log.info('booking change recorded', { bookingId: change.bookingId, action: change.action, to: change.to, outcome: result.outcome });
      return result;
    },
  };
}

export type BookingActivities = ReturnType<typeof createBookingActivities>;
