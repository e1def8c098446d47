// The log-level workflow's only side effect: store a component's level (or its revert) with its
// audit entry. The processes' watchers pick the row up within KEEL_LOG_LEVEL_POLL.
import { log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { applyLogLevelChange } from '../db/log-level-store';
import type { LogLevelChange } from '../domain/log-level';

export function createLogLevelActivities(deps: { db: Db }) {
  return {
    async applyLogLevel(change: LogLevelChange): Promise<{ outcome: 'applied' | 'already_applied' }> {
      const outcome = await applyLogLevelChange(deps.db, change);
      log.warn('log level window changed', { component: change.component, level: change.level ?? 'default', revertsAt: change.revertsAt, outcome });
      return { outcome };
    },
  };
}

export type LogLevelActivities = ReturnType<typeof createLogLevelActivities>;
