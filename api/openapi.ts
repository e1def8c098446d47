// The OpenAPI 3.1 document, with request schemas generated from the same zod schemas that validate
// requests (z.toJSONSchema), so the document cannot drift from what the API accepts.
//
// The document is exact, and checked from outside: schemathesis (scripts/schemathesis.ts,
// test/api/openapi-fuzz.test.ts) runs every operation against a live API with `--checks all`. So:
// - every status an operation can answer is listed, with its content type (errors: the Error schema);
// - path parameters carry the patterns their routers check;
// - what JSON Schema can state is in the schema, including what zod only checks in code: the length
//   of a trimmed string, "no control characters", unique items, IANA time zone names, E.164 phones;
// - what it cannot state (endsAt after startsAt, a pool or users that must exist, an opaque cursor)
//   is written in the operation's description next to the status it answers (schemathesis.toml
//   names those operations, see there).
// The same document drives the 405 handler (api/method-not-allowed.ts), the Idempotency-Key format
// check on action routes (api/idempotency-key.ts) and the interactive docs at /docs (api/docs.ts).
import { IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PATTERN } from './context';
import { z } from 'zod';
import { CancelBody, CreateBookingBody, EmptyBody, ExtendBody, TransitionBody } from './routes/bookings';
import { incidentSchemas } from './routes/incidents';
import { CreateCampaignBody, PreviewBody, RateBody } from './routes/campaigns';
import { CAMPAIGN_BODY_LIMIT, MAX_AUDIENCE_IDS } from '../domain/campaign-audience';
import { UsersBatchBody } from './routes/users';
import { PromoPoolJsonBody } from './routes/promo-pools';
import { RunPlaybookBody } from './routes/playbooks';
import { DashboardQuery, ReconcileBody } from './routes/dashboard';
import { reportSchemas } from './routes/reports';
import { SetLogLevelBody } from './routes/log-level';
import { StuckQuery } from './routes/stuck';
import { businessId } from './validation';
import { ALLOWED_FILTERS, ALLOWED_TAGS, SAMPLE_VALUES, TEMPLATE_LIMITS, TEMPLATE_VARIABLES } from '../domain/template';

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Schemas from zod, with what zod checks in code made explicit.

/** What JavaScript's String.prototype.trim() removes (and `\s` matches), spelled out so the pattern
 * means the same in every regex dialect (Python's `\s` also matches U+001C..U+001F and U+0085). */
const JS_SPACE = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const CONTROL = '\\u0000-\\u001f\\u007f';

/**
 * The pattern of a string zod trims and then bounds: any surrounding white space, then 1..max
 * characters that start and end with a non-space (and hold no control character when `noControl`).
 * JSON Schema's min/maxLength would count the surrounding space, so the bound lives in the pattern.
 */
function trimmedPattern(min: number, max: number, noControl: boolean): string {
  const edge = `[^${noControl ? CONTROL : ''}${JS_SPACE}]`;
  const inner = noControl ? `[^${CONTROL}]` : '[\\s\\S]';
  if (min > 1) throw new Error(`trimmedPattern: min ${min} is not supported`);
  const core = max === 1 ? edge : `${edge}(?:${inner}{0,${max - 2}}${edge})?`;
  return `^[${JS_SPACE}]*${min === 0 ? `(?:${core})?` : core}[${JS_SPACE}]*$`;
}

interface ZodCheckDef {
  check?: string;
  minimum?: number;
  maximum?: number;
  tx?: (v: string) => string;
}

/** For a zod string: whether it trims before its length checks, and whether it refuses control characters. */
function stringRules(schema: z.ZodType): { trimmed?: { min: number; max: number }; noControl: boolean } | undefined {
  const def = (schema as unknown as { _zod: { def: { type: string; checks?: Array<{ _zod: { def: ZodCheckDef } }> } } })._zod.def;
  if (def.type !== 'string' || !def.checks?.length) return undefined;
  const checks = def.checks.map((c) => c._zod.def);
  const trimAt = checks.findIndex((c) => c.check === 'overwrite' && c.tx?.(' \u00a0x\t') === 'x');
  const after = trimAt < 0 ? [] : checks.slice(trimAt + 1);
  const min = after.find((c) => c.check === 'min_length')?.minimum;
  const max = after.find((c) => c.check === 'max_length')?.maximum;
  // A refinement is code; probe it for the one rule the API uses: no control characters.
  const noControl = checks.some((c) => c.check === 'custom') && schema.safeParse('ab').success && !schema.safeParse('a\u0001b').success;
  return { trimmed: trimAt >= 0 && max !== undefined ? { min: min ?? 0, max } : undefined, noControl };
}

