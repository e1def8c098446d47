// The OpenAPI 3.1 document, with request schemas generated from the same zod schemas that validate
// requests (z.toJSONSchema), so the document cannot drift from what the API accepts.
import { z } from 'zod';
import { CancelBody, CreateBookingBody, EmptyBody, ExtendBody, TransitionBody } from './routes/bookings';
import { incidentSchemas } from './routes/incidents';
import { CreateCampaignBody, RateBody } from './routes/campaigns';
import { UsersBatchBody } from './routes/users';
import { PromoPoolJsonBody } from './routes/promo-pools';
import { RunPlaybookBody } from './routes/playbooks';
import { ReconcileBody } from './routes/dashboard';
import { reportSchemas } from './routes/reports';
import { SetLogLevelBody } from './routes/log-level';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

const ErrorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
  },
};

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((c) => [String(c), { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
  );

const body = (schema: z.ZodType, required = true) => ({
  required,
  content: { 'application/json': { schema: json(schema) } },
});

const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } }];

const stepParam = { name: 'stepId', in: 'path', required: true, schema: { type: 'string' } };

function action(summary: string, schema: z.ZodType, roles: string, required = false, params: object[] = idParam) {
  return {
    post: {
      summary: `${summary} (roles: ${roles})`,
      parameters: params,
      requestBody: body(schema, required),
      responses: { '200': { description: 'the booking after the change' }, ...errors(400, 401, 403, 404, 409) },
    },
  };
}

function incidentPaths(components: string[]) {
  const S = incidentSchemas(components);
  const ACT = 'commander, operator';
  return {
    '/v1/incidents': {
      post: {
        summary: `Declare an incident; with a dedupeKey, an open incident with the same key is returned (roles: ${ACT})`,
        requestBody: body(S.Declare),
        responses: { '201': { description: '{incidentId, workflowId, status}' }, '200': { description: 'the open incident with this dedupeKey' }, ...errors(400, 401, 403, 503) },
      },
      get: {
        summary: 'List incidents (roles: commander, operator, viewer)',
        parameters: [{ name: 'status', in: 'query', schema: { type: 'string', enum: ['open', 'resolved', 'closed', 'all'] } }],
        responses: { '200': { description: '{incidents: [...]}' }, ...errors(400, 401, 403) },
      },
    },
    '/v1/incidents/{id}': {
      get: { summary: 'Full state: roles, checklist, timeline, public updates, action items', parameters: idParam, responses: { '200': { description: 'the incident' }, ...errors(401, 403, 404) } },
    },
    '/v1/incidents/{id}/postmortem': {
      get: { summary: 'The blameless post-mortem (text/markdown)', parameters: idParam, responses: { '200': { description: 'Markdown' }, ...errors(401, 403, 404) } },
    },
    '/v1/incidents/{id}/roles': action('Assign or hand off a role', S.Role, ACT, true),
    '/v1/incidents/{id}/checks/run': action('Re-run the automated checks', S.Empty, ACT),
    '/v1/incidents/{id}/steps/{stepId}/complete': action('Complete a manual step', S.Complete, ACT, false, [...idParam, stepParam]),
    '/v1/incidents/{id}/steps/{stepId}/skip': action('Skip a step with a reason', S.Skip, ACT, true, [...idParam, stepParam]),
    '/v1/incidents/{id}/notes': action('Add a note to the timeline', S.Note, ACT, true),
    '/v1/incidents/{id}/status-updates': action('Post a public status update', S.StatusUpdate, ACT, true),
    '/v1/incidents/{id}/severity': action('Change the severity', S.Severity, ACT, true),
    '/v1/incidents/{id}/mitigate': action('Mark mitigated', S.Mitigate, ACT),
    '/v1/incidents/{id}/resolve': action('Resolve', S.Resolve, ACT, true),
    '/v1/incidents/{id}/action-items': action('Add a post-mortem action item', S.ActionItem, ACT, true),
    '/v1/incidents/{id}/close': action('Close after the post-mortem (retrospective sections optional)', S.Close, ACT),
    '/v1/status': { get: { security: [], summary: 'The public status page as JSON', responses: { '200': { description: 'status document' } } } },
    '/status': { get: { security: [], summary: 'The public status page (HTML)', responses: { '200': { description: 'HTML' } } } },
  };
}

