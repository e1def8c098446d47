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
  /**
   * History length (events) at which a run continues as new with its state (default
   * DEFAULT_CONTINUE_AS_NEW_EVENTS). Absent in runs started before continue-as-new existed.
   */
  continueAsNewAtEvents?: number;
}

/** A run's history stays near this many events: beyond it the run continues as new at its next quiet point. */
export const DEFAULT_CONTINUE_AS_NEW_EVENTS = 2000;

/**
 * What a run hands to the next one when it continues as new. Bounded whatever happened before: the
 * history holds one entry per change, and changes are bounded (the transition graph has no cycle,
 * connect is recorded once, extensions are capped at MAX_EXTENSIONS); reminders sent are bounded by
 * the configured offsets times the end times an extension can set.
 */
export interface BookingResume {
  status: BookingStatus;
  endsAt: string;
  endsAtSetAt: number;
  connectedAt?: number;
  returnedAt?: number;
  extensions: number;
  /** The row's version as this chain last wrote it: the next write's compare-and-set expects it. */
  version: number;
  seq: number;
  createdAt: number;
  history: BookingHistoryEntry[];
  remindersSent: string[];
}

/** A booking's facts travel as ISO strings (workflow input is JSON). */
export interface BookingInput extends BookingFacts<string> {
  requestId?: string;
  settings: BookingSettings;
  /** Set only by continue-as-new: the state the previous run of this booking ended with. */
  resume?: BookingResume;
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
