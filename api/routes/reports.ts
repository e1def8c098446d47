// /v1/reports: problem intake. Customer service tools (a service key) and operators file what a
// customer reported; commanders and operators link a report to an incident or open one from it
// (services/reports.ts).
import { Router, type Request } from 'express';
import { z } from 'zod';
import { SEVERITIES } from '../../domain/incident';
import type { CommandContext, Services } from '../../services/context';
import * as reports from '../../services/reports';
import { allow, callerOf } from '../auth';
import { reportForRole } from '../personal-data';
import { businessId, isoTime, parse } from '../validation';

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

export function reportsRouter(services: Services): Router {
  const r = Router();
  const S = reportSchemas(services.settings.incidents.components);
  const CREATE = allow('service', 'operator', 'commander');
  const READ = allow('service', 'operator', 'commander', 'viewer');
  const ACT = allow('commander', 'operator');
  const id = (req: Request) => parse(S.Id, { id: req.params.id }, 'path').id;
  // Not api/context.ts's commandContext: a report's Idempotency-Key dedupes the submit (ticket
  // references such as `zd:1234.5`, up to 200 characters), it is no update id, and the other report
  // routes take none.
  const ctx = (req: Request, idempotencyKey?: string): CommandContext => ({
    ...services, actor: callerOf(req).actor, requestId: typeof req.id === 'string' && req.id ? req.id : undefined, idempotencyKey,
  });

  r.post('/', CREATE, async (req, res) => {
    const header = req.get('idempotency-key');
    const key = header === undefined ? undefined : parse(S.IdempotencyKey, header, 'Idempotency-Key header');
    const body = parse(S.Create, req.body);
    const report = await reports.createReport(ctx(req, key), body);
    res.status(report.deduplicated ? 200 : 201).json(report);
  });

  r.get('/', READ, async (req, res) => {
    const page = await reports.listReports(services, parse(S.List, req.query, 'query'));
    const { role } = callerOf(req);
    res.json({ ...page, reports: page.reports.map((rep) => reportForRole(rep, role)) });
  });

  r.get('/:id', READ, async (req, res) => {
    res.json(reportForRole(await reports.getReport(services, id(req)), callerOf(req).role));
  });

  r.post('/:id/link', ACT, async (req, res) => {
    const body = parse(S.Link, req.body);
    res.json(await reports.linkReport(ctx(req), id(req), body.incidentId));
  });

  r.post('/:id/open-incident', ACT, async (req, res) => {
    const body = parse(S.OpenIncident, req.body);
    const opened = await reports.openIncidentFromReport(ctx(req), id(req), body);
    res.status(opened.deduplicated ? 200 : 201).json(opened);
  });

  return r;
}
