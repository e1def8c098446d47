// The one module that talks to Temporal on behalf of commands: every workflow start (with its task
// queue, ID conflict and reuse policy, memo, summary, search attributes, deadline and the
// keel_workflow_starts_total count), every update (update ID, deadline, failure -> error mapping) and
// every query. Whoever asks - the API, the watchdog's incident, a CLI tool - goes through here, so a
// policy is stated once and a start is counted wherever it happens.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  ApplicationFailure,
  type QueryDefinition,
  type SearchAttributePair,
  type SignalDefinition,
  type UpdateDefinition,
  type WorkflowIdConflictPolicy,
  type WorkflowIdReusePolicy,
} from '@temporalio/common';
import { FailureType } from '../domain/failures';
import { taskQueue, type TaskQueueName } from '../domain/task-queues';
import { CommandError, type ErrorCode } from './errors';

export type WorkflowType =
  | 'bookingWorkflow'
  | 'campaignWorkflow'
  | 'incidentWorkflow'
  | 'logLevelWorkflow'
  | 'dashboardReconcileWorkflow';

interface StartPolicy {
  queue: TaskQueueName;
  conflict: WorkflowIdConflictPolicy;
  reuse: WorkflowIdReusePolicy;
}

/**
 * Per workflow type: where it runs and what a second start with the same id does.
 * - booking: concurrent identical creates converge on one run (USE_EXISTING); a closed run is never
 *   started again (REJECT_DUPLICATE; the row remembers it beyond retention).
 * - campaign: the same; a resubmit starts no run once the row says its lifecycle began (services/
 *   campaigns.ts), and a retry-failed run reuses the closed id on purpose (its own policy).
 * - incident: the row is inserted first (dedupe key), so a second start is a bug: FAIL.
 * - log level: one long-lived window per component, reached by signal-with-start.
 * - manual reconciliation: a second request while one runs joins it.
 */
export const START_POLICIES: Record<WorkflowType, StartPolicy> = {
  bookingWorkflow: { queue: 'bookings', conflict: 'USE_EXISTING', reuse: 'REJECT_DUPLICATE' },
  campaignWorkflow: { queue: 'notifications', conflict: 'USE_EXISTING', reuse: 'REJECT_DUPLICATE' },
  incidentWorkflow: { queue: 'incidents', conflict: 'FAIL', reuse: 'REJECT_DUPLICATE' },
  logLevelWorkflow: { queue: 'ops', conflict: 'USE_EXISTING', reuse: 'ALLOW_DUPLICATE' },
  dashboardReconcileWorkflow: { queue: 'ops', conflict: 'USE_EXISTING', reuse: 'ALLOW_DUPLICATE' },
};

/** Which API error each workflow refusal becomes; anything else a workflow refuses with is a 409. */
const FAILURE_CODES: Record<string, ErrorCode> = {
  [FailureType.NotFound]: 'NOT_FOUND',
  [FailureType.ValidationFailed]: 'VALIDATION_FAILED',
  [FailureType.BookingOverlap]: 'BOOKING_OVERLAP',
  [FailureType.InvalidTransition]: 'INVALID_TRANSITION',
};

export interface TemporalGatewayOptions {
  client: Client;
  taskQueuePrefix?: string;
  /** Deadline of a start call (default 5 s): an unreachable Temporal answers 503 in seconds. */
  startTimeoutMs?: number;
  /** Deadline of an update (KEEL_UPDATE_TIMEOUT, default 5 s): no worker in time -> 503 WORKER_UNAVAILABLE. */
  updateTimeoutMs?: number;
  /** Counts an accepted start (the process's keel_workflow_starts_total). */
  onStart?: (type: WorkflowType) => void;
}

export interface StartRequest {
  workflowId: string;
  args: unknown[];
  summary: string;
  memo?: Record<string, unknown>;
  searchAttributes?: SearchAttributePair[];
  /** Overrides the type's policy (a campaign's retry run reuses its closed id on purpose). */
  policy?: Partial<Pick<StartPolicy, 'conflict' | 'reuse'>>;
}