function json(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const rules = stringRules(ctx.zodSchema as unknown as z.ZodType);
      const s = ctx.jsonSchema as Json;
      if (rules?.trimmed) {
        delete s.minLength;
        delete s.maxLength;
        s.pattern = trimmedPattern(rules.trimmed.min, rules.trimmed.max, rules.noControl);
      } else if (rules?.noControl) {
        s.pattern = `^[^${CONTROL}]*$`;
      } else if (s.type === 'string' && s.pattern === undefined && s.enum === undefined && s.const === undefined) {
        // No string may hold U+0000 (PostgreSQL text cannot): api/validation.ts refuseNulCharacters.
        s.pattern = '^[^\\u0000]*$';
      }
      // zod checks e-mail addresses, dates and times with its own patterns, which are kept: a format
      // beside them would be another rule (RFC 3339 allows a lowercase t, leap seconds...).
      // \d is [0-9] in JavaScript but any Unicode digit in other dialects (Python's).
      const ascii = (p: unknown) => (typeof p === 'string' ? p.replace(/\\d/g, '[0-9]') : p);
      for (const part of Array.isArray(s.allOf) ? (s.allOf as Json[]) : []) if (part.pattern) part.pattern = ascii(part.pattern);
      if (typeof s.pattern === 'string' || Array.isArray(s.allOf)) {
        if (s.pattern) s.pattern = ascii(s.pattern);
        if (s.format === 'date-time') s.description ??= 'ISO 8601 date-time with an offset (Z or +hh:mm), e.g. 2026-12-01T10:00:00Z';
        if (s.format === 'date') s.description ??= 'a date, YYYY-MM-DD';
        if (s.format === 'email' || s.format === 'date-time' || s.format === 'date') delete s.format;
      }
    },
  }) as Json;
  delete out.$schema; // OpenAPI 3.1's own dialect is JSON Schema 2020-12 already
  return out;
}

/** The object at `path` inside `schema` (throws when the zod schema no longer has that shape). */
function at(schema: Json, path: string): Json {
  let node: unknown = schema;
  for (const key of path.split('.')) {
    node = (node as Json | undefined)?.[key];
    if (node === undefined) throw new Error(`openapi: no ${path} in the generated schema`);
  }
  return node as Json;
}
const patch = (schema: Json, path: string, extra: Json): Json => Object.assign(at(schema, path), extra);

/** Every zone name this process's Intl knows (what isValidTimeZone and the users' timezone accept). */
function timeZones(): string[] {
  const zones = new Set(['UTC', ...Intl.supportedValuesOf('timeZone')]);
  return [...zones].filter((tz) => tz.length <= 64).sort();
}
const TIME_ZONE_NOTE = 'IANA time zone name; aliases such as US/Pacific or a different letter case are also accepted (and stored canonical)';

/** E.164 after removing spaces, dots, dashes and parentheses (users.ts `phone`). */
const PHONE = `^[${JS_SPACE}().-]*\\+[${JS_SPACE}().-]*[1-9](?:[${JS_SPACE}().-]*[0-9]){6,14}[${JS_SPACE}().-]*$`;
/** A BCP 47 tag: language, optional script, region and variant (users.ts `locale`, Intl.getCanonicalLocales). */
const LOCALE = '^(?:[A-Za-z]{2,3}|[A-Za-z]{5,8})(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))?$';

/**
 * A text/csv promo upload as promo-pools.ts parseCsvCodes reads it: an optional BOM, lines split at
 * CR LF, LF or CR, each trimmed, blank ones skipped, a value optionally in double quotes; at least one
 * code. (That each code appears once is said in words: a pattern cannot.)
 */
const CSV_CODES = (() => {
  const sp = JS_SPACE.replace('\\n', '').replace('\\r', ''); // white space within a line
  const inQuotes = sp.replace('\\u2028\\u2029', ''); // `.` in ^"(.*)"$ stops at U+2028/U+2029
  const code = '[A-Za-z0-9_-]{1,100}';
  const item = `[${sp}]*(?:${code}|"[${inQuotes}]*${code}[${inQuotes}]*")[${sp}]*`;
  const blank = `[${sp}]*`;
  const eol = '(?:\\r\\n|\\n|\\r)';
  return `^\\ufeff?(?:${blank}${eol})*${item}(?:${eol}(?:${item}|${blank}))*$`;
})();

