// Incident activities: mirror the workflow's state into PostgreSQL and keep the public status page
// current. Idempotent: snapshots are versioned and the status page is rebuilt from the rows.
import type { Db } from '../db/client';
import { saveIncidentSnapshot } from '../db/incident-store';
import { rebuildStatusPage } from '../db/status-store';
import type { IncidentState } from '../domain/incident';

export function createIncidentActivities(deps: { db: Db; statusComponents: string[] }) {
  return {
    async recordIncident(args: { snapshot: IncidentState; rebuildStatusPage: boolean }): Promise<{ written: boolean }> {
      const res = await saveIncidentSnapshot(deps.db, args.snapshot);
      // Rebuilt even when this write was a retry that found itself already applied: the previous
      // attempt may have died between the two steps.
      if (args.rebuildStatusPage && !args.snapshot.drill) await rebuildStatusPage(deps.db, deps.statusComponents);
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
