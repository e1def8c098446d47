// Emergency log levels: which levels and components exist, and what a process should run at.
// Pure and workflow-safe (the log-level workflow imports it).

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Every process belongs to one component; a window applies to all processes of its component. */
export const LOG_COMPONENTS = ['api', 'worker'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

/** `log-level-<component>`, behind the task-queue prefix if any (tests run several Keels on one server). */
export function logLevelWorkflowId(component: LogComponent, taskQueuePrefix = ''): string {
  return taskQueuePrefix ? `${taskQueuePrefix}-log-level-${component}` : `log-level-${component}`;
}

/** One operator request, as the API hands it to the workflow: an absolute end, so a late signal cannot stretch it. */
export interface LogLevelRequest {
  level: LogLevelName;
  /** ISO time at which the component falls back to its default. */
  revertsAt: string;
  setBy: string;
  reason?: string;
  requestId?: string;
}

/** What the activity writes: `level: null` is the revert to each process's own LOG_LEVEL. */
export interface LogLevelChange {
  component: LogComponent;
  level: LogLevelName | null;
  revertsAt: string | null;
  setBy: string;
  reason?: string;
  requestId?: string;
  /** Unique per change (workflow id, run id, sequence): a retried activity writes nothing twice. */
  changeKey: string;
}

/**
 * The level a process should run at, given its component's row: the stored level while its window is
 * open, else the process's default. A window whose end has passed counts as over even if the workflow
 * never reverted it (belt and braces: a terminated workflow cannot leave verbose logging on for good).
 */
export function effectiveLevel(
  row: { level: string | null; revertsAt: Date | null } | null | undefined,
  defaultLevel: string,
  now: number,
): string {
  if (!row?.level) return defaultLevel;
  if (row.revertsAt && row.revertsAt.getTime() <= now) return defaultLevel;
  return row.level;
}
