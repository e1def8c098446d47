// An emergency log-level window: one workflow per component, id `log-level-<component>`, task queue
// `ops`. setLogLevel (services/log-levels.ts) signals it with signalWithStart (so a request reaches the
// running window, or starts one); it stores the level through its activity, sleeps until the window
// ends, and stores the revert ("default": each process's own LOG_LEVEL) through the same activity. A
// newer request replaces the window (level and end) and re-arms the timer. The timer lives in
// Temporal, so the revert happens on time whatever restarts in between; once reverted the workflow
// completes.
import * as wf from '@temporalio/workflow';
import type { LogLevelActivities } from '../activities/log-level';
import type { LogLevelName, LogLevelRequest } from '../domain/log-level';
import { logLevelStateQuery, setLogLevelSignal, type LogLevelInput, type LogLevelState } from './log-level-messages';

export * from './log-level-messages';

// No attempt limit: a revert that cannot be stored must keep trying until the database answers
// (the watchers also treat an expired window as over, so logging falls back on time regardless).
const APPLY_OPTIONS: wf.ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
};
const { applyLogLevel } = wf.proxyActivities<LogLevelActivities>(APPLY_OPTIONS);

export async function logLevelWorkflow(input: LogLevelInput): Promise<LogLevelState> {
  const { component } = input;
  const maxChanges = input.maxChangesPerRun ?? 50;
  let current = input.carried?.current;
  let pending = input.carried?.pending;
  let changes = 0;
  wf.setHandler(setLogLevelSignal, (r) => {
    pending = r; // the newest request wins, even over one not stored yet
  });
  const state = (): LogLevelState => ({ component, current, pending, changesThisRun: changes });
  wf.setHandler(logLevelStateQuery, state);

  const store = async (level: LogLevelName | null, r: Omit<LogLevelRequest, 'level'> | undefined, summary: string) => {
    const { workflowId, runId } = wf.workflowInfo();
    changes++;
    await applyLogLevel.executeWithOptions({ ...APPLY_OPTIONS, summary }, [{
      component,
      level,
      revertsAt: level ? (r?.revertsAt ?? null) : null,
      setBy: level ? (r?.setBy ?? 'system') : 'system',
      reason: r?.reason,
      requestId: r?.requestId,
      changeKey: `${workflowId}:${runId}:${changes}`,
    }]);
  };

  for (;;) {
    if (pending) {
      const r = pending;
      pending = undefined;
      if (Date.parse(r.revertsAt) > Date.now()) {
        await store(r.level, r, `${r.level} until ${r.revertsAt}`);
        current = r;
      } else {
        // Delivered after its window had already ended (the ops worker was down): nothing to turn on.
        await store(null, { revertsAt: r.revertsAt, setBy: 'system', reason: `request by ${r.setBy} arrived after its window ended` }, 'expired request: default');
        current = undefined;
      }
      continue; // another request may have arrived while storing
    }
    if (!current) break;
    const remaining = Date.parse(current.revertsAt) - Date.now();
    const interrupted = remaining > 0 && (await wf.condition(() => pending !== undefined, remaining, { summary: `revert to default at ${current.revertsAt}` }));
    if (!interrupted) {
      await store(null, { revertsAt: current.revertsAt, setBy: 'system', reason: `window set by ${current.setBy} ended` }, 'window ended: default');
      current = undefined;
    }
    if ((current || pending) && (changes >= maxChanges || wf.workflowInfo().continueAsNewSuggested)) {
      await wf.condition(wf.allHandlersFinished);
      return wf.continueAsNew<typeof logLevelWorkflow>({ component, carried: { current, pending }, maxChangesPerRun: input.maxChangesPerRun });
    }
  }
  await wf.condition(wf.allHandlersFinished);
  return state();
}
