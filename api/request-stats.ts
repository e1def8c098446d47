// Counts the API's responses per minute, in memory, and adds them to api_request_stats every few
// seconds with one upsert per minute bucket: the source of the incident checklist's "recent API error
// rate" check (activities/checks.ts). Never a database write per request: under a storm of requests
// the database sees the same handful of upserts.
//
// A failed flush (database down, which is exactly when the numbers matter) keeps the counts and adds
// them in on the next try. Memory is bounded: at most `maxPendingMinutes` buckets are held; beyond
// that the oldest are dropped (and counted in `dropped`).
import type { RequestHandler } from 'express';
import type { Db } from '../db/client';

export interface RequestStatsOptions {
  /** Which API process this is (hostname:pid): rows are per (minute, instance). */
  instance: string;
  /** How often counts are written; default 10 s. 0 disables the timer (call flush() yourself). */
  flushEveryMs?: number;
  /** Buckets kept while the database cannot be written; default 60 (one hour). */
  maxPendingMinutes?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Told about a failed flush (the counts are kept for the next one). */
  onError?: (err: unknown) => void;
}

export interface MinuteCount {
  minute: Date;
  total: number;
  serverErrors: number;
}

export interface RequestStats {
  middleware: RequestHandler;
  /** Writes what has been counted so far. Rejects if the write failed; the counts are kept. */
  flush(): Promise<void>;
  /** Stops the timer and makes a last flush attempt (errors go to onError, not to the caller). */
  stop(): Promise<void>;
  /** Counts not yet written, oldest first. */
  pending(): MinuteCount[];
  /** Responses dropped because too many minutes were pending (database down for long). */
  dropped(): number;
}

const MINUTE_MS = 60_000;

export function createRequestStats(db: Db, opts: RequestStatsOptions): RequestStats {
  const now = opts.now ?? Date.now;
  const maxMinutes = Math.max(1, opts.maxPendingMinutes ?? 60);
  const instance = opts.instance.slice(0, 80); // the column is VARCHAR(80)
  /** minute (epoch ms) -> counts; Map keeps insertion order, and minutes arrive in order. */
  let counts = new Map<number, { total: number; serverErrors: number }>();
  let droppedResponses = 0;
  let stopped = false;

  function add(minute: number, total: number, serverErrors: number): void {
    const c = counts.get(minute);
    if (c) {
      c.total += total;
      c.serverErrors += serverErrors;
      return;
    }
    counts.set(minute, { total, serverErrors });
    if (counts.size > maxMinutes) {
      // Oldest first; a re-added older minute may sit at the end, so find the true minimum.
      const oldest = Math.min(...counts.keys());
      droppedResponses += counts.get(oldest)!.total;
      counts.delete(oldest);
    }
  }

  const middleware: RequestHandler = (_req, res, next) => {
    res.once('finish', () => {
      add(Math.floor(now() / MINUTE_MS) * MINUTE_MS, 1, res.statusCode >= 500 ? 1 : 0);
    });
    next();
  };

  async function writeOnce(): Promise<void> {
    if (counts.size === 0) return;
    const batch = [...counts.entries()].sort(([a], [b]) => a - b);
    counts = new Map(); // counted from here on goes to the next flush
    let failure: unknown;
    for (const [minute, c] of batch) {
      if (failure !== undefined) {
        add(minute, c.total, c.serverErrors);
        continue;
      }
      try {
        // Adds rather than sets: several flushes (and a retried one) land in the same minute row.
        await db.$executeRaw`
          INSERT INTO "api_request_stats" ("minute", "instance", "total", "server_errors")
          VALUES (${new Date(minute)}, ${instance}, ${c.total}, ${c.serverErrors})
          ON CONFLICT ("minute", "instance") DO UPDATE
            SET "total" = "api_request_stats"."total" + EXCLUDED."total",
                "server_errors" = "api_request_stats"."server_errors" + EXCLUDED."server_errors"`;
      } catch (err) {
        failure = err;
        add(minute, c.total, c.serverErrors); // kept for the next try
      }
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the database client threw, as it threw it
    if (failure !== undefined) throw failure;
  }

  // Flushes run one after another, never two at once (a slow one and the timer's next one).
  let chain: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    const run = chain.then(writeOnce);
    chain = run.catch(() => undefined);
    return run;
  };

  const every = opts.flushEveryMs ?? 10_000;
  const timer =
    every > 0
      ? setInterval(() => {
          flush().catch((err) => opts.onError?.(err));
        }, every)
      : undefined;
  timer?.unref(); // never keeps the process alive on its own

  return {
    middleware,
    flush,
    async stop() {
      if (stopped) return chain;
      stopped = true;
      if (timer) clearInterval(timer);
      await flush().catch((err) => opts.onError?.(err));
    },
    pending: () =>
      [...counts.entries()].sort(([a], [b]) => a - b).map(([minute, c]) => ({ minute: new Date(minute), total: c.total, serverErrors: c.serverErrors })),
    dropped: () => droppedResponses,
  };
}
