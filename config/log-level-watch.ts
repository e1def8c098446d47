// Every process (API and worker) runs one watcher: it reads its component's row in log_levels every
// KEEL_LOG_LEVEL_POLL, applies the level to the pino loggers the process really logs through, and
// refreshes its ack row so GET /v1/admin/log-level shows that it switched.
//
// Why a list of loggers: a pino child copies its parent's level when it is created and keeps it, so
// changing the root logger's level does not reach pino-http's logger (a child made once, at app
// creation) nor the Temporal SDK's logger adapter. Per-request children are created from pino-http's
// logger on every request, so they follow it.
import os from 'node:os';
import type { Logger } from 'pino';
import type { Db } from '../db/client';
import { deleteAck, readLogLevel, upsertAck } from '../db/log-level-store';
import { effectiveLevel, type LogComponent } from '../domain/log-level';

export interface LogLevelWatcherOptions {
  db: Db;
  component: LogComponent;
  /** The process's own level (its LOG_LEVEL): what "default" means here. */
  defaultLevel: string;
  /** The loggers to switch (a function, so loggers created later are included). */
  loggers: () => Logger[];
  /** Poll interval; default 2000 ms. 0: no timer (call check() yourself). */
  pollMs?: number;
  /** Default `<component>:<hostname>:<pid>`. */
  instance?: string;
  onError?: (err: unknown) => void;
}

export interface LogLevelWatcher {
  instance: string;
  /** The level currently applied. */
  level(): string;
  /** Reads the row, applies it, refreshes the ack; answers the level now applied. */
  check(): Promise<string>;
  /** Stops polling and removes this process's ack row. */
  stop(): Promise<void>;
}

const VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export function startLogLevelWatcher(opts: LogLevelWatcherOptions): LogLevelWatcher {
  const instance = (opts.instance ?? `${opts.component}:${os.hostname()}:${process.pid}`).slice(0, 200);
  let applied = opts.defaultLevel;
  let stopped = false;

  const setAll = (level: string) => {
    for (const l of opts.loggers()) if (l.level !== level) l.level = level;
  };
  setAll(applied);

  async function checkOnce(): Promise<string> {
    const row = await readLogLevel(opts.db, opts.component);
    const next = effectiveLevel(row, opts.defaultLevel, Date.now());
    const log = opts.loggers()[0];
    if (next !== applied) {
      const change = { component: opts.component, instance, from: applied, to: next, revertsAt: row?.revertsAt ?? null };
      // Said at warn where it can be seen: before the switch when it makes logging quieter, after it otherwise.
      const quieter = (VALUES[next] ?? 30) > (VALUES[applied] ?? 30);
      if (quieter) log?.warn(change, 'log level changed');
      setAll(next);
      if (!quieter) log?.warn(change, 'log level changed');
      applied = next;
    } else {
      setAll(next); // loggers added since the last poll
    }
    if (!stopped) await upsertAck(opts.db, { instance, component: opts.component, level: applied, defaultLevel: opts.defaultLevel });
    return applied;
  }

  // One check at a time (a slow database must not stack them up).
  let chain: Promise<unknown> = Promise.resolve();
  const check = (): Promise<string> => {
    const run = chain.then(checkOnce);
    chain = run.catch(() => undefined);
    return run;
  };

  // While the database is down every poll fails: report a failure once, not every few seconds.
  let lastFailure: string | undefined;
  const poll = () =>
    void check().then(
      () => {
        lastFailure = undefined;
      },
      (err) => {
        const message = String((err as Error)?.message ?? err);
        if (message !== lastFailure) opts.onError?.(err);
        lastFailure = message;
      },
    );
  const every = opts.pollMs ?? 2000;
  const timer = every > 0 ? setInterval(poll, every) : undefined;
  timer?.unref();
  if (every > 0) poll();

  return {
    instance,
    level: () => applied,
    check,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      await chain;
      await deleteAck(opts.db, instance).catch((err) => opts.onError?.(err));
    },
  };
}