export interface UpdateRequest {
  /** Temporal deduplicates updates by this id within a run, also after the update completed. */
  updateId: string;
  /** Explains why a closed (or vanished) workflow refuses the update: the 409's message. */
  finished: () => Promise<string>;
}

/** Seconds a client should wait before retrying a WORKER_UNAVAILABLE. */
export const WORKER_RETRY_AFTER_S = 5;

export class TemporalGateway {
  readonly client: Client;
  readonly taskQueuePrefix: string;
  private readonly startTimeoutMs: number;
  readonly updateTimeoutMs: number;
  private readonly onStart?: (type: WorkflowType) => void;

  constructor(opts: TemporalGatewayOptions) {
    this.client = opts.client;
    this.taskQueuePrefix = opts.taskQueuePrefix ?? '';
    this.startTimeoutMs = opts.startTimeoutMs ?? 5000;
    this.updateTimeoutMs = opts.updateTimeoutMs ?? 5000;
    this.onStart = opts.onStart;
  }

  taskQueue(name: TaskQueueName): string {
    return taskQueue(name, this.taskQueuePrefix);
  }

  handle(workflowId: string): WorkflowHandle {
    return this.client.workflow.getHandle(workflowId);
  }

  /**
   * Starts a workflow by its type's policy. `started: false` when the id already has a run the policy
   * does not start again (a closed booking, a running campaign joined by USE_EXISTING is `true`).
   */
  async start(type: WorkflowType, req: StartRequest): Promise<{ started: boolean; handle: WorkflowHandle }> {
    const policy = { ...START_POLICIES[type], ...req.policy };
    try {
      const handle = await this.bounded(this.startTimeoutMs, () =>
        this.client.workflow.start(type, {
          workflowId: req.workflowId,
          taskQueue: this.taskQueue(policy.queue),
          args: req.args,
          workflowIdConflictPolicy: policy.conflict,
          workflowIdReusePolicy: policy.reuse,
          memo: req.memo,
          staticSummary: req.summary,
          typedSearchAttributes: req.searchAttributes,
        }),
      );
      this.onStart?.(type);
      return { started: true, handle };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { started: false, handle: this.handle(req.workflowId) };
      throw err;
    }
  }

  /** Signal a workflow, starting it first if it does not run (a log-level window). */
  async signalWithStart<A>(
    type: WorkflowType,
    req: StartRequest & { signal: SignalDefinition<[A]>; signalArg: A },
  ): Promise<void> {
    const policy = { ...START_POLICIES[type], ...req.policy };
    await this.bounded(this.startTimeoutMs, () =>
      this.client.workflow.signalWithStart(type, {
        workflowId: req.workflowId,
        taskQueue: this.taskQueue(policy.queue),
        args: req.args,
        signal: req.signal.name,
        signalArgs: [req.signalArg] as [unknown],
        workflowIdConflictPolicy: policy.conflict,
        workflowIdReusePolicy: policy.reuse,
        memo: req.memo,
        staticSummary: req.summary,
        typedSearchAttributes: req.searchAttributes,
      }),
    );
    this.onStart?.(type);
  }

  /**
   * Runs an update and waits for its result, within updateTimeoutMs. A refusal becomes a 4xx by its
   * failure type; a workflow that has ended answers 409 with `finished()`; no worker in time answers 503
   * WORKER_UNAVAILABLE. What happens to such an update afterwards (measured on the dev server 1.32,
   * README "Actions and retries"): with no worker polling, the server keeps it and the returning worker
   * applies it; with a worker that took the workflow task and froze, the task times out and the server
   * drops the update. Either way the same update id, sent again, is applied at most once and answers its
   * outcome, also after the workflow has closed.
   */
  async update<Ret, Args extends unknown[]>(
    workflowId: string,
    def: UpdateDefinition<Ret, Args>,
    args: Args,
    req: UpdateRequest,
  ): Promise<Ret> {
    const deadline = Date.now() + this.updateTimeoutMs;
    for (;;) {
      try {
        return await this.client.withDeadline(deadline, () =>
          // The SDK types args per arity; the definition carries the real type, so widen once here.
          this.handle(workflowId).executeUpdate(def as unknown as UpdateDefinition<Ret, [unknown]>, { args: args as unknown as [unknown], updateId: req.updateId }),
        );
      } catch (err) {
        // A run draining before continue-as-new rejects updates in its validators (nothing is recorded,
        // so the same update id is free): sent again, the next run takes it, within the same deadline.
        if (isContinuingAsNew(err) && Date.now() + 200 < deadline) {
          await new Promise((r) => setTimeout(r, 150));
          continue;
        }
        if (isContinuingAsNew(err)) throw workerUnavailable(this.updateTimeoutMs, 'update');
        throw await this.mapUpdateError(err, req);
      }
    }
  }

