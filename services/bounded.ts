// Small helpers for code that talks to services which may not answer (the database, Temporal): bound
// the wait, and turn an error into the one line an operator needs.

/** Resolves with fn's result, or rejects with timeoutError after ms (the work itself is bounded separately where possible). */
export async function within<T>(ms: number, what: string, fn: () => Promise<T>, timeoutError = (m: string) => new Error(m)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The telling line of an error (Prisma puts the cause last, after its own decorations), shortened. */
export function errorReason(err: unknown): string {
  const e = err as { message?: unknown };
  const msg = typeof e?.message === 'string' && e.message.trim() ? e.message : String(err);
  const last = msg.trim().split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? msg;
  // Prisma's driver adapter errors wrap the cause: "Raw query failed. Code: `N/A`. Message: `...`".
  const first = /Message: `(.+)`/.exec(last)?.[1] ?? last;
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}
