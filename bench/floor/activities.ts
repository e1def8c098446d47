// The floor's one activity: one row, through the same Prisma client and pool the booking writes use.
import type { Db } from '../../db/client';

/** The floor's table, created by the benchmark in its own throwaway database (not a migration). */
export const FLOOR_TABLE_SQL = `CREATE TABLE IF NOT EXISTS bench_floor (
  id text PRIMARY KEY, scheduled_at timestamptz(3) NOT NULL, occurred_at timestamptz(3) NOT NULL)`;

export function createFloorActivities(db: Db) {
  return {
    async writeFloorRow(r: { id: string; scheduledAt: number }): Promise<void> {
      // occurred_at as booking_events.occurred_at is taken: the activity's clock when it writes.
      await db.$executeRaw`INSERT INTO bench_floor (id, scheduled_at, occurred_at)
        VALUES (${r.id}, ${new Date(r.scheduledAt)}, ${new Date()}) ON CONFLICT (id) DO NOTHING`;
    },
  };
}
export type FloorActivities = ReturnType<typeof createFloorActivities>;
