// Booking activities: the workflow's only way to touch the database. Built by a factory so tests and
// workers pass real dependencies. Each activity is idempotent (transition keys), so a retry, a timed
// out attempt that still finishes, or a replay never writes twice.
import { ApplicationFailure, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { applyBookingChange, type BookingChange, type ChangeResult } from '../db/booking-store';
import { recordTransition } from './metrics';

export function createBookingActivities(deps: { db: Db }) {
  return {
    async recordBookingChange(change: BookingChange): Promise<ChangeResult> {
      const result = await applyBookingChange(deps.db, change);
      if (result.outcome === 'missing') {
        // Retrying cannot create the row: fail the activity for good so the workflow sees it.
        throw ApplicationFailure.nonRetryable(`booking ${change.bookingId} has no database row`, 'BookingRowMissing');
      }
      if (result.outcome === 'applied') recordTransition(change, result.occurredAt);
      log.info('booking change recorded', { bookingId: change.bookingId, action: change.action, to: change.to, outcome: result.outcome });
      return result;
    },
  };
}

export type BookingActivities = ReturnType<typeof createBookingActivities>;
