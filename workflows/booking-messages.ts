// The booking workflow's contract: its input, its view, and the updates and query it answers. Imported
// by the command layer without loading the workflow itself (defineUpdate/defineQuery only name things).
import * as wf from '@temporalio/workflow';
import type { BookingAction, BookingFacts, BookingStatus } from '../domain/booking';
import type { RequestMeta } from '../domain/request-meta';

export interface BookingSettings {
  noShowGraceMs: number;
  remindersBeforeStartMs: number[];
  remindersBeforeEndMs: number[];
  notificationsTaskQueue: string;
  /**
   * How long before a due time the clock wakes to arm a short final timer (KEEL_TIMER_EARLY_WAKE; 0 = never).
   * Absent only in runs started by the build that introduced the early wake: those keep its 1.5 s.
   */
  earlyWakeMs?: number;
}

/** A booking's facts travel as ISO strings (workflow input is JSON). */
export interface BookingInput extends BookingFacts<string> {
  requestId?: string;
  settings: BookingSettings;
}

export type { RequestMeta } from '../domain/request-meta';

export interface BookingHistoryEntry {
  seq: number;
  action: BookingAction;
  from: BookingStatus;
  to: BookingStatus;
  /** Workflow time at which the change took effect. */
  at: string;
  actor: string;
  reason?: string;
  /** When the database recorded it; absent while the write is still pending (database down). */
  recordedAt?: string;
}

export interface BookingView extends BookingFacts<string> {
  workflowId: string;
  status: BookingStatus;
  connectAllowed: boolean;
  connectedAt?: string;
  returnedAt?: string;
  nextTransition?: { to: BookingStatus; action: BookingAction; at: string };
  pendingWrites: number;
  history: BookingHistoryEntry[];
}

export const extendUpdate = wf.defineUpdate<BookingView, [RequestMeta & { endsAt: string; reason?: string }]>('extend');
export const connectUpdate = wf.defineUpdate<BookingView, [RequestMeta]>('connect');
export const returnUpdate = wf.defineUpdate<BookingView, [RequestMeta]>('return');
export const cancelUpdate = wf.defineUpdate<BookingView, [RequestMeta & { reason?: string }]>('cancel');
/** Operator override for a stuck or wrong state: any edge of the transition graph, reason required. */
export const forceTransitionUpdate = wf.defineUpdate<BookingView, [RequestMeta & { to: BookingStatus; reason: string }]>(
  'forceTransition',
);
export const stateQuery = wf.defineQuery<BookingView>('state');

/** Keeps history bounded: a booking cannot be extended without limit. */
export const MAX_EXTENSIONS = 20;
