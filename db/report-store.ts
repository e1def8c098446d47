// The one write path for problem reports: creating one (deduplicated by the submit's Idempotency-Key)
// and linking it to an incident each write the row and its audit entry in one transaction. Reads for
// the API live here too. The reporter's contact is personal data: it is stored on the row only, never
// copied into audit details, incidents or logs.
import { createHash, randomBytes } from 'node:crypto';
import type { Db, Prisma } from './client';
import { isUniqueViolation } from './errors';
import type { Severity } from '../domain/incident';

export interface NewReport {
  reporter: string;
  contact: string;
  summary: string;
  severityGuess?: Severity;
  bookingId?: string;
}

export interface Who {
  actor: string;
  requestId?: string;
}

export type ReportStatus = 'NEW' | 'LINKED';
type ReportRow = Prisma.ProblemReportGetPayload<object>;

export interface ReportView {
  reportId: string;
  reporter: string;
  contact: string;
  summary: string;
  severityGuess: Severity | null;
  bookingId: string | null;
  /** Whether bookingId named a booking Keel knew when the report came in (null without a bookingId). */
  bookingFound: boolean | null;
  incidentId: string | null;
  status: ReportStatus;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
}

export function reportView(r: ReportRow): ReportView {
  return {
    reportId: r.id, reporter: r.reporter, contact: r.contact, summary: r.summary, severityGuess: (r.severityGuess as Severity | null) ?? null,
    bookingId: r.bookingId, bookingFound: r.bookingFound, incidentId: r.incidentId, status: r.status,
    createdAt: r.createdAt.toISOString(), createdBy: r.createdBy, updatedAt: r.updatedAt.toISOString(),
  };
}

/** sha256 of the report's content: the same submit again hashes alike, another body under the same key does not. */
export function reportRequestHash(r: NewReport): string {
  return createHash('sha256')
    .update(JSON.stringify([r.reporter, r.contact, r.summary, r.severityGuess ?? null, r.bookingId ?? null]))
    .digest('hex');
}

function newReportId(now: Date): string {
  return `rep-${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
}

export type CreateReportResult =
  | { kind: 'created'; report: ReportView }
  | { kind: 'existing'; report: ReportView }
  | { kind: 'different_request'; report: ReportView };

export async function createReport(db: Db, r: NewReport, who: Who, idempotencyKey?: string): Promise<CreateReportResult> {
  const requestHash = reportRequestHash(r);
  const judge = (row: ReportRow): CreateReportResult =>
    row.requestHash === requestHash ? { kind: 'existing', report: reportView(row) } : { kind: 'different_request', report: reportView(row) };
  if (idempotencyKey) {
    const existing = await db.problemReport.findUnique({ where: { idempotencyKey } });
    if (existing) return judge(existing);
  }
  try {
    const row = await db.$transaction(async (tx) => {
      const bookingFound = r.bookingId ? (await tx.booking.count({ where: { id: r.bookingId } })) > 0 : null;
      const created = await tx.problemReport.create({
        data: {
          id: newReportId(new Date()), reporter: r.reporter, contact: r.contact, summary: r.summary, severityGuess: r.severityGuess ?? null,
          bookingId: r.bookingId ?? null, bookingFound, idempotencyKey: idempotencyKey ?? null, requestHash, createdBy: who.actor,
        },
      });
      await tx.auditLog.create({
        data: {
          actor: who.actor, action: 'report.create', resourceType: 'problem_report', resourceId: created.id, requestId: who.requestId,
          details: { severityGuess: r.severityGuess ?? null, bookingId: r.bookingId ?? null, bookingFound, idempotencyKey: idempotencyKey ?? null },
        },
      });
      return created;
    });
    return { kind: 'created', report: reportView(row) };
  } catch (err) {
    if (!idempotencyKey || !isUniqueViolation(err)) throw err;
    // Two identical submits at once: the loser answers with the winner's report.
    return judge(await db.problemReport.findUniqueOrThrow({ where: { idempotencyKey } }));
  }
}

export async function getReport(db: Db, id: string): Promise<ReportView | undefined> {
  const row = await db.problemReport.findUnique({ where: { id } });
  return row ? reportView(row) : undefined;
}

export interface ReportListFilter {
  status?: ReportStatus;
  since?: Date;
  limit: number;
  /** Continue after this (createdAt, id): the previous page's last report. */
  after?: { createdAt: Date; id: string };
}

/** Newest first, keyset-paginated on (created_at, id): both orders are served by an index. */
export async function listReports(db: Db, f: ReportListFilter): Promise<{ reports: ReportView[]; last?: { createdAt: Date; id: string }; more: boolean }> {
  const where: Prisma.ProblemReportWhereInput = {
    ...(f.status ? { status: f.status } : {}),
    ...(f.since ? { createdAt: { gte: f.since } } : {}),
    ...(f.after ? { OR: [{ createdAt: { lt: f.after.createdAt } }, { createdAt: f.after.createdAt, id: { lt: f.after.id } }] } : {}),
  };
  const rows = await db.problemReport.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: f.limit + 1 });
  const page = rows.slice(0, f.limit);
  const lastRow = page.at(-1);
  return { reports: page.map(reportView), last: lastRow && { createdAt: lastRow.createdAt, id: lastRow.id }, more: rows.length > f.limit };
}

export type LinkResult =
  | { kind: 'linked'; report: ReportView }
  | { kind: 'already_linked'; report: ReportView }
  | { kind: 'linked_elsewhere'; report: ReportView }
  | { kind: 'missing' };

/**
 * Link a report to an incident. Linking to the incident it is already linked to changes nothing (a
 * retry); a report linked to another incident is refused, so a link is never silently moved.
 */
export async function linkReport(db: Db, id: string, incidentId: string, who: Who, how: 'link' | 'open_incident' = 'link'): Promise<LinkResult> {
  return db.$transaction(async (tx) => {
    const changed = await tx.problemReport.updateMany({
      where: { id, incidentId: null },
      data: { incidentId, status: 'LINKED', updatedAt: new Date() },
    });
    const row = await tx.problemReport.findUnique({ where: { id } });
    if (!row) return { kind: 'missing' } as const;
    if (changed.count === 0) {
      return row.incidentId === incidentId ? { kind: 'already_linked', report: reportView(row) } as const : { kind: 'linked_elsewhere', report: reportView(row) } as const;
    }
    await tx.auditLog.create({
      data: {
        actor: who.actor, action: `report.${how}`, resourceType: 'problem_report', resourceId: id, requestId: who.requestId,
        details: { incidentId },
      },
    });
    return { kind: 'linked', report: reportView(row) } as const;
  });
}
