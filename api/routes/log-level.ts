// Emergency log levels: PUT opens (or replaces) a component's log-level window, GET shows the windows
// and what each live process is actually running at (services/log-levels.ts).
import { Router } from 'express';
import { z } from 'zod';
import { LOG_COMPONENTS, LOG_LEVELS } from '../../domain/log-level';
import type { Services } from '../../services/context';
import * as logLevels from '../../services/log-levels';
import { allow } from '../auth';
import { commandContext } from '../context';
import { parse } from '../validation';

export const SetLogLevelBody = z
  .object({
    level: z.enum(LOG_LEVELS),
    /** Omitted: every component. */
    component: z.enum(LOG_COMPONENTS).optional(),
    minutes: z.number().min(1).max(1440),
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .strict() satisfies z.ZodType<logLevels.SetLogLevel>;

export function logLevelRouter(services: Services): Router {
  const r = Router();

  r.put('/', allow('operator'), async (req, res) => {
    const body = parse(SetLogLevelBody, req.body);
    res.json(await logLevels.setLogLevel(commandContext(services, req), body));
  });

  r.get('/', allow('operator', 'commander', 'viewer'), async (_req, res) => {
    res.json(await logLevels.getLogLevels(services));
  });

  return r;
}
