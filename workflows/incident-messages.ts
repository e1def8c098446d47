// The incident workflow's contract: its input, who acts, and the updates and query it answers.
// Imported by the command layer without loading the workflow itself (defineUpdate/defineQuery only name things).
import type { RequestMeta } from '../domain/request-meta';
import * as wf from '@temporalio/workflow';
import type { ComponentState, DeclareIncident, IncidentRole, IncidentState, Retrospective, Severity } from '../domain/incident';

export interface IncidentInput {
  declare: DeclareIncident;
  notificationsTaskQueue: string;
  /**
   * Set when the workflow continued as new: the state so far, as the workflow keeps it (the growing
   * lists cut to their last few entries; the database has them all), so this input stays bounded.
   */
  carried?: IncidentState;
  /** Action items created so far (the carried list holds only the last few): the next id's number. */
  actionItemCount?: number;
  /** Continue as new past this many history events (default HISTORY_EVENTS_LIMIT; tests lower it). */
  historyEventsLimit?: number;
}

/** Who asks (the one declaration is domain/request-meta.ts). */
export type Actor = RequestMeta;

/**
 * What every update answers: the version its change reached, once that version is in the database.
 * Small on purpose (each answer is in the history); the command layer answers callers from the
 * database, which holds the whole record.
 */
export interface IncidentAck {
  incidentId: string;
  version: number;
}

/** The workflow's own view: its state with the last few entries of each growing list. */
export const incidentStateQuery = wf.defineQuery<IncidentState>('state');
export const assignRoleUpdate = wf.defineUpdate<IncidentAck, [Actor & { role: IncidentRole; holder: string }]>('assignRole');
export const runChecksUpdate = wf.defineUpdate<IncidentAck, [Actor]>('runChecks');
export const completeStepUpdate = wf.defineUpdate<IncidentAck, [Actor & { stepId: string; note?: string }]>('completeStep');
export const skipStepUpdate = wf.defineUpdate<IncidentAck, [Actor & { stepId: string; reason: string }]>('skipStep');
export const addNoteUpdate = wf.defineUpdate<IncidentAck, [Actor & { text: string }]>('addNote');
export const postStatusUpdate = wf.defineUpdate<IncidentAck,
  [Actor & { message: string; componentStates: Record<string, ComponentState> }]
>('postStatusUpdate');
export const changeSeverityUpdate = wf.defineUpdate<IncidentAck, [Actor & { severity: Severity; reason?: string }]>('changeSeverity');
export const mitigateUpdate = wf.defineUpdate<IncidentAck, [Actor & { note?: string }]>('mitigate');
export const resolveUpdate = wf.defineUpdate<IncidentAck, [Actor & { summary: string }]>('resolve');
export const addActionItemUpdate = wf.defineUpdate<IncidentAck, [Actor & { title: string; owner: string; dueDate: string }]>(
  'addActionItem',
);
export const closeUpdate = wf.defineUpdate<IncidentAck, [Actor & { retrospective?: Retrospective }]>('close');
