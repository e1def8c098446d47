// Recognising database failures without depending on message text.

/** Prisma's unique-constraint violation (P2002), also when raised through a driver adapter. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string }; meta?: { driverAdapterError?: { cause?: { kind?: string } } } };
  return (
    e?.code === 'P2002' ||
    e?.code === '23505' ||
    e?.cause?.code === '23505' ||
    e?.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation'
  );
}

/** True when the failure is the database being unreachable rather than a bad query. */
export function isConnectivityError(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string; meta?: { driverAdapterError?: { cause?: { kind?: string } } } };
  const code = e?.code ?? '';
  // A raw query ($queryRaw) reports an unreachable server as P2010 "Raw query failed", with the
  // adapter's kind in meta, where a model query says P1001.
  const kind = e?.meta?.driverAdapterError?.cause?.kind;
  if (kind === 'DatabaseNotReachable' || kind === 'ConnectionClosed') return true;
  if (['P1001', 'P1002', 'P1017', 'P2024', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P03'].includes(code)) return true;
  const text = `${e?.name ?? ''} ${e?.message ?? ''}`;
  return /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect|DatabaseNotReachable|connect ETIMEDOUT|the database system is/i.test(text);
}