function campaignPaths() {
  const W = 'service, operator';
  const keyHeader = { name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$' } };
  return {
    '/v1/users/batch': {
      post: { summary: `Upsert up to 10,000 users (roles: ${W})`, requestBody: body(UsersBatchBody), responses: { '200': { description: '{received, inserted, updated}' }, ...errors(400, 401, 403, 413, 415) } },
    },
    '/v1/promo-pools': {
      post: {
        summary: `Upload a promo code pool, JSON {name, codes} or text/csv with ?name= (roles: ${W})`,
        parameters: [keyHeader],
        requestBody: { required: true, content: { 'application/json': { schema: json(PromoPoolJsonBody) }, 'text/csv': { schema: { type: 'string' } } } },
        responses: { '201': { description: '{poolId, size}' }, '200': { description: 'same key, same codes' }, ...errors(400, 401, 403, 409, 413) },
      },
    },
    '/v1/promo-pools/{id}': { get: { summary: 'Pool size, assigned and free codes', parameters: idParam, responses: { '200': { description: 'the pool' }, ...errors(401, 403, 404) } } },
    '/v1/campaigns': {
      post: {
        summary: `Submit a campaign (roles: ${W}); same key and body again: 200 and the same campaign`,
        parameters: [keyHeader],
        requestBody: body(CreateCampaignBody),
        responses: { '202': { description: '{campaignId, workflowId, status}' }, '200': { description: 'the existing campaign' }, ...errors(400, 401, 403, 409, 503) },
      },
    },
    '/v1/campaigns/{id}': {
      get: { summary: 'Status and counters: total, sent, failed, skipped, pending, ratePerSecond, etaSeconds', parameters: idParam, responses: { '200': { description: 'the campaign' }, ...errors(401, 403, 404) } },
      patch: { summary: `Change the rate (roles: ${W})`, parameters: idParam, requestBody: body(RateBody), responses: { '200': { description: 'the campaign' }, ...errors(400, 401, 403, 404, 409) } },
    },
    '/v1/campaigns/{id}/deliveries': {
      get: {
        summary: 'Deliveries, paginated by position (?status=pending|sent|failed|skipped&limit=&after=)',
        parameters: idParam,
        responses: { '200': { description: '{deliveries, next}' }, ...errors(400, 401, 403, 404) },
      },
    },
    '/v1/campaigns/{id}/pause': action('Pause: no new sends within seconds', EmptyBody, W),
    '/v1/campaigns/{id}/resume': action('Resume where it stopped', EmptyBody, W),
    '/v1/campaigns/{id}/cancel': action('Cancel; counts final', EmptyBody, W),
    '/v1/campaigns/{id}/retry-failed': action('Send the failed deliveries again (COMPLETED campaigns)', EmptyBody, W),
  };
}

function reportPaths(components: string[]) {
  const S = reportSchemas(components);
  const ACT = 'commander, operator';
  const ALL = 'service, operator, commander, viewer';
  const keyHeader = { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,200}$' } };
  const q = (name: string, schema: object) => ({ name, in: 'query', required: false, schema });
  return {
    '/v1/health/stuck': {
      get: {
        summary: `What the stuck-work watchdog found on its latest run: {checkedAt, stale, stuck: [{kind, id, since, ageMs, summary, evidence, workflowId, link}], counts, errors, incidentId}; ?fresh=true detects inline without storing or opening an incident (roles: ${ALL})`,
        parameters: [q('fresh', { type: 'string', enum: ['true', 'false'] })],
        responses: { '200': { description: 'the findings' }, ...errors(400, 401, 403) },
      },
    },
    '/v1/reports': {
      post: {
        summary: 'File a problem report; with an Idempotency-Key the same submit again answers 200 and the same report, another body 409 (roles: service, operator, commander). An unknown bookingId is kept and flagged bookingFound: false',
        parameters: [keyHeader],
        requestBody: body(S.Create),
        responses: { '201': { description: 'the report: {reportId, status, bookingFound, ...}' }, '200': { description: 'the same submit again' }, ...errors(400, 401, 403, 409, 413) },
      },
      get: {
        summary: `Reports, newest first (roles: ${ALL})`,
        parameters: [
          q('status', { type: 'string', enum: ['NEW', 'LINKED'] }), q('since', { type: 'string', format: 'date-time' }),
          q('limit', { type: 'integer', minimum: 1, maximum: 100, default: 50 }), q('cursor', { type: 'string', description: '`next` of the previous page' }),
        ],
        responses: { '200': { description: '{reports, next}' }, ...errors(400, 401, 403) },
      },
    },
    '/v1/reports/{id}': { get: { summary: `One report (roles: ${ALL})`, parameters: idParam, responses: { '200': { description: 'the report' }, ...errors(401, 403, 404) } } },
    '/v1/reports/{id}/link': {
      post: {
        summary: `Link to an existing incident; 409 ALREADY_LINKED when linked to another (roles: ${ACT})`,
        parameters: idParam,
        requestBody: body(S.Link),
        responses: { '200': { description: 'the report' }, ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/reports/{id}/open-incident': {
      post: {
        summary: `Open an incident from the report (severity defaults to the report's guess, then SEV3) and link it; again: 200 and the same incident (roles: ${ACT})`,
        parameters: idParam,
        requestBody: body(S.OpenIncident, false),
        responses: { '201': { description: '{report, incidentId, workflowId, status}' }, '200': { description: 'the incident this report already opened' }, ...errors(400, 401, 403, 404, 409, 503) },
      },
    },
  };
}

function playbookPaths() {
  const CS = 'operator, commander';
  const nameParam = [{ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' } }];
  return {
    '/v1/playbooks': {
      get: {
        summary: `The playbook queries: {playbooks: [{name, description, params: [{name, type, required, default?, values?, description?}]}], maxRows} (roles: ${CS})`,
        responses: { '200': { description: 'the list' }, ...errors(401, 403) },
      },
    },
    '/v1/playbooks/{name}': {
      get: { summary: `One playbook with its SQL (roles: ${CS})`, parameters: nameParam, responses: { '200': { description: 'the playbook' }, ...errors(401, 403, 404) } },
    },
    '/v1/playbooks/{name}/run': {
      post: {
        summary: `Run a playbook in a read-only transaction with a statement timeout and a row limit; audited (roles: ${CS}). Parameter types: id, text, timestamp (ISO 8601, a date, now, now-7d), period (<from>/<to>), interval (30m), integer, enum, limit`,
        parameters: nameParam,
        requestBody: body(RunPlaybookBody, false),
        responses: {
          '200': {
            description: '{name, params (resolved), columns: [{name, type}], rows, rowCount, truncated, durationMs}; with Accept: text/csv, RFC 4180 CSV with a header row (X-Playbook-Row-Count, X-Playbook-Truncated)',
            content: { 'application/json': { schema: { type: 'object' } }, 'text/csv': { schema: { type: 'string' } } },
          },
          '422': { description: 'READ_ONLY_VIOLATION (the query tried to write) or QUERY_TIMEOUT', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
  };
}

export function openApiDocument(components: string[]) {
  return {
    openapi: '3.1.0',
    info: { title: 'Keel API', version: '1', description: 'Durable booking operations on Temporal.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ErrorBody },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/bookings': {
        post: {
          summary: 'Create a booking and start its lifecycle workflow (roles: service, operator)',
          requestBody: body(CreateBookingBody),
          responses: {
            '201': { description: 'created: {bookingId, workflowId, status}' },
            '200': { description: 'the same request again: the existing booking' },
            ...errors(400, 401, 403, 409, 413, 503),
          },
        },
      },
      '/v1/bookings/{id}': {
        get: {
          summary: 'Current state, times, events and whether connect is allowed (all roles)',
          parameters: idParam,
          responses: { '200': { description: 'the booking' }, ...errors(401, 404) },
        },
      },
      '/v1/bookings/{id}/cancel': action('Cancel before start', CancelBody, 'service, operator'),
      '/v1/bookings/{id}/extend': action('Move the end later', ExtendBody, 'service, operator', true),
      '/v1/bookings/{id}/connect': action('Connect to car (allowed while ONGOING or OVERDUE)', EmptyBody, 'service, operator'),
      '/v1/bookings/{id}/return': action('Return the car', EmptyBody, 'service, operator'),
      '/v1/bookings/{id}/transition': action('Force a transition (audited, reason required)', TransitionBody, 'operator', true),
      '/healthz': { get: { security: [], summary: 'Process alive', responses: { '200': { description: 'ok' } } } },
      '/readyz': {
        get: { security: [], summary: 'Temporal and database reachable', responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } } },
      },
      '/v1/openapi.json': { get: { security: [], summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/v1/dashboard': {
        get: {
          summary: 'Active cars, bookings by status, today\'s revenue (business time zone), running campaigns, open incidents, from summary rows (all roles)',
          parameters: [{ name: 'timeZone', in: 'query', schema: { type: 'string' }, description: 'IANA time zone of "today" (default KEEL_BUSINESS_TIME_ZONE)' }],
          responses: { '200': { description: 'the dashboard' }, ...errors(400, 401, 403, 503) },
        },
      },
      '/v1/dashboard/reconcile': {
        post: {
          summary: 'Recount the summary from the raw tables now and correct drift (roles: operator)',
          requestBody: body(ReconcileBody, false),
          responses: { '200': { description: '{workflowId, report}' }, '202': { description: 'still running: {workflowId}' }, ...errors(400, 401, 403, 503) },
        },
      },
      ...incidentPaths(components),
      ...campaignPaths(),
      '/v1/admin/log-level': {
        put: {
          summary: 'Emergency log level for a window: {level, component?: api|worker (omitted: all), minutes: 1..1440, reason?}; reverts on its own (roles: operator)',
          requestBody: body(SetLogLevelBody),
          responses: { '200': { description: '{windows: [{component, level, revertsAt, setBy, reason, workflowId}]}' }, ...errors(400, 401, 403, 503) },
        },
        get: {
          summary: 'Per component: level in force (null: each process at its LOG_LEVEL), revertsAt, setBy, and the live processes with the level each applied (roles: operator, commander, viewer)',
          responses: { '200': { description: '{components: [...]}' }, ...errors(401, 403) },
        },
      },
      '/metrics': { get: { security: [], summary: 'Prometheus metrics (text exposition); no key, protect at the network level', responses: { '200': { description: 'text/plain; version=0.0.4' } } } },
      ...playbookPaths(),
      ...reportPaths(components),
    },
  };
}
