// The watchdog's check for campaign rows that say the campaign is alive (SCHEDULED, RUNNING, PAUSED)
// while its workflow is gone: never started, terminated, failed, or deleted from Temporal. Only the
// workflow writes a campaign's status and it writes the final one before it closes, so such a row will
// never move again: nothing sends the rest, and operators see "running" forever.
//
// Bounded like the other detectors (services/watchdog.ts): at most `describeLimit` rows, the least
// recently changed first, described a few at a time; rows younger than the grace are left out (a
// submit writes the row just before it starts the workflow). A row seen closed is read again before it
// is reported, so a campaign that finished between the two reads is not a finding.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/client';
import type { StuckFinding } from '../domain/watchdog';
import { errorReason } from './bounded';

const ALIVE = ['SCHEDULED', 'RUNNING', 'PAUSED'] as const;

export interface CampaignWorkflowCheck {
  db: Db;
  client: Client;
  now: Date;
  graceMs: number;
  describeLimit: number;
  /** The watchdog's bounds on one Temporal and one database call. */
  temporal: <R>(what: string, fn: () => Promise<R>) => Promise<R>;
  sql: <R>(what: string, fn: () => Promise<R>) => Promise<R>;
}

export type CampaignFinding = Omit<StuckFinding, 'link' | 'ageMs'>;

/** The findings, and what could not be checked (the watchdog reports it as the detector's error). */
export async function campaignWorkflowsNotRunning(c: CampaignWorkflowCheck): Promise<{ findings: CampaignFinding[]; error?: string }> {
  const rows = await c.sql('alive campaigns query', () =>
    c.db.campaign.findMany({
      where: { status: { in: [...ALIVE] }, createdAt: { lt: new Date(c.now.getTime() - c.graceMs) } },
      orderBy: { updatedAt: 'asc' },
      take: c.describeLimit,
      select: { id: true, status: true, workflowId: true, updatedAt: true },
    }),
  );
  const gone = new Map<string, CampaignFinding>();
  const failures: string[] = [];
  const describeOne = async (row: (typeof rows)[number]) => {
    try {
      const d = await c.temporal(`describe ${row.workflowId}`, () => c.client.workflow.getHandle(row.workflowId).describe());
      if (d.status.name === 'RUNNING') return;
      const closedAt = d.closeTime?.toISOString() ?? null;
      gone.set(row.id, {
        kind: 'campaign_workflow_not_running', id: row.id, workflowId: row.workflowId, since: closedAt ?? row.updatedAt.toISOString(),
        summary: `campaign ${row.id} is ${row.status} but its workflow is ${d.status.name}`,
        evidence: { campaignStatus: row.status, workflowStatus: d.status.name, closedAt, runId: d.runId },
      });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        failures.push(errorReason(err));
        return;
      }
      gone.set(row.id, {
        kind: 'campaign_workflow_not_running', id: row.id, workflowId: row.workflowId, since: row.updatedAt.toISOString(),
        summary: `campaign ${row.id} is ${row.status} but its workflow ${row.workflowId} does not exist`,
        evidence: { campaignStatus: row.status, workflowStatus: 'NOT_FOUND' },
      });
    }
  };
  const queue = [...rows];
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
    for (let r = queue.shift(); r; r = queue.shift()) await describeOne(r);
  }));
  const error = failures.length ? `${failures.length} of ${rows.length} campaign workflows could not be described: ${failures[0]}` : undefined;
  if (!gone.size) return { findings: [], error };
  const still = await c.sql('alive campaigns query', () =>
    c.db.campaign.findMany({ where: { id: { in: [...gone.keys()] }, status: { in: [...ALIVE] } }, select: { id: true } }),
  );
  return { findings: still.map((r) => gone.get(r.id)!), error };
}