  /**
   * The latest run of a workflow: its status name (RUNNING, COMPLETED, TERMINATED, FAILED, TIMED_OUT,
   * CANCELLED...) and close time, or undefined when Temporal has no such workflow (never started, or
   * forgotten after the namespace's retention). Bounded like a start.
   */
  async describe(workflowId: string): Promise<{ status: string; closeTime?: Date; runId: string } | undefined> {
    try {
      const d = await this.bounded(this.startTimeoutMs, () => this.handle(workflowId).describe());
      return { status: d.status.name, closeTime: d.closeTime, runId: d.runId };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** A query, bounded like an update (a query also needs a worker). */
  async query<Ret, Args extends unknown[]>(workflowId: string, def: QueryDefinition<Ret, Args>, ...args: Args): Promise<Ret> {
    try {
      return await this.bounded(this.updateTimeoutMs, () => this.handle(workflowId).query(def, ...args));
    } catch (err) {
      if (isDeadline(err)) throw workerUnavailable(this.updateTimeoutMs, 'query');
      throw err;
    }
  }

  private async mapUpdateError(err: unknown, req: UpdateRequest): Promise<unknown> {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause;
      const message = cause?.message ?? err.message;
      const type = cause instanceof ApplicationFailure ? cause.type : undefined;
      return new CommandError((type && FAILURE_CODES[type]) || 'INVALID_TRANSITION', message);
    }
    if (err instanceof WorkflowNotFoundError || /workflow execution already completed/i.test((err as Error)?.message ?? '')) {
      return new CommandError('INVALID_TRANSITION', await req.finished());
    }
    if (isDeadline(err) || isWorkflowTaskFailing(err)) return workerUnavailable(this.updateTimeoutMs, 'update');
    return err;
  }

  private bounded<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + timeoutMs, fn);
  }
}

function workerUnavailable(timeoutMs: number, what: 'update' | 'query'): CommandError {
  return new CommandError(
    'WORKER_UNAVAILABLE',
    what === 'update'
      ? `no worker completed the request within ${timeoutMs} ms; it is kept and applied once when a worker returns: retry with the same Idempotency-Key to get its result`
      : `no worker answered within ${timeoutMs} ms; retry shortly`,
    { timeoutMs },
    WORKER_RETRY_AFTER_S,
  );
}

function isContinuingAsNew(err: unknown): boolean {
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === FailureType.ContinuingAsNew;
}

/** An update or query whose deadline passed while Temporal itself answered (no worker took it). */
function isDeadline(err: unknown): boolean {
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return (err.cause as { code?: number } | undefined)?.code !== 14;
  return (err as { code?: number })?.code === 4;
}

/**
 * FAILED_PRECONDITION "Workflow Task in failed state": the workflow's last task timed out or failed (a
 * frozen or crashing worker), so the server refuses updates until a worker completes a task again.
 */
function isWorkflowTaskFailing(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number }; message?: string };
  return (e?.code ?? e?.cause?.code) === 9 && /workflow task in failed state/i.test(`${e?.message ?? ''} ${(e?.cause as Error | undefined)?.message ?? ''}`);
}

/** Temporal's gRPC errors when the server cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED). */
export function isTemporalUnavailable(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number }; name?: string; message?: string };
  const code = e?.code ?? e?.cause?.code;
  return code === 14 || code === 4 || /UNAVAILABLE|DEADLINE_EXCEEDED|Failed to connect/i.test(`${e?.message ?? ''}`);
}
