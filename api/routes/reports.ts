// /v1/reports: problem intake. Customer service tools (a service key) and operators file what a
// customer reported; commanders and operators link a report to an incident or open one from it (the
// shared declare path, dedupe key `report:<id>`, so a double click opens one incident).
//
// A bookingId that Keel does not know is accepted and flagged (`bookingFound: false`), not refused:
// reports arrive when something is broken, and the booking the customer quotes may be exactly the one
// that never got written (or a typo worth a call back); refusing it would lose the report.
import { Router, type Request } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { getIncident } from '../../db/incident-store';
import { createReport, getReport, linkReport, listReports, type ReportView } from '../../db/report-store';
import { SEVERITIES, type RunbookSnapshot, type Severity } from '../../domain/incident';
import { declareIncident, NoRunbookError } from '../../services/declare-incident';
import { allow, callerOf } from '../auth';
import { ApiError } from '../errors';
import { businessId, isoTime, parse } from '../validation';

export interface ReportRouterDeps {
  db: Db;
  client: Client;
  taskQueuePrefix: string;
  components: string[];
  runbooks: Map<Severity, RunbookSnapshot>;
}

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);

export function reportSchemas(components: string[]) {
  const component = z.enum(components as [string, ...string[]], { message: `must be one of: ${components.join(', ')}` });
  return {
    Create: z.strictObject({
      reporter: text(200),
      /** How to reach the reporter back: an e-mail address, a phone number, a ticket reference. */
      contact: text(200),
      summary: text(4000),
      severityGuess: z.enum(SEVERITIES).optional(),
      bookingId: businessId.optional(),
    }),
    Link: z.strictObject({ incidentId: businessId }),
    OpenIncident: z.strictObject({
      severity: z.enum(SEVERITIES).optional(),
      title: text(200).optional(),
      components: z.array(component).min(1, 'name at least one component').max(components.length)
        .refine((c) => new Set(c).size === c.length, 'components must not repeat').optional(),
    }),
    List: z.strictObject({
      status: z.enum(['NEW', 'LINKED', 'new', 'linked']).transform((s) => s.toUpperCase() as 'NEW' | 'LINKED').optional(),
      since: isoTime.optional(),
      limit: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1).max(100).default(50),
      cursor: z.string().max(200).optional(),
    }),
    Id: z.strictObject({ id: businessId }),
    IdempotencyKey: z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'must be 1-200 characters of A-Z, a-z, 0-9, _ . : or -'),
  };
}

/** Opaque to callers: base64url of the last report's (createdAt, id). */
function encodeCursor(last: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([last.createdAt.toISOString(), last.id])).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const createdAt = new Date(String(at));
    if (typeof at === 'string' && !Number.isNaN(createdAt.getTime()) && typeof id === 'string' && businessId.safeParse(id).success) {
      return { createdAt, id };
    }
  } catch {
    // fall through to the 400
  }
  throw new ApiError(400, 'VALIDATION_FAILED', 'invalid query: cursor', { fields: [{ field: 'cursor', message: 'not a cursor from a previous page' }] });
}

