// The types of the ApplicationFailures that workflows raise to refuse a request. Workflows throw them
// (validators and update handlers) and services/temporal.ts maps them to API errors, so both sides
// name the same constants instead of matching string literals.
export const FailureType = {
  /** The request names something the workflow does not have (an incident's step, ...). */
  NotFound: 'NotFound',
  /** The request is malformed in a way only the workflow can see. */
  ValidationFailed: 'ValidationFailed',
  /** The state does not allow this action now (cancel an ongoing booking, pause a finished campaign). */
  InvalidTransition: 'InvalidTransition',
  /** An extension would overlap the car's next booking. */
  BookingOverlap: 'BookingOverlap',
  /** The booking's database row is gone (deleted by hand): the write cannot be applied. */
  BookingRowMissing: 'BookingRowMissing',
  /**
   * The workflow is about to continue as new and takes no update until it has: not a refusal, the
   * gateway (services/temporal.ts) sends the same update again, which the new run takes.
   */
  ContinuingAsNew: 'ContinuingAsNew',
  /**
   * A booking write found the row at another status or version than its workflow believed: the
   * activity refuses it for good and the booking's workflow fails (visible as Failed in the Web UI).
   */
  BookingWriteConflict: 'BookingWriteConflict',
} as const;

export type FailureType = (typeof FailureType)[keyof typeof FailureType];
