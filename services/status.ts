// The public status page's one read: the precomputed document (db/status-store.ts), a primary-key
// lookup however long the incident history, so the page stays up under load in a crisis.
// `npm run status:export` copies it elsewhere; the API serves it (GET /status, GET /v1/status) from a
// copy it re-reads only when the row changes (services/status-page-cache.ts).
import { readStatusPage } from '../db/status-store';
import type { StatusDocument } from '../domain/status-page';
import type { Services } from './context';

/** `components`: those the page lists before its first rebuild (KEEL_STATUS_COMPONENTS). */
export function getStatusPage(ctx: Pick<Services, 'db'>, components: string[]): Promise<StatusDocument> {
  return readStatusPage(ctx.db, components);
}
