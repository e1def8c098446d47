// Emergency log levels: PUT raises (or lowers) a component's log level for a window, GET shows the
// windows and what each live process is actually running at.
//
// PUT does not write the level itself: it hands the request to the component's durable workflow
// (`log-level-<component>`, ops queue) with signalWithStart, which stores it, keeps the timer and
// stores the revert, so the window ends on time whatever restarts in between. The signal is durable,
// so the request holds even while the ops worker is briefly down; the answer gives the window's end,
// computed here so a late delivery cannot stretch it.
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { listLogLevels, liveAcks } from '../../db/log-level-store';
import { LOG_COMPONENTS, LOG_LEVELS, effectiveLevel, logLevelWorkflowId, type LogComponent, type LogLevelRequest } from '../../domain/log-level';
import { taskQueue } from '../../domain/task-queues';
import type * as wf from '../../workflows/log-level';
import { allow, callerOf } from '../auth';
import { countWorkflowStart } from '../metrics';
import { parse } from '../validation';

export const SetLogLevelBody = z
  .object({
    level: z.enum(LOG_LEVELS),
    /** Omitted: every component. */
    component: z.enum(LOG_COMPONENTS).optional(),
    minutes: z.number().min(1).max(1440),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

export interface LogLevelRouteDeps {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  /** Length of one "minute" of a window; default 60,000. Tests shorten it to watch windows end. */
  minuteMs?: number;
  /** A process counts as live while its ack is younger than this; default 30 s. */
  liveWithinMs?: number;
}

const START_TIMEOUT_MS = 5000;

export function logLevelRouter(deps: LogLevelRouteDeps): Router {
  const r = Router();
  const minuteMs = deps.minuteMs ?? 60_000;

  r.put('/', allow('operator'), async (req, res) => {
    const body = parse(SetLogLevelBody, req.body);
    const caller = callerOf(req);
    const requestId = typeof req.id === 'string' ? req.id : undefined;
    const revertsAt = new Date(Date.now() + body.minutes * minuteMs).toISOString();
    const components: readonly LogComponent[] = body.component ? [body.component] : LOG_COMPONENTS;
    const request: LogLevelRequest = { level: body.level, revertsAt, setBy: caller.actor, reason: body.reason, requestId };
    const windows = [];
    for (const component of components) {
      const workflowId = logLevelWorkflowId(component, deps.taskQueuePrefix);
      // Bounded, so an unreachable Temporal answers 503 in seconds rather than after every retry.
      await deps.client.withDeadline(Date.now() + START_TIMEOUT_MS, () =>
        deps.client.workflow.signalWithStart<typeof wf.logLevelWorkflow, [LogLevelRequest]>('logLevelWorkflow', {
          workflowId,
          taskQueue: taskQueue('ops', deps.taskQueuePrefix),
          args: [{ component }],
          signal: 'setLogLevel',
          signalArgs: [request],
          staticSummary: `Log level window for ${component}`,
        }),
      );
      countWorkflowStart('logLevelWorkflow');
      windows.push({ component, level: body.level, revertsAt, setBy: caller.actor, reason: body.reason ?? null, workflowId });
    }
    res.json({ windows });
  });

  r.get('/', allow('operator', 'commander', 'viewer'), async (_req, res) => {
    const now = Date.now();
    const [rows, acks] = await Promise.all([listLogLevels(deps.db), liveAcks(deps.db, new Date(now - (deps.liveWithinMs ?? 30_000)))]);
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
        workflowId: logLevelWorkflowId(component, deps.taskQueuePrefix),
        processes: acks
          .filter((a) => a.component === component)
          .map((a) => ({ instance: a.instance, level: a.level, defaultLevel: a.defaultLevel, seenAt: a.seenAt.toISOString() })),
      };
    });
    res.json({ components });
  });

  return r;
}
