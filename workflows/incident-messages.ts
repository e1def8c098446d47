// The incident workflow's contract: its input, who acts, and the updates and query it answers.
// Imported by the command layer without loading the workflow itself (defineUpdate/defineQuery only name things).
import type { RequestMeta } from '../domain/request-meta';
import * as wf from '@temporalio/workflow';
import type { ComponentState, DeclareIncident, IncidentRole, IncidentState, Retrospective, Severity } from '../domain/incident';

export interface IncidentInput {
  declare: DeclareIncident;
  notificationsTaskQueue: string;
  /** Set when the workflow continued as new: the state so far. */
  carried?: IncidentState;
}

/** Who asks (the one declaration is domain/request-meta.ts). */
export type Actor = RequestMeta;

export const incidentStateQuery = wf.defineQuery<IncidentState>('state');
export const assignRoleUpdate = wf.defineUpdate<IncidentState, [Actor & { role: IncidentRole; holder: string }]>('assignRole');
export const runChecksUpdate = wf.defineUpdate<IncidentState, [Actor]>('runChecks');
export const completeStepUpdate = wf.defineUpdate<IncidentState, [Actor & { stepId: string; note?: string }]>('completeStep');
export const skipStepUpdate = wf.defineUpdate<IncidentState, [Actor & { stepId: string; reason: string }]>('skipStep');
export const addNoteUpdate = wf.defineUpdate<IncidentState, [Actor & { text: string }]>('addNote');
export const postStatusUpdate = wf.defineUpdate<
  IncidentState,
  [Actor & { message: string; componentStates: Record<string, ComponentState> }]
>('postStatusUpdate');
export const changeSeverityUpdate = wf.defineUpdate<IncidentState, [Actor & { severity: Severity; reason?: string }]>('changeSeverity');
export const mitigateUpdate = wf.defineUpdate<IncidentState, [Actor & { note?: string }]>('mitigate');
export const resolveUpdate = wf.defineUpdate<IncidentState, [Actor & { summary: string }]>('resolve');
export const addActionItemUpdate = wf.defineUpdate<IncidentState, [Actor & { title: string; owner: string; dueDate: string }]>(
  'addActionItem',
);
export const closeUpdate = wf.defineUpdate<IncidentState, [Actor & { retrospective?: Retrospective }]>('close');
