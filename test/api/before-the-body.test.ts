// Authentication before any body is read, the role gate of expensive reads, and the consoles' framing
// headers: what a stranger or a low-privilege key can make the API do.
import { gzipSync } from 'node:zlib';
import request from 'supertest';
import { parseApiKeys } from '../../api/auth';
import { startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'before-body', workers: [] });
});
afterAll(() => stack?.stop());

const NINE_MB = JSON.stringify({ pad: 'x'.repeat(9 * 1024 * 1024) });
const BODY_ROUTES = ['/v1/bookings', '/v1/campaigns', '/v1/users/batch', '/v1/promo-pools', '/v1/incidents', '/v1/reports'];

describe('unauthenticated requests are refused before their body is read', () => {
  test.each(BODY_ROUTES)('POST %s with a 9 MB body and no key: 401, not 413', async (path) => {
    const res = await request(stack.app).post(path).set('Content-Type', 'application/json').send(NINE_MB);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
  });

  test.each(BODY_ROUTES)('POST %s with a gzip body (a 50 MB bomb) and a wrong key: 401', async (path) => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    const res = await request(stack.app).post(path).set('Authorization', 'Bearer wrong-key-000000000000')
      .set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send(bomb);
    expect(res.status).toBe(401);
  });

  test('with a valid key the same 9 MB body is judged by its size: 413', async () => {
    const res = await request(stack.app).post('/v1/bookings').set('Authorization', `Bearer ${stack.keys.service}`)
      .set('Content-Type', 'application/json').send(NINE_MB);
    expect(res.status).toBe(413);
    expect(res.body.error).toHaveProperty('code');
  });
});

describe('GET /v1/health/stuck?fresh=true', () => {
  test.each(['service', 'viewer'] as const)('%s may read the latest run but not run a fresh one: 403', async (role) => {
    expect((await stack.api(role).get('/v1/health/stuck')).status).toBe(200);
    const res = await stack.api(role).get('/v1/health/stuck?fresh=true');
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'FORBIDDEN' });
    expect(res.body.error.message).toMatch(/operator, commander/);
  });

  test.each(['operator', 'commander'] as const)('%s runs a fresh detection: 200 with findings', async (role) => {
    const res = await stack.api(role).get('/v1/health/stuck?fresh=true').expect(200);
    expect(res.body).toHaveProperty('stuck');
  });
});

describe('the consoles cannot be framed', () => {
  test.each(['/console/incidents', '/console/campaigns', '/console/incidents/any-id', '/console/assets/console.css'])('%s carries frame-ancestors and X-Frame-Options', async (path) => {
    const res = await request(stack.app).get(path);
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
  });
});

describe('no part of a key in an error', () => {
  test.each([
    ['a token too short', 'service:short-secret'],
    ['an unknown role', 'superuser:abcdefghijklmnopqrstu'],
    ['no role at all', 'abcdefghijklmnopqrstuvwxyz'],
  ])('KEEL_API_KEYS with %s names the entry, never its characters', (_what, bad) => {
    const secretPart = bad.includes(':') ? bad.slice(bad.indexOf(':') + 1) : bad;
    let message = '';
    try {
      parseApiKeys(`operator:${'o'.repeat(20)},${bad}`);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/entry 2/);
    for (let i = 0; i + 4 <= secretPart.length; i++) expect(message).not.toContain(secretPart.slice(i, i + 4));
  });
});
