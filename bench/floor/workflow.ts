// The floor (bench/bookings.ts, issue 11): the least a timed transition can cost on this machine and
// server. Sleep until its time, then one local activity that writes one row. Keel's start lateness is
// reported against this workflow's, measured in the same run.
import { proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { FloorActivities } from './activities';

const { writeFloorRow } = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '10 seconds' });

export async function floorWorkflow(input: { id: string; dueAt: number }): Promise<void> {
  const wait = input.dueAt - Date.now();
  if (wait > 0) await sleep(wait);
  await writeFloorRow({ id: input.id, scheduledAt: input.dueAt });
}
