// Incident activities: apply the workflow's changes to PostgreSQL and keep the public status page
// current. Idempotent: changes are versioned (a version already applied is skipped) and the status
// page is rebuilt from the rows.
import type { Db } from '../db/client';
import { applyIncidentChanges } from '../db/incident-store';
import { rebuildStatusPage } from '../db/status-store';
import type { IncidentChange } from '../domain/incident';

export interface RecordChangesArgs {
  incidentId: string;
  drill: boolean;
  /** Consecutive versions, oldest first; each carries only what changed. */
  changes: IncidentChange[];
  rebuildStatusPage: boolean;
}

export function createIncidentActivities(deps: { db: Db; statusComponents: string[] }) {
  return {
    async recordIncidentChanges(args: RecordChangesArgs): Promise<{ applied: number }> {
      const res = await applyIncidentChanges(deps.db, args.incidentId, args.changes);
      // Rebuilt even when this write was a retry that found itself already applied: the previous
      // attempt may have died between the two steps.
      if (args.rebuildStatusPage && !args.drill) await rebuildStatusPage(deps.db, deps.statusComponents);
      return res;
    },

    /** Rebuild the status page as of now (the day strip moves on even without incident activity). */
    async refreshStatusPage(): Promise<{ generatedAt: string }> {
      const doc = await rebuildStatusPage(deps.db, deps.statusComponents);
      return { generatedAt: doc.generatedAt };
    },
  };
}

export type IncidentActivities = ReturnType<typeof createIncidentActivities>;
