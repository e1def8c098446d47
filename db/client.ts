// One Prisma client per process, over node-postgres through @prisma/adapter-pg: no engine binary is
// needed at run time, and the same code talks to PostgreSQL or to the embedded PGlite socket.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = InstanceType<typeof PrismaClient>;
export type { Prisma } from '../generated/prisma/client';

export function createDb(databaseUrl: string, opts: { poolSize?: number } = {}): Db {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: opts.poolSize ?? 10,
    // Fail fast while the database is unreachable: activities retry with backoff and the API answers
    // 503, rather than requests queueing behind a dead connection.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  return new PrismaClient({ adapter });
}
