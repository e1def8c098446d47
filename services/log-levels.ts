// Emergency log levels: setLogLevel raises (or lowers) a component's log level for a window,
// getLogLevels shows the windows and what each live process is actually running at.
//
// setLogLevel does not write the level itself: it hands the request to the component's durable
// workflow (`log-level-<component>`, ops queue) with signal-with-start, which stores it, keeps the
// timer and stores the revert, so the window ends on time whatever restarts in between. The signal is
// durable, so the request holds even while the ops worker is briefly down; the window's end is
// computed here, so a late delivery cannot stretch it.
import { listLogLevels, liveAcks } from '../db/log-level-store';
import { LOG_COMPONENTS, effectiveLevel, logLevelWorkflowId, type LogComponent, type LogLevelName, type LogLevelRequest } from '../domain/log-level';
import { setLogLevelSignal, type LogLevelInput } from '../workflows/log-level-messages';
import type { CommandContext, Services } from './context';

export interface SetLogLevel {
  level: LogLevelName;
  /** Omitted: every component. */
  component?: LogComponent;
  minutes: number;
  reason?: string;
}

export interface LogLevelWindow {
  component: LogComponent;
  level: LogLevelName;
  revertsAt: string;
  setBy: string;
  reason: string | null;
  workflowId: string;
}

export async function setLogLevel(ctx: CommandContext, input: SetLogLevel): Promise<{ windows: LogLevelWindow[] }> {
  const revertsAt = new Date(Date.now() + input.minutes * ctx.settings.logLevels.minuteMs).toISOString();
  const request: LogLevelRequest = { level: input.level, revertsAt, setBy: ctx.actor, reason: input.reason, requestId: ctx.requestId };
  const components: readonly LogComponent[] = input.component ? [input.component] : LOG_COMPONENTS;
  const windows: LogLevelWindow[] = [];
  for (const component of components) {
    const workflowId = logLevelWorkflowId(component, ctx.temporal.taskQueuePrefix);
    await ctx.temporal.signalWithStart('logLevelWorkflow', {
      workflowId,
      args: [{ component } satisfies LogLevelInput],
      signal: setLogLevelSignal,
      signalArg: request,
      summary: `Log level window for ${component}`,
    });
    windows.push({ component, level: input.level, revertsAt, setBy: ctx.actor, reason: input.reason ?? null, workflowId });
  }
  return { windows };
}

export async function getLogLevels(ctx: Pick<Services, 'db' | 'temporal' | 'settings'>) {
  const now = Date.now();
  const [rows, acks] = await Promise.all([listLogLevels(ctx.db), liveAcks(ctx.db, new Date(now - ctx.settings.logLevels.liveWithinMs))]);
  const components = LOG_COMPONENTS.map((component) => {
    const row = rows.find((x) => x.component === component);
    // A window past its end counts as over even before the workflow stored the revert.
    const level = row ? effectiveLevel(row, '', now) || null : null;
    return {
      component,
      /** null: every process runs at its own LOG_LEVEL (see processes[].defaultLevel). */
      level,
      revertsAt: level ? (row?.revertsAt?.toISOString() ?? null) : null,
      setBy: row?.setBy ?? null,
      reason: row?.reason ?? null,
      updatedAt: row?.updatedAt.toISOString() ?? null,
      workflowId: logLevelWorkflowId(component, ctx.temporal.taskQueuePrefix),
      processes: acks
        .filter((a) => a.component === component)
        .map((a) => ({ instance: a.instance, level: a.level, defaultLevel: a.defaultLevel, seenAt: a.seenAt.toISOString() })),
    };
  });
  return { components };
}
