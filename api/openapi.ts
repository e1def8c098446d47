// The OpenAPI 3.1 document, with request schemas generated from the same zod schemas that validate
// requests (z.toJSONSchema), so the document cannot drift from what the API accepts.
import { z } from 'zod';
import { CancelBody, CreateBookingBody, EmptyBody, ExtendBody, TransitionBody } from './routes/bookings';

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

function action(summary: string, schema: z.ZodType, roles: string, required = false) {
  return {
    post: {
      summary: `${summary} (roles: ${roles})`,
      parameters: idParam,
      requestBody: body(schema, required),
      responses: { '200': { description: 'the booking after the change' }, ...errors(400, 401, 403, 404, 409) },
    },
  };
}

export function openApiDocument() {
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
    },
  };
}
