// Problem-report commands: file a report (deduplicated by the submit's Idempotency-Key), read and page
// through reports, link one to an incident or open an incident from it (declareIncident, dedupe key
// `report:<id>`, so a double click opens one incident).
//
// A bookingId that Keel does not know is accepted and flagged (`bookingFound: false`), not refused:
// reports arrive when something is broken, and the booking the customer quotes may be exactly the one
// that never got written (or a typo worth a call back); refusing it would lose the report.
import {
  createReport as insertReport,
  getReport as readReport,
  linkReport as writeLink,
  listReports as readReports,
  type NewReport,
  type ReportStatus,
  type ReportView,
} from '../db/report-store';
import { getIncident as readIncident } from '../db/incident-store';
import { BUSINESS_ID_PATTERN } from '../domain/booking';
import type { Severity } from '../domain/incident';
import type { CommandContext, Services } from './context';
import { CommandError, invalid, notFound } from './errors';
import { declareIncident, getIncident } from './incidents';

const who = (ctx: Pick<CommandContext, 'actor' | 'requestId'>) => ({ actor: ctx.actor, requestId: ctx.requestId });

/**
 * With ctx.idempotencyKey (the submit's key): the same report again answers the first one
 * (`deduplicated: true`); another report under the key is a 409 DUPLICATE_CONFLICT.
 */
export async function createReport(ctx: CommandContext, r: NewReport): Promise<ReportView & { deduplicated: boolean }> {
  const key = ctx.idempotencyKey;
  const result = await insertReport(ctx.db, r, who(ctx), key);
  if (result.kind === 'different_request') {
    throw new CommandError('DUPLICATE_CONFLICT', `Idempotency-Key ${key} was used for a different report`, { reportId: result.report.reportId });
  }
  return { ...result.report, deduplicated: result.kind === 'existing' };
}

/** Opaque to callers: base64url of the last report's (createdAt, id). */
function encodeCursor(last: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([last.createdAt.toISOString(), last.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const createdAt = new Date(String(at));
    if (typeof at === 'string' && !Number.isNaN(createdAt.getTime()) && typeof id === 'string' && BUSINESS_ID_PATTERN.test(id)) {
      return { createdAt, id };
    }
  } catch {
    // fall through to the 400
  }
  throw invalid('invalid query: cursor', [{ field: 'cursor', message: 'not a cursor from a previous page' }]);
}

export interface ReportQuery {
  status?: ReportStatus;
  since?: string;
  limit: number;
  /** `next` of the previous page. */
  cursor?: string;
}

/** Newest first; `next` continues after this page (null on the last). */
export async function listReports(ctx: Pick<Services, 'db'>, q: ReportQuery): Promise<{ reports: ReportView[]; next: string | null }> {
  const page = await readReports(ctx.db, {
    status: q.status, since: q.since ? new Date(q.since) : undefined, limit: q.limit, after: q.cursor ? decodeCursor(q.cursor) : undefined,
  });
  return { reports: page.reports, next: page.more && page.last ? encodeCursor(page.last) : null };
}

export async function getReport(ctx: Pick<Services, 'db'>, reportId: string): Promise<ReportView> {
  const report = await readReport(ctx.db, reportId);
  if (!report) throw notFound(`report ${reportId}`);
  return report;
}

const alreadyLinked = (reportId: string, incidentId: string | null) =>
  new CommandError('ALREADY_LINKED', `report ${reportId} is already linked to incident ${incidentId}`, { incidentId });

/** Link to an existing incident; again to the same one changes nothing, to another one is a 409. */
export async function linkReport(ctx: CommandContext, reportId: string, incidentId: string): Promise<ReportView> {
  await getReport(ctx, reportId);
  await getIncident(ctx, incidentId);
  const result = await writeLink(ctx.db, reportId, incidentId, who(ctx));
  if (result.kind === 'missing') throw notFound(`report ${reportId}`);
  if (result.kind === 'linked_elsewhere') throw alreadyLinked(reportId, result.report.incidentId);
  return result.report;
}

export interface OpenIncidentRequest {
  severity?: Severity;
  title?: string;
  components?: string[];
}

export interface OpenedIncident {
  report: ReportView;
  incidentId: string;
  workflowId: string;
  status: string;
  deduplicated: boolean;
}

/** Declare an incident from the report (once: dedupe key `report:<id>`) and link the report to it; `deduplicated` when it was opened before. */
export async function openIncidentFromReport(ctx: CommandContext, reportId: string, req: OpenIncidentRequest): Promise<OpenedIncident> {
  const report = await getReport(ctx, reportId);
  const dedupeKey = `report:${report.reportId}`;
  if (report.incidentId) {
    // A repeated request answers with the incident this report opened; any other link is a conflict.
    const linked = await readIncident(ctx.db, report.incidentId);
    if (linked?.dedupeKey === dedupeKey) {
      return { report, incidentId: linked.incidentId, workflowId: linked.workflowId, status: linked.status, deduplicated: true };
    }
    throw alreadyLinked(report.reportId, report.incidentId);
  }
  const firstLine = report.summary.split('\n')[0];
  const declared = await declareIncident(ctx, {
    title: req.title ?? `Reported: ${firstLine.length > 180 ? `${firstLine.slice(0, 177)}...` : firstLine}`,
    severity: req.severity ?? report.severityGuess ?? 'SEV3',
    components: req.components ?? ctx.settings.incidents.components.slice(0, 1),
    // The reporter and contact are personal data: the incident (timeline, post-mortem) names the report only.
    summary: `Opened from problem report ${report.reportId}${report.bookingId ? ` (booking ${report.bookingId}${report.bookingFound ? '' : ', not found'})` : ''}: ${report.summary}`.slice(0, 4000),
    dedupeKey,
  });
  const incident = declared.incident;
  const linked = await writeLink(ctx.db, report.reportId, incident.incidentId, who(ctx), 'open_incident');
  if (linked.kind === 'missing') throw notFound(`report ${report.reportId}`);
  // Linked by someone else between our read and our write: their link stands.
  if (linked.kind === 'linked_elsewhere') throw alreadyLinked(report.reportId, linked.report.incidentId);
  return {
    report: linked.report, incidentId: incident.incidentId, workflowId: incident.workflowId,
    status: incident.status, deduplicated: declared.kind === 'existing',
  };
}