/** Query parameters from a zod object schema (one parameter per property). */
function queryParams(schema: z.ZodType, extra: Record<string, Json> = {}): Json[] {
  const s = json(schema);
  const required = new Set((s.required as string[] | undefined) ?? []);
  return Object.entries(s.properties as Record<string, Json>).map(([name, p]) => {
    const { description, ...rest } = { ...p, ...extra[name] };
    return { name, in: 'query', required: required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

// ---------------------------------------------------------------------------------------------
// Parameters.

const pathParam = (name: string, schema: Json, description?: string) => ({ name, in: 'path', required: true, ...(description ? { description } : {}), schema });
const idParam = [pathParam('id', json(businessId))];

/**
 * The optional Idempotency-Key of action routes: the same key with the same request answers like the
 * first time, another request under it is 409 IDEMPOTENCY_CONFLICT. Its format is checked for every
 * operation that lists this very object (api/idempotency-key.ts).
 */
export const ACTION_IDEMPOTENCY_KEY = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Optional. Repeat the request under the same key to get the first answer again; another request under the same key is 409 IDEMPOTENCY_CONFLICT.',
  // The pattern api/context.ts checks (one declaration).
  schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN.source },
} as const;

// ---------------------------------------------------------------------------------------------
// Responses.

const ERROR = { $ref: '#/components/schemas/Error' };
const errorContent = { 'application/json': { schema: ERROR } };
const retryAfter = {
  'Retry-After': { required: true, description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
};

const COMMON_RESPONSES: Record<string, Json> = {
  BadRequest: {
    description: 'VALIDATION_FAILED: a path, query, header or body value breaks this document or a rule in the description (details.fields names each); MALFORMED_JSON: the body is not JSON',
    content: errorContent,
  },
  Unauthorized: { description: 'UNAUTHORIZED: no bearer key, or an unknown one', content: errorContent },
  Forbidden: { description: "FORBIDDEN: the key's role may not do this", content: errorContent },
  NotFound: { description: 'NOT_FOUND', content: errorContent },
  PayloadTooLarge: { description: 'PAYLOAD_TOO_LARGE: the body exceeds the limit', content: errorContent },
  UnsupportedMediaType: { description: 'UNSUPPORTED_MEDIA_TYPE: a body encoding, charset or content type this operation does not read', content: errorContent },
  Internal: { description: 'INTERNAL: a bug; the X-Request-Id header finds it in the logs', content: errorContent },
  Unavailable: { description: 'DATABASE_UNAVAILABLE or TEMPORAL_UNAVAILABLE: retry after Retry-After seconds', headers: retryAfter, content: errorContent },
  ActionUnavailable: {
    description: 'DATABASE_UNAVAILABLE, TEMPORAL_UNAVAILABLE, or WORKER_UNAVAILABLE (no worker is serving the workflow): retry after Retry-After seconds',
    headers: retryAfter,
    content: errorContent,
  },
};
const ref = (name: keyof typeof COMMON_RESPONSES) => ({ $ref: `#/components/responses/${name}` });
const error = (description: string) => ({ description, content: errorContent });

const jsonContent = (schema: Json = { type: 'object' }) => ({ 'application/json': { schema } });
const ok = (description: string, schema?: Json) => ({ description, content: jsonContent(schema) });
const html = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });

/** The status page's conditional GET (api/routes/status.ts, services/status-page-cache.ts). */
const STATUS_PAGE_NOTE =
  'Served from a copy rendered once per change, at most about 1 s behind the stored document, and kept while the ' +
  'database is unreachable (503 only before this process has read the page once). Send the ETag back in ' +
  'If-None-Match: 304 without a body while the page is unchanged.';
const etagHeader = { ETag: { description: 'strong validator of this body', schema: { type: 'string' } } };
const notModified = { description: 'If-None-Match matched the current ETag: no body', headers: etagHeader };

const ALL_ROLES = ['service', 'operator', 'commander', 'viewer'];

interface Op {
  summary: string;
  description?: string;
  /** Roles allowed; omitted: public (no key). */
  roles?: string[];
  parameters?: object[];
  requestBody?: Json;
  /** The operation's own answers: 2xx, and any 404/409/422 with their codes. */
  responses: Record<string, Json>;
  /** Reads or writes the database or Temporal (503 when they are down). */
  backend?: boolean;
  /** An action on a workflow: 503 may also be WORKER_UNAVAILABLE. */
  action?: boolean;
}

/**
 * An operation with the answers every route has: 400 (every keyed route sits behind the JSON body
 * parser, after authentication, so even a GET answers 400 MALFORMED_JSON, 413 and 415 for a body it
 * was sent; public routes never read a body), 500, and by its
 * nature 401/403 (keyed routes; 403 only when some role is refused) and 503.
 */
function op(o: Op): Json {
  const responses: Record<string, Json> = { ...o.responses, '400': o.responses['400'] ?? ref('BadRequest') };
  if (o.roles) {
    responses['401'] = ref('Unauthorized');
    if (ALL_ROLES.some((r) => !o.roles!.includes(r))) responses['403'] = ref('Forbidden');
  }
  responses['413'] = o.responses['413'] ?? ref('PayloadTooLarge');
  responses['415'] = o.responses['415'] ?? ref('UnsupportedMediaType');
  responses['500'] = ref('Internal');
  if (o.backend) responses['503'] = o.responses['503'] ?? ref(o.action ? 'ActionUnavailable' : 'Unavailable');
  const roles = o.roles ? ` (roles: ${o.roles.length === ALL_ROLES.length ? 'all' : o.roles.join(', ')})` : ' (no key)';
  return {
    summary: `${o.summary}${roles}`,
    ...(o.description ? { description: o.description } : {}),
    ...(o.roles ? {} : { security: [] }),
    ...(o.parameters?.length ? { parameters: o.parameters } : {}),
    ...(o.requestBody ? { requestBody: o.requestBody } : {}),
    responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
  };
}

const body = (schema: Json, required = true, description?: string) => ({
  required,
  ...(description ? { description } : {}),
  content: { 'application/json': { schema } },
});

/** A POST that sends an update to a workflow (booking, campaign, incident). */
function action(o: {
  summary: string;
  description?: string;
  roles: string[];
  schema: Json;
  required?: boolean;
  params?: object[];
  resource: string;
  conflicts?: string;
  result?: string;
}) {
  return {
    post: op({
      summary: o.summary,
      description: o.description,
      roles: o.roles,
      parameters: [...(o.params ?? idParam), ACTION_IDEMPOTENCY_KEY],
      requestBody: body(o.schema, o.required ?? false),
      backend: true,
      action: true,
      responses: {
        '200': ok(o.result ?? `the ${o.resource} after the change`),
        '404': error(`NOT_FOUND: no such ${o.resource}`),
        '409': error(`${o.conflicts ?? 'INVALID_TRANSITION: not allowed in its current state (the message says why), or it has ended'}; IDEMPOTENCY_CONFLICT: this Idempotency-Key was used for another request`),
      },
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Paths.

function bookingPaths() {
  const W = ['service', 'operator'];
  const create = json(CreateBookingBody);
  at(create, 'properties.endsAt').description = 'Must be later than startsAt (400 VALIDATION_FAILED on endsAt otherwise)';
  const extend = json(ExtendBody);
  at(extend, 'properties.endsAt').description = 'The new end: later than the current end, and not into the car\'s next booking (409 BOOKING_OVERLAP)';
  const resource = 'booking';
  return {
    '/v1/bookings': {
      post: op({
        summary: 'Create a booking and start its lifecycle workflow',
        description: 'endsAt must be later than startsAt: 400 VALIDATION_FAILED (field endsAt) otherwise.',
        roles: W,
        requestBody: body(create),
        backend: true,
        responses: {
          '201': ok('created: {bookingId, workflowId, status}'),
          '200': ok('the same request again: the existing booking'),
          '409': error('DUPLICATE_CONFLICT: this bookingId exists with other details; BOOKING_OVERLAP: the car is booked then'),
        },
      }),
    },
    '/v1/bookings/{id}': {
      get: op({
        summary: 'Current state, times, events and whether connect is allowed',
        roles: ALL_ROLES,
        parameters: idParam,
        backend: true,
        responses: { '200': ok('the booking'), '404': error('NOT_FOUND: no such booking') },
      }),
    },
    '/v1/bookings/{id}/cancel': action({ summary: 'Cancel before start', roles: W, schema: json(CancelBody), resource }),
    '/v1/bookings/{id}/extend': action({
      summary: 'Move the end later',
      description: 'endsAt must be later than the current end (400 VALIDATION_FAILED) and must not reach into the car\'s next booking (409 BOOKING_OVERLAP).',
      roles: W, schema: extend, required: true, resource,
      conflicts: 'BOOKING_OVERLAP: the car is booked then; INVALID_TRANSITION: the booking can no longer be extended',
    }),
    '/v1/bookings/{id}/connect': action({ summary: 'Connect to car (allowed while ONGOING or OVERDUE)', roles: W, schema: json(EmptyBody), resource }),
    '/v1/bookings/{id}/return': action({ summary: 'Return the car', roles: W, schema: json(EmptyBody), resource }),
    '/v1/bookings/{id}/transition': action({ summary: 'Force a transition (audited, reason required)', roles: ['operator'], schema: json(TransitionBody), required: true, resource }),
  };
}

function incidentPaths(components: string[]) {
  const S = incidentSchemas(components);
  const ACT = ['commander', 'operator'];
  const READ = ['commander', 'operator', 'viewer'];
  const declare = json(S.Declare);
  patch(declare, 'properties.components', { uniqueItems: true });
  const statusUpdate = json(S.StatusUpdate);
  patch(statusUpdate, 'properties.componentStates', { minProperties: 1 });
  const step = json(S.Step);
  const stepParams = [pathParam('id', at(step, 'properties.id')), pathParam('stepId', at(step, 'properties.stepId'))];
  const incidentId = [pathParam('id', at(json(S.Id), 'properties.id'))];
  const resource = 'incident';
  const act = (summary: string, schema: Json, required = false, params = incidentId) =>
    action({ summary, roles: ACT, schema, required, params, resource, result: 'the incident after the change' });
  return {
    '/v1/incidents': {
      post: op({
        summary: 'Declare an incident; with a dedupeKey, an open incident with the same key is returned',
        description: 'A dedupeKey is held while its incident is OPEN or MITIGATED and its workflow runs. It is released when the incident is resolved, and when its workflow has ended in any other way (terminated, failed, timed out, cancelled) or is gone: that incident is then marked ABANDONED and this declaration opens a new incident (201).',
        roles: ACT,
        requestBody: body(declare),
        backend: true,
        responses: { '201': ok('{incidentId, workflowId, status, drill, deduplicated}'), '200': ok('the open incident with this dedupeKey') },
      }),
      get: op({ summary: 'List incidents', roles: READ, parameters: queryParams(S.List), backend: true, responses: { '200': ok('{incidents: [...]}') } }),
    },
    '/v1/incidents/{id}': {
      get: op({
        summary: 'Full state: roles, checklist, the newest 50 timeline entries (timelineTotal counts them all; /timeline pages them), public updates, action items',
        roles: READ, parameters: incidentId, backend: true,
        responses: { '200': ok('the incident'), '404': error('NOT_FOUND: no such incident') },
      }),
    },
    '/v1/incidents/{id}/timeline': {
      get: op({
        summary: 'The timeline, oldest first: entries with seq > after, at most limit; nextAfterSeq is the after of the next page (null on the last)',
        roles: READ, parameters: [...incidentId, ...queryParams(S.Timeline)], backend: true,
        responses: { '200': ok('{entries, nextAfterSeq}'), '404': error('NOT_FOUND: no such incident') },
      }),
    },
    '/v1/incidents/{id}/postmortem': {
      get: op({
        summary: 'The blameless post-mortem, as Markdown',
        roles: READ, parameters: incidentId, backend: true,
        responses: {
          '200': { description: 'Markdown', content: { 'text/markdown': { schema: { type: 'string' } } } },
          '404': error('NOT_FOUND: no such incident'),
        },
      }),
    },
    '/v1/incidents/{id}/roles': act('Assign or hand off a role', json(S.Role), true),
    '/v1/incidents/{id}/checks/run': act('Re-run the automated checks', json(S.Empty)),
    '/v1/incidents/{id}/steps/{stepId}/complete': act('Complete a manual step', json(S.Complete), false, stepParams),
    '/v1/incidents/{id}/steps/{stepId}/skip': act('Skip a step with a reason', json(S.Skip), true, stepParams),
    '/v1/incidents/{id}/notes': act('Add a note to the timeline', json(S.Note), true),
    '/v1/incidents/{id}/status-updates': act('Post a public status update', statusUpdate, true),
    '/v1/incidents/{id}/severity': act('Change the severity', json(S.Severity), true),
    '/v1/incidents/{id}/mitigate': act('Mark mitigated', json(S.Mitigate)),
    '/v1/incidents/{id}/resolve': act('Resolve', json(S.Resolve), true),
    '/v1/incidents/{id}/action-items': act('Add a post-mortem action item', json(S.ActionItem), true),
    '/v1/incidents/{id}/close': act('Close after the post-mortem (retrospective sections optional)', json(S.Close)),
    '/v1/status': {
      get: op({
        summary: 'The public status page as JSON', description: STATUS_PAGE_NOTE, backend: true,
        responses: { '200': { ...ok('the status document'), headers: etagHeader }, '304': notModified },
      }),
    },
    '/status': {
      get: op({
        summary: 'The public status page', description: STATUS_PAGE_NOTE, backend: true,
        responses: { '200': { ...html('the status page'), headers: etagHeader }, '304': notModified },
      }),
    },
  };
}

/** Campaign templates in one sentence (domain/template.ts). */
const TEMPLATE_NOTE =
  `variables ${TEMPLATE_VARIABLES.join(' and ')} (and their .size), e.g. {{ firstName | default: "there" }}; ` +
  `tags ${ALLOWED_TAGS.join(', ')}; filters ${ALLOWED_FILTERS.join(', ')}; a render may take at most ${TEMPLATE_LIMITS.renderMs} ms, ` +
  `${TEMPLATE_LIMITS.memory} characters of memory and ${TEMPLATE_LIMITS.outputChars} characters of output, tags nest at most ${TEMPLATE_LIMITS.nesting} deep`;

function campaignPaths() {
  const W = ['service', 'operator'];
  const R = ['service', 'operator', 'viewer'];
  const requiredKey = {
    name: 'Idempotency-Key', in: 'header', required: true,
    description: 'One per upload or submit (e.g. a UUID), repeated on retries',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$' },
  };
  const users = json(UsersBatchBody);
  const user = 'properties.users.items.properties';
  patch(users, `${user}.userId`, { description: 'Each userId at most once per batch (400 VALIDATION_FAILED otherwise)' });
  patch(users, `${user}.phone.anyOf.0`, { pattern: PHONE, description: 'E.164 (+33612345678); spaces, dots, dashes and parentheses are removed first' });
  patch(users, `${user}.timezone.anyOf.0`, { enum: timeZones(), description: TIME_ZONE_NOTE });
  patch(users, `${user}.locale.anyOf.0`, { pattern: LOCALE, description: 'BCP 47 language tag: en, fr-FR, pt-BR, zh-Hant-TW (stored canonical; at most 20 characters)' });
  const pool = json(PromoPoolJsonBody);
  patch(pool, 'properties.codes', { uniqueItems: true });
  // promo-pools.ts: the pool id and the CSV upload's ?name= (poolName).
  const poolId = [pathParam('id', { type: 'string', pattern: '^[A-Za-z0-9_-]{1,40}$' })];
  const poolName = {
    name: 'name', in: 'query', required: false,
    description: 'The pool\'s name: required with a text/csv body, refused with application/json (name goes in the JSON body)',
    schema: { type: 'string', minLength: 1, pattern: trimmedPattern(1, 200, true) },
  };
  const campaignId = [pathParam('id', json(IDEMPOTENCY_KEY), 'the Idempotency-Key it was submitted with')];
  // campaigns.ts DeliveriesQuery.
  const deliveries = [
    { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['pending', 'sent', 'failed', 'skipped'] } },
    { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
    { name: 'after', in: 'query', required: false, description: 'the seq of the last delivery of the previous page', schema: { type: 'integer', minimum: 0, maximum: 2_147_483_647 } },
  ];
  const resource = 'campaign';
  const act = (summary: string, extra: { conflicts?: string } = {}) =>
    action({ summary, roles: W, schema: json(EmptyBody), params: campaignId, resource, ...extra });
  return {
    '/v1/users/batch': {
      post: op({
        summary: 'Upsert up to 10,000 users, all or nothing',
        description: 'Each userId at most once per batch; every bad entry is listed in one 400 and nothing is written.',
        roles: W,
        requestBody: body(users),
        backend: true,
        responses: { '200': ok('{received, inserted, updated}') },
      }),
    },
    '/v1/promo-pools': {
      post: op({
        summary: 'Upload a promo code pool, JSON {name, codes} or text/csv with ?name=',
        description:
          'Codes are 1-100 characters of A-Z, a-z, 0-9, _ and -, each once per upload, at most 200,000. text/csv: one code per line, ' +
          'an optional header line "code", blank lines ignored, a value may be quoted; the name comes from ?name= (required with CSV, ' +
          'refused with JSON). The same name and codes again under the same Idempotency-Key: 200 and the same pool.',
        roles: W,
        parameters: [requiredKey, poolName],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: pool },
            'text/csv': { schema: { type: 'string', pattern: CSV_CODES, description: 'one code per line (each once), blank lines ignored, an optional first line "code", a value may be quoted' } },
          },
        },
        backend: true,
        responses: {
          '201': ok('{poolId, name, size}'),
          '200': ok('the same upload under the same key: the same pool'),
          '409': error('DUPLICATE_CONFLICT: this Idempotency-Key was used for another upload'),
          '415': error('UNSUPPORTED_MEDIA_TYPE: a body other than application/json or text/csv'),
        },
      }),
    },
    '/v1/promo-pools/{id}': {
      get: op({
        summary: 'Pool size, assigned and free codes', roles: R, parameters: poolId, backend: true,
        responses: { '200': ok('the pool'), '404': error('NOT_FOUND: no such pool') },
      }),
    },
    '/v1/campaigns': {
      post: op({
        summary: 'Submit a campaign; the same key and body again: 200 and the same campaign',
        description:
          `The template is Liquid (${TEMPLATE_NOTE}). Refused with 400 VALIDATION_FAILED before anything is sent: a template Keel refuses ` +
          '(details.fields: {field: template.subject or template.body, message, line?, column?}); a template that uses promoCode ' +
          'without a promoPoolId; audience.userIds naming users that do not exist (POST /v1/users/batch), or more than ' +
          `${MAX_AUDIENCE_IDS.toLocaleString('en-US')} ids; a promoPoolId ` +
          'that does not exist (POST /v1/promo-pools) or has fewer free codes than the audience. An explicit audience is stored with the ' +
          'campaign (a repeated id is sent once), so any size up to the limit is accepted alike: 202. The body may be up to ' +
          `${CAMPAIGN_BODY_LIMIT} (413 PAYLOAD_TOO_LARGE beyond). A finished campaign submitted again, however long after, answers 200 ` +
          'and is never sent again.',
        roles: W,
        parameters: [requiredKey],
        requestBody: body(json(CreateCampaignBody)),
        backend: true,
        responses: {
          '202': ok('accepted: {campaignId, workflowId, status}'),
          '200': ok('the same submit again: the existing campaign'),
          '409': error('DUPLICATE_CONFLICT: this Idempotency-Key was used for another campaign'),
          '413': error(`PAYLOAD_TOO_LARGE: the body exceeds ${CAMPAIGN_BODY_LIMIT}`),
        },
      }),
    },
    '/v1/campaigns/preview': {
      post: op({
        summary: 'Render a template for one recipient (reads only)',
        description:
          `The template is Liquid (${TEMPLATE_NOTE}); it is checked as a submit checks it (400 VALIDATION_FAILED, same details). ` +
          `With userId, that user's firstName; without, the sample "${SAMPLE_VALUES.firstName}". promoCode is always ` +
          `"${SAMPLE_VALUES.promoCode}": a preview takes no code from a pool. The roles of a submit: it may read a user's first name.`,
        roles: W,
        requestBody: body(json(PreviewBody)),
        backend: true,
        responses: {
          '200': ok('{subject, body}: subject null when the template has none', {
            type: 'object', required: ['subject', 'body'],
            properties: { subject: { type: ['string', 'null'] }, body: { type: 'string' } },
          }),
          '404': error('NOT_FOUND: no user with this userId'),
        },
      }),
    },
    '/v1/campaigns/{id}': {
      get: op({
        summary: 'Status and counters: total, sent, failed, skipped, pending, ratePerSecond, etaSeconds',
        roles: R, parameters: campaignId, backend: true,
        responses: { '200': ok('the campaign'), '404': error('NOT_FOUND: no such campaign') },
      }),
      patch: op({
        summary: 'Change the rate (null: the default rate)',
        roles: W, parameters: campaignId, requestBody: body(json(RateBody)), backend: true, action: true,
        responses: {
          '200': ok('the campaign'),
          '404': error('NOT_FOUND: no such campaign'),
          '409': error('INVALID_TRANSITION: the campaign has ended'),
        },
      }),
    },
    '/v1/campaigns/{id}/deliveries': {
      get: op({
        summary: 'Deliveries in send order, paginated by position',
        roles: R, parameters: [...campaignId, ...deliveries], backend: true,
        responses: { '200': ok('{deliveries, next}'), '404': error('NOT_FOUND: no such campaign') },
      }),
    },
    '/v1/campaigns/{id}/pause': act('Pause: no new sends within seconds'),
    '/v1/campaigns/{id}/resume': act('Resume where it stopped'),
    '/v1/campaigns/{id}/cancel': act('Cancel; counts final'),
    '/v1/campaigns/{id}/retry-failed': act('Send the failed deliveries again (COMPLETED campaigns)', {
      conflicts: 'INVALID_TRANSITION: the campaign is not COMPLETED or has no failed deliveries',
    }),
  };
}

function reportPaths(components: string[]) {
  const S = reportSchemas(components);
  const ACT = ['commander', 'operator'];
  const keyHeader = { name: 'Idempotency-Key', in: 'header', required: false, schema: json(S.IdempotencyKey) };
  const openIncident = json(S.OpenIncident);
  patch(openIncident, 'properties.components', { uniqueItems: true });
  const reportId = [pathParam('id', at(json(S.Id), 'properties.id'))];
  return {
    '/v1/health/stuck': {
      get: op({
        summary: 'What the stuck-work watchdog found on its latest run: {checkedAt, stale, stuck: [{kind, id, since, ageMs, summary, evidence, workflowId, link}], counts, errors, incidentId}; ?fresh=true (operator and commander keys only; others 403 FORBIDDEN) detects inline without storing or opening an incident',
        roles: ALL_ROLES, parameters: queryParams(StuckQuery), backend: true,
        responses: { '200': ok('the findings'), '403': ref('Forbidden') },
      }),
    },
    '/v1/reports': {
      post: op({
        summary: 'File a problem report; with an Idempotency-Key the same submit again answers 200 and the same report, another body 409. An unknown bookingId is kept and flagged bookingFound: false',
        roles: ['service', 'operator', 'commander'],
        parameters: [keyHeader],
        requestBody: body(json(S.Create)),
        backend: true,
        responses: {
          '201': ok('the report: {reportId, status, bookingFound, ...}'),
          '200': ok('the same submit again'),
          '409': error('DUPLICATE_CONFLICT: this Idempotency-Key was used for another report'),
        },
      }),
      get: op({
        summary: 'Reports, newest first',
        description: 'cursor is opaque: only the `next` of a previous page is valid (400 VALIDATION_FAILED otherwise).',
        roles: ALL_ROLES,
        parameters: queryParams(S.List, { cursor: { description: '`next` of the previous page' } }),
        backend: true,
        responses: { '200': ok('{reports, next}') },
      }),
    },
    '/v1/reports/{id}': {
      get: op({ summary: 'One report', roles: ALL_ROLES, parameters: reportId, backend: true, responses: { '200': ok('the report'), '404': error('NOT_FOUND: no such report') } }),
    },
    '/v1/reports/{id}/link': {
      post: op({
        summary: 'Link to an existing incident',
        roles: ACT, parameters: reportId, requestBody: body(json(S.Link)), backend: true,
        responses: {
          '200': ok('the report'),
          '404': error('NOT_FOUND: no such report, or no such incident'),
          '409': error('ALREADY_LINKED: linked to another incident'),
        },
      }),
    },
    '/v1/reports/{id}/open-incident': {
      post: op({
        summary: "Open an incident from the report (severity defaults to the report's guess, then SEV3) and link it; again: 200 and the same incident",
        roles: ACT, parameters: reportId, requestBody: body(openIncident, false), backend: true,
        responses: {
          '201': ok('{report, incidentId, workflowId, status}'),
          '200': ok('the incident this report already opened'),
          '404': error('NOT_FOUND: no such report'),
          '409': error('ALREADY_LINKED: linked to another incident'),
        },
      }),
    },
  };
}

function playbookPaths() {
  const CS = ['operator', 'commander'];
  const nameParam = [pathParam('name', { type: 'string', pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$' })];
  const notServed = 'NOT_FOUND: no playbook of that name (or playbooks are not served by this process)';
  return {
    '/v1/playbooks': {
      get: op({
        summary: 'The playbook queries: {playbooks: [{name, description, params: [{name, type, required, default?, values?, description?}]}], maxRows}',
        roles: CS,
        responses: { '200': ok('the list'), '404': error('NOT_FOUND: playbooks are not served by this process') },
      }),
    },
    '/v1/playbooks/{name}': {
      get: op({ summary: 'One playbook with its SQL', roles: CS, parameters: nameParam, responses: { '200': ok('the playbook'), '404': error(notServed) } }),
    },
    '/v1/playbooks/{name}/run': {
      post: op({
        summary: 'Run a playbook in a read-only transaction with a statement timeout and a row limit; audited',
        description:
          'params are checked against the playbook\'s own parameters (GET /v1/playbooks/{name}): 400 VALIDATION_FAILED names each bad one. ' +
          'Types: id, text, timestamp (ISO 8601, a date, now, now-7d), period (<from>/<to>), interval (30m), integer, enum, limit. ' +
          'With Accept: text/csv the rows come as RFC 4180 CSV with a header row.',
        roles: CS,
        parameters: nameParam,
        requestBody: body(json(RunPlaybookBody), false),
        backend: true,
        responses: {
          '200': {
            description: '{name, params (resolved), columns: [{name, type}], rows, rowCount, truncated, durationMs}; with Accept: text/csv, CSV (X-Playbook-Row-Count, X-Playbook-Truncated)',
            content: { 'application/json': { schema: { type: 'object' } }, 'text/csv': { schema: { type: 'string' } } },
          },
          '404': error(notServed),
          '422': error('READ_ONLY_VIOLATION (the query tried to write) or QUERY_TIMEOUT'),
        },
      }),
    },
  };
}

function opsPaths() {
  const dashboardQuery = queryParams(DashboardQuery, { timeZone: { enum: timeZones(), description: `${TIME_ZONE_NOTE}; default KEEL_BUSINESS_TIME_ZONE` } });
  return {
    '/healthz': { get: op({ summary: 'Process alive', responses: { '200': ok('{status: "ok"}') } }) },
    '/readyz': {
      get: op({
        summary: 'Temporal and database reachable',
        responses: {
          '200': ok('{status: "ready", checks}'),
          '503': ok('{status: "unavailable", checks: {database: {ok, error?}, temporal: {ok, error?}}}'),
        },
      }),
    },
    '/v1/openapi.json': { get: op({ summary: 'This document', responses: { '200': ok('OpenAPI 3.1') } }) },
    '/docs': { get: op({ summary: 'Interactive API documentation of this document (Swagger UI, served locally)', responses: { '200': html('the documentation page') } }) },
    '/metrics': {
      get: op({
        summary: 'Prometheus metrics (text exposition); protect at the network level',
        responses: { '200': { description: 'the exposition', content: { 'text/plain': { schema: { type: 'string' } } } } },
      }),
    },
    '/v1/dashboard': {
      get: op({
        summary: "Active cars, bookings by status, today's revenue (business time zone), running campaigns, open incidents, from summary rows",
        roles: ALL_ROLES, parameters: dashboardQuery, backend: true,
        responses: { '200': ok('the dashboard') },
      }),
    },
    '/v1/dashboard/reconcile': {
      post: op({
        summary: 'Recount the summary from the raw tables now and correct drift',
        roles: ['operator'], requestBody: body(json(ReconcileBody), false), backend: true,
        responses: { '200': ok('{workflowId, report}'), '202': ok('still running: {workflowId, status}') },
      }),
    },
    '/v1/admin/log-level': {
      put: op({
        summary: 'Emergency log level for a window: {level, component?: api|worker (omitted: all), minutes: 1..1440, reason?}; reverts on its own',
        roles: ['operator'], requestBody: body(json(SetLogLevelBody)), backend: true,
        responses: { '200': ok('{windows: [{component, level, revertsAt, setBy, reason, workflowId}]}') },
      }),
      get: op({
        summary: 'Per component: level in force (null: each process at its LOG_LEVEL), revertsAt, setBy, and the live processes with the level each applied',
        roles: ['operator', 'commander', 'viewer'], backend: true,
        responses: { '200': ok('{components: [...]}') },
      }),
    },
  };
}

function consolePaths() {
  const page = (summary: string, params?: object[]) => ({ get: op({ summary, parameters: params, responses: { '200': html('the page') } }) });
  const id = [pathParam('id', { type: 'string' })];
  return {
    '/console/incidents': page('The commander console: incidents (asks for a key in the page)'),
    '/console/incidents/{id}': page('The commander console: one incident', id),
    '/console/campaigns': page('The campaigns console (asks for a key in the page)'),
    '/console/campaigns/{id}': page('The campaigns console: one campaign', id),
  };
}

export function openApiDocument(components: string[]) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Keel API',
      version: '1',
      description:
        'Durable booking operations on Temporal. Every /v1 route except the status page needs `Authorization: Bearer <key>`. ' +
        'Errors are `{error: {code, message, details?}}`; every response carries X-Request-Id. A method a path does not list answers ' +
        '405 METHOD_NOT_ALLOWED with `Allow`; OPTIONS on a path answers 204 with `Allow` (HEAD is served wherever GET is).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
      responses: COMMON_RESPONSES,
    },
    security: [{ bearer: [] }],
    paths: {
      ...bookingPaths(),
      ...opsPaths(),
      ...incidentPaths(components),
      ...campaignPaths(),
      ...playbookPaths(),
      ...reportPaths(components),
      ...consolePaths(),
    },
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;
