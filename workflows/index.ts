// Everything the worker bundles. Workflow code is deterministic: no I/O, no wall clock but the SDK's.
export { bookingWorkflow } from './booking';
export { incidentWorkflow } from './incident';
export { campaignWorkflow } from './campaign';
export { statusPageRefreshWorkflow } from './status-page';
export { stuckWorkWatchdogWorkflow } from './watchdog';
export { dashboardReconcileWorkflow } from './dashboard';
export { logLevelWorkflow } from './log-level';
