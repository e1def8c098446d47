// The authorization matrix: every route x every role, no key, and a wrong key.
import { ROLES, type Role } from '../../api/auth';
import { startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'auth' });
});
afterAll(() => stack?.stop());

const ALL = [...ROLES];
const WRITE: Role[] = ['service', 'operator'];
const INCIDENT_ACT: Role[] = ['commander', 'operator'];
const INCIDENT_READ: Role[] = ['commander', 'operator', 'viewer'];
const routes: Array<{ method: 'get' | 'post' | 'put'; path: string; allowed: Role[] }> = [
  { method: 'post', path: '/v1/bookings', allowed: WRITE },
  { method: 'get', path: '/v1/bookings/some-id', allowed: ALL },
  { method: 'post', path: '/v1/bookings/some-id/cancel', allowed: WRITE },
  { method: 'post', path: '/v1/bookings/some-id/extend', allowed: WRITE },
  { method: 'post', path: '/v1/bookings/some-id/connect', allowed: WRITE },
  { method: 'post', path: '/v1/bookings/some-id/return', allowed: WRITE },
  { method: 'post', path: '/v1/bookings/some-id/transition', allowed: ['operator'] },
  { method: 'post', path: '/v1/users/batch', allowed: WRITE },
  { method: 'post', path: '/v1/promo-pools', allowed: WRITE },
  { method: 'get', path: '/v1/promo-pools/some-id', allowed: [...WRITE, 'viewer'] },
  { method: 'post', path: '/v1/campaigns', allowed: WRITE },
  { method: 'get', path: '/v1/campaigns/some-id', allowed: [...WRITE, 'viewer'] },
  { method: 'get', path: '/v1/campaigns/some-id/deliveries', allowed: [...WRITE, 'viewer'] },
  ...['pause', 'resume', 'cancel', 'retry-failed'].map((a) => ({ method: 'post' as const, path: `/v1/campaigns/some-id/${a}`, allowed: WRITE })),
  { method: 'post', path: '/v1/incidents', allowed: INCIDENT_ACT },
  { method: 'get', path: '/v1/incidents', allowed: INCIDENT_READ },
  { method: 'get', path: '/v1/incidents/some-id', allowed: INCIDENT_READ },
  { method: 'get', path: '/v1/incidents/some-id/postmortem', allowed: INCIDENT_READ },
  ...['roles', 'checks/run', 'steps/a-step/complete', 'steps/a-step/skip', 'notes', 'status-updates', 'severity', 'mitigate', 'resolve', 'action-items', 'close'].map(
    (action) => ({ method: 'post' as const, path: `/v1/incidents/some-id/${action}`, allowed: INCIDENT_ACT }),
  ),
  // The operations toolkit.
  { method: 'get', path: '/v1/dashboard', allowed: ALL },
  { method: 'post', path: '/v1/dashboard/reconcile', allowed: ['operator'] },
  { method: 'get', path: '/v1/health/stuck', allowed: ALL },
  { method: 'get', path: '/v1/playbooks', allowed: INCIDENT_ACT },
  { method: 'get', path: '/v1/playbooks/a-playbook', allowed: INCIDENT_ACT },
  { method: 'post', path: '/v1/playbooks/a-playbook/run', allowed: INCIDENT_ACT },
  { method: 'post', path: '/v1/reports', allowed: ['service', 'operator', 'commander'] },
  { method: 'get', path: '/v1/reports', allowed: ALL },
  { method: 'get', path: '/v1/reports/some-id', allowed: ALL },
  { method: 'post', path: '/v1/reports/some-id/link', allowed: INCIDENT_ACT },
  { method: 'post', path: '/v1/reports/some-id/open-incident', allowed: INCIDENT_ACT },
  { method: 'put', path: '/v1/admin/log-level', allowed: ['operator'] },
  { method: 'get', path: '/v1/admin/log-level', allowed: INCIDENT_READ },
];

/** Sends the route's request with an empty body (GET without one). */
function send(api: ReturnType<Stack['api']>, method: string, path: string) {
  return method === 'GET' ? api.get(path) : method === 'PUT' ? api.put(path, {}) : api.post(path, {});
}

const cases = routes.flatMap((r) => ALL.map((role) => [r.method.toUpperCase(), r.path, role, r.allowed.includes(role)] as const));

describe('authorization', () => {
  test.each(cases)('%s %s as %s (allowed: %s)', async (method, path, role, allowed) => {
    const api = stack.api(role);
    const res = await send(api, method, path);
    if (allowed) {
      // Past the gate: the request itself is judged (400 for the empty body, 404 for the unknown id).
      expect([401, 403]).not.toContain(res.status);
      expect(res.status).toBeLessThan(500);
    } else {
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ code: 'FORBIDDEN' });
    }
  });

  test.each(routes.map((r) => [r.method.toUpperCase(), r.path] as const))('%s %s without a key or with a wrong key: 401', async (method, path) => {
    const none = stack.api(null);
    const res = await send(none, method, path);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    const wrong = send(none, method, path);
    const res2 = await wrong.set('Authorization', 'Bearer not-a-real-key-0000000000');
    expect(res2.status).toBe(401);
    const malformed = send(none, method, path);
    expect((await malformed.set('Authorization', 'Basic dXNlcjpwYXNz')).status).toBe(401);
  });

  test('health, readiness, the status page, the consoles and the OpenAPI document need no key', async () => {
    await stack.api(null).get('/status').expect(200);
    await stack.api(null).get('/v1/status').expect(200);
    await stack.api(null).get('/console/incidents').expect(200);
    const none = stack.api(null);
    expect((await none.get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await none.get('/readyz').expect(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: { ok: true }, temporal: { ok: true } } });
    const doc = await none.get('/v1/openapi.json').expect(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    for (const r of routes) {
      const key = r.path.replace('some-id', '{id}').replace('a-step', '{stepId}').replace('a-playbook', '{name}');
      expect({ route: key, documented: Boolean(doc.body.paths[key]?.[r.method]) }).toEqual({ route: key, documented: true });
    }
    // The schema in the document is the one that validates requests.
    const create = doc.body.paths['/v1/bookings'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(expect.arrayContaining(['bookingId', 'customerId', 'carId', 'startsAt', 'endsAt', 'amountCents', 'currency']));
    expect(create.additionalProperties).toBe(false);
  });
});
