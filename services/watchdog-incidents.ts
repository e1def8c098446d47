// The watchdog's incident check: open incident rows (OPEN, MITIGATED) whose workflow has ended or is
// gone. Nothing moves such an incident any more (its actions answer 409) and, until a declare with its
// dedupe key abandons it, it holds the key. The same rule as the declare path (services/incidents.ts
// workflowGone): a closed run in any state, or no workflow well after the declaration (a row that
// young may still be starting its workflow, which is how the watchdog's own fresh incident looks).
//
// It cannot loop on itself: a finding makes runWatchdog declare with `watchdog:stuck-work`, which
// answers the open watchdog incident or, if that one is the orphan, abandons it and opens one new
// incident; an abandoned row is no longer open, so it is not found again.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { openIncidentRows } from '../db/incident-store';
import type { StuckFinding } from '../domain/watchdog';
import { workflowGone } from './incidents';

type Describe = (workflowId: string) => Promise<{ status: string; closeTime?: Date; runId: string } | undefined>;

/** describe() of the workflow's latest run; undefined when Temporal has no such workflow. */
export function describeWith(client: Client): Describe {
  return async (workflowId) => {
    try {
      const d = await client.workflow.getHandle(workflowId).describe();
      return { status: d.status.name, closeTime: d.closeTime, runId: d.runId };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  };
}

/**
 * At most `limit` open rows, oldest first, each described once (a few at a time). A describe that
 * fails is counted and thrown after the others ran, so the detector reports it without hiding findings.
 */
export async function findIncidentsWithoutWorkflow(deps: {
  db: Db;
  describe: Describe;
  limit: number;
  now: Date;
}): Promise<Array<Omit<StuckFinding, 'link' | 'ageMs'>>> {
  const rows = await openIncidentRows(deps.db, deps.limit);
  const findings: Array<Omit<StuckFinding, 'link' | 'ageMs'>> = [];
  const failures: string[] = [];
  const queue = [...rows];
  await Promise.all(Array.from({ length: Math.min(4, queue.length) }, async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      try {
        const gone = await workflowGone({ describe: deps.describe }, r, deps.now);
        if (!gone) continue;
        findings.push({
          kind: 'incident_workflow_gone', id: r.id, since: gone.closedAt ?? r.declaredAt.toISOString(), workflowId: r.workflowId,
          summary: `incident ${r.id} is ${r.status} but ${gone.reason}`,
          evidence: { incidentStatus: r.status, workflowStatus: gone.workflowStatus, closedAt: gone.closedAt, dedupeKey: r.dedupeKey },
        });
      } catch (err) {
        failures.push(`${r.workflowId}: ${(err as Error).message}`);
      }
    }
  }));
  if (failures.length) throw new Error(`${failures.length} of ${rows.length} incident workflows could not be described: ${failures[0]}`);
  return findings;
}
