// One Prisma client per process, over node-postgres through @prisma/adapter-pg: no engine binary is
// needed at run time, and the same code talks to PostgreSQL or to the embedded PGlite socket.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = InstanceType<typeof PrismaClient>;
export type { Prisma } from '../generated/prisma/client';

/** The pg pool under each client made by createDb (the same connections Prisma uses). */
const pools = new WeakMap<Db, pg.Pool>();

export function createDb(databaseUrl: string, opts: { poolSize?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.poolSize ?? 10,
    // Fail fast while the database is unreachable: activities retry with backoff and the API answers
    // 503, rather than requests queueing behind a dead connection.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  pools.set(db, pool);
  return db;
}

/**
 * The client's pg pool, for the few hot statements where Prisma's per-query work is most of the cost
 * (booking creation: ~1 ms of CPU per $queryRaw against ~0.1 ms through pg). Undefined for a client
 * not made by createDb, or once $disconnect has ended the pool: callers then use Prisma.
 */
export function sqlPool(db: Db): pg.Pool | undefined {
  const pool = pools.get(db);
  return pool && !pool.ending && !pool.ended ? pool : undefined;
}
