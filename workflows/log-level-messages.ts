// The log-level workflow's contract: its input, its state, and the signal and query it answers.
// Imported by the command layer without loading the workflow itself (defineSignal/defineQuery only name things).
import * as wf from '@temporalio/workflow';
import type { LogComponent, LogLevelRequest } from '../domain/log-level';

export const setLogLevelSignal = wf.defineSignal<[LogLevelRequest]>('setLogLevel');
export const logLevelStateQuery = wf.defineQuery<LogLevelState>('logLevelState');

export interface LogLevelState {
  component: LogComponent;
  /** The window in force (stored), if any. */
  current?: LogLevelRequest;
  /** A request received and not yet stored. */
  pending?: LogLevelRequest;
  changesThisRun: number;
}

export interface LogLevelInput {
  component: LogComponent;
  /** Carried across continue-as-new. */
  carried?: { current?: LogLevelRequest; pending?: LogLevelRequest };
  /** Changes stored per run before continuing as new (bounds the history); default 50. */
  maxChangesPerRun?: number;
}