export function reportsRouter(deps: ReportRouterDeps): Router {
  const r = Router();
  const S = reportSchemas(deps.components);
  const CREATE = allow('service', 'operator', 'commander');
  const READ = allow('service', 'operator', 'commander', 'viewer');
  const ACT = allow('commander', 'operator');
  const who = (req: Request) => ({ actor: callerOf(req).actor, requestId: String(req.id ?? '') || undefined });

  async function load(req: Request): Promise<ReportView> {
    const { id } = parse(S.Id, { id: req.params.id }, 'path');
    const report = await getReport(deps.db, id);
    if (!report) throw new ApiError(404, 'NOT_FOUND', `no report ${id}`);
    return report;
  }

  r.post('/', CREATE, async (req, res) => {
    const header = req.get('idempotency-key');
    const key = header === undefined ? undefined : parse(S.IdempotencyKey, header, 'Idempotency-Key header');
    const body = parse(S.Create, req.body);
    const result = await createReport(deps.db, body, who(req), key);
    if (result.kind === 'different_request') {
      throw new ApiError(409, 'DUPLICATE_CONFLICT', `Idempotency-Key ${key} was used for a different report`, { reportId: result.report.reportId });
    }
    res.status(result.kind === 'created' ? 201 : 200).json({ ...result.report, deduplicated: result.kind === 'existing' });
  });

  r.get('/', READ, async (req, res) => {
    const q = parse(S.List, req.query, 'query');
    const page = await listReports(deps.db, {
      status: q.status, since: q.since ? new Date(q.since) : undefined, limit: q.limit, after: q.cursor ? decodeCursor(q.cursor) : undefined,
    });
    res.json({ reports: page.reports, next: page.more && page.last ? encodeCursor(page.last) : null });
  });

  r.get('/:id', READ, async (req, res) => {
    res.json(await load(req));
  });

  r.post('/:id/link', ACT, async (req, res) => {
    const body = parse(S.Link, req.body);
    const report = await load(req);
    const incident = await getIncident(deps.db, body.incidentId);
    if (!incident) throw new ApiError(404, 'NOT_FOUND', `no incident ${body.incidentId}`);
    const result = await linkReport(deps.db, report.reportId, incident.incidentId, who(req));
    if (result.kind === 'missing') throw new ApiError(404, 'NOT_FOUND', `no report ${report.reportId}`);
    if (result.kind === 'linked_elsewhere') {
      throw new ApiError(409, 'ALREADY_LINKED', `report ${report.reportId} is already linked to incident ${result.report.incidentId}`, {
        incidentId: result.report.incidentId,
      });
    }
    res.json(result.report);
  });

  r.post('/:id/open-incident', ACT, async (req, res) => {
    const body = parse(S.OpenIncident, req.body);
    const report = await load(req);
    const dedupeKey = `report:${report.reportId}`;
    if (report.incidentId) {
      // A repeated request answers with the incident this report opened; any other link is a conflict.
      const linked = await getIncident(deps.db, report.incidentId);
      if (linked?.dedupeKey === dedupeKey) {
        res.json({ report, incidentId: linked.incidentId, workflowId: linked.workflowId, status: linked.status, deduplicated: true });
        return;
      }
      throw new ApiError(409, 'ALREADY_LINKED', `report ${report.reportId} is already linked to incident ${report.incidentId}`, { incidentId: report.incidentId });
    }
    const firstLine = report.summary.split('\n')[0];
    let declared;
    try {
      declared = await declareIncident(deps, {
        title: body.title ?? `Reported: ${firstLine.length > 180 ? `${firstLine.slice(0, 177)}...` : firstLine}`,
        severity: body.severity ?? report.severityGuess ?? 'SEV3',
        components: body.components ?? deps.components.slice(0, 1),
        // The reporter and contact are personal data: the incident (timeline, post-mortem) names the report only.
        summary: `Opened from problem report ${report.reportId}${report.bookingId ? ` (booking ${report.bookingId}${report.bookingFound ? '' : ', not found'})` : ''}: ${report.summary}`.slice(0, 4000),
        dedupeKey,
        declaredBy: callerOf(req).actor,
        requestId: who(req).requestId,
      });
    } catch (err) {
      if (err instanceof NoRunbookError) throw new ApiError(400, 'VALIDATION_FAILED', err.message);
      throw err;
    }
    const incident = declared.incident;
    const linked = await linkReport(deps.db, report.reportId, incident.incidentId, who(req), 'open_incident');
    if (linked.kind === 'missing') throw new ApiError(404, 'NOT_FOUND', `no report ${report.reportId}`);
    if (linked.kind === 'linked_elsewhere') {
      // Linked by someone else between our read and our write: their link stands.
      throw new ApiError(409, 'ALREADY_LINKED', `report ${report.reportId} is already linked to incident ${linked.report.incidentId}`, {
        incidentId: linked.report.incidentId,
      });
    }
    res.status(declared.kind === 'created' ? 201 : 200).json({
      report: linked.report, incidentId: incident.incidentId, workflowId: incident.workflowId, status: incident.status,
      deduplicated: declared.kind === 'existing',
    });
  });

  return r;
}
