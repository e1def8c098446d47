// Liquid campaign templates through the API, on the real Temporal server and PostgreSQL: what submit
// and preview refuse (400 with field, line and column), preview's answers and roles, hostile templates
// answered fast while the API stays responsive, and a message that cannot be rendered for its
// recipient ending as a FAILED delivery while the rest of the page is sent.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { eventually, startStack, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'templates', campaignSettings: { pageSize: 100, concurrency: 2 } });
}, 120_000);
afterAll(() => stack?.stop());

const key = () => `k-${randomBytes(6).toString('hex')}`;
async function seedUsers(n: number, over: (i: number) => object = () => ({})) {
  const prefix = `t${randomBytes(3).toString('hex')}`;
  const users = Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(3, '0')}`, email: `${prefix}-${i}@example.test`, firstName: `Ann${i}`, timezone: 'UTC', ...over(i),
  }));
  await stack.db.user.createMany({ data: users });
  return users;
}
const submit = (body: object, k = key()) => stack.api('service').post('/v1/campaigns', body).set('Idempotency-Key', k);
const preview = (body: object, role: Parameters<Stack['api']>[0] = 'operator') => stack.api(role).post('/v1/campaigns/preview', body);

describe('submit and preview refuse the same templates', () => {
  const refused: Array<[string, object, object]> = [
    ['an unknown variable', { body: 'Hi\n {{ lastName }}' },
      { field: 'template.body', message: expect.stringMatching(/^unknown variable "lastName"/), line: 2, column: 5 }],
    ['an unknown filter', { body: 'x', subject: '{{ firstName | shout }}' },
      { field: 'template.subject', message: expect.stringMatching(/^unknown filter "shout"/), line: 1, column: 1 }],
    ['an include', { body: '{% include "secrets" %}' },
      { field: 'template.body', message: expect.stringMatching(/^tag "include" is not allowed/), line: 1, column: 1 }],
    ['a syntax error', { body: 'one\ntwo {% if %}{% endif %}' },
      { field: 'template.body', message: expect.stringMatching(/^Liquid syntax error/), line: 2, column: 10 }],
  ];
  test.each(refused)('%s: 400 VALIDATION_FAILED naming it, with field, line and column, from both', async (_name, template, field) => {
    const users = await seedUsers(1);
    const k = key();
    for (const res of [
      await submit({ name: 'x', channel: 'email', template, audience: { userIds: [users[0].id] } }, k),
      await preview({ template }),
    ]) {
      expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
      expect(res.body.error.details.fields).toEqual([field]);
      const f = res.body.error.details.fields[0];
      expect(res.body.error.message).toContain(`${f.field}: ${f.message} (line ${f.line}, column ${f.column})`);
    }
    expect(await stack.db.campaign.count({ where: { idempotencyKey: k } })).toBe(0);
  });

  test('promoCode only inside an if still needs a promo pool', async () => {
    const users = await seedUsers(1);
    const res = await submit({ name: 'x', channel: 'email', template: { body: '{% if true %}{{ promoCode }}{% endif %}' }, audience: { userIds: [users[0].id] } }).expect(400);
    expect(res.body.error.details.fields).toEqual([{ field: 'promoPoolId', message: 'required by promoCode' }]);
  });
});

describe('preview', () => {
  test('sample values without a userId; subject null when the template has none', async () => {
    const res = await preview({ template: { subject: 'Hi {{ firstName | default: "there" }}', body: 'Code {{ promoCode }}' } }).expect(200);
    expect(res.body).toEqual({ subject: 'Hi Alex', body: 'Code PROMO-PREVIEW' });
    expect((await preview({ template: { body: 'x' } }).expect(200)).body).toEqual({ subject: null, body: 'x' });
  });

  test("with a userId: that user's first name (default when they have none), the sample promo code, no code taken; unknown user 404", async () => {
    const [named, unnamed] = await seedUsers(2, (i) => (i === 1 ? { firstName: null } : {}));
    const template = { subject: 'Hi {{ firstName | default: "there" }}', body: '{{ promoCode }}' };
    expect((await preview({ template, userId: named.id }).expect(200)).body).toEqual({ subject: 'Hi Ann0', body: 'PROMO-PREVIEW' });
    expect((await preview({ template, userId: unnamed.id }).expect(200)).body).toEqual({ subject: 'Hi there', body: 'PROMO-PREVIEW' });
    const missing = await preview({ template, userId: 'nobody-here' }).expect(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
    expect(await stack.db.promoCode.count({ where: { assignedAt: { not: null } } })).toBe(0);
  });

  test('roles: service and operator may preview, viewer and commander may not; bad bodies are 400', async () => {
    const body = { template: { body: 'x' } };
    await preview(body, 'service').expect(200);
    await preview(body, 'operator').expect(200);
    expect((await preview(body, 'viewer').expect(403)).body.error.code).toBe('FORBIDDEN');
    await preview(body, 'commander').expect(403);
    await preview(body, null).expect(401);
    for (const bad of [{}, { template: { body: '' } }, { template: { body: 'x' }, extra: 1 }, { template: { body: 'x' }, userId: 'bad id!' },
      { template: { body: 'x'.repeat(10_001) } }]) {
      expect((await preview(bad).expect(400)).body.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('hostile templates', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    // A real socket: /healthz must answer while the template request is being handled.
    server = await new Promise<Server>((resolve) => {
      const s = stack.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server?.close(resolve)));

  const timed = async (path: string, init?: RequestInit) => {
    const started = performance.now();
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    return { status: res.status, ms: performance.now() - started, body: JSON.parse(text || 'null') as { error?: { code: string } } | null };
  };

  const hostile: Array<[string, string]> = [
    ['{{ followed by 3,000 spaces', `{{${' '.repeat(3000)}`],
    ['{% followed by 3,000 spaces', `{%${' '.repeat(3000)}`],
    ['a for over a hundred million', '{% for i in (1..100000000) %}{{ i }}{% endfor %}'],
    ['three nested loops of 300', '{% for a in (1..300) %}{% for b in (1..300) %}{% for c in (1..300) %}x{% endfor %}{% endfor %}{% endfor %}'],
    ['a doubling append', '{% assign s = "xxxxxxxx" %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s }}'],
    ['a doubling capture', '{% capture s %}xxxxxxxx{% endcapture %}{% for i in (1..60) %}{% capture s %}{{ s }}{{ s }}{% endcapture %}{% endfor %}{{ s }}'],
    ['an append chain', `{{ "x"${' | append: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'.repeat(180)} }}`],
    ['400 nested ifs', `${'{% if firstName %}'.repeat(400)}x`],
    ['3,000 open parentheses', `{% if ${'('.repeat(3000)} %}{% endif %}`],
  ];
  test.each(hostile)('%s: submit and preview answer 400 within 1 s while /healthz answers within 1 s', async (_name, body) => {
    const users = await seedUsers(1);
    const json = (payload: object, headers: Record<string, string> = {}) => ({
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.keys.operator}`, ...headers },
      body: JSON.stringify(payload),
    });
    const k = key();
    const [created, previewed, health] = await Promise.all([
      timed('/v1/campaigns', json({ name: 'hostile', channel: 'email', template: { body }, audience: { userIds: [users[0].id] } }, { 'idempotency-key': k })),
      timed('/v1/campaigns/preview', json({ template: { body } })),
      // Sent a moment later, so it lands while the template requests are in the API.
      new Promise((r) => setTimeout(r, 5)).then(() => timed('/healthz')),
    ]);
    expect({ created: [created.status, created.body?.error?.code], previewed: [previewed.status, previewed.body?.error?.code], health: health.status })
      .toEqual({ created: [400, 'VALIDATION_FAILED'], previewed: [400, 'VALIDATION_FAILED'], health: 200 });
    expect({ created: created.ms < 1000, previewed: previewed.ms < 1000, health: health.ms < 1000 })
      .toEqual({ created: true, previewed: true, health: true });
    expect(await stack.db.campaign.count({ where: { idempotencyKey: k } })).toBe(0);
  });
});

test('a message that cannot be rendered for its recipient is a FAILED delivery with the reason; the rest of the page is sent', async () => {
  // Cheap for the sample name (checked at submit), over the 100,000-character output cap for a name of 100 A's.
  const long = 'A'.repeat(100);
  const users = await seedUsers(9, (i) => (i === 3 || i === 6 ? { firstName: long } : {}));
  const k = key();
  const template = { subject: 'Hi {{ firstName }}', body: `{{ firstName | replace: "A", "${'x'.repeat(2000)}" }}` };
  await submit({ name: 'render failures', channel: 'email', template, audience: { userIds: users.map((u) => u.id) } }, k).expect(202);
  const done = await eventually(async () => {
    const c = (await stack.api('viewer').get(`/v1/campaigns/${k}`).expect(200)).body;
    return c.status === 'COMPLETED' ? c : undefined;
  }, 60_000, 200);
  expect(done).toMatchObject({ total: 9, sent: 7, failed: 2, pending: 0 });
  const deliveries = await stack.db.delivery.findMany({ where: { campaignId: k }, orderBy: { seq: 'asc' } });
  const failed = deliveries.filter((d) => d.status === 'FAILED');
  expect(failed.map((d) => d.userId)).toEqual([users[3].id, users[6].id]);
  for (const d of failed) expect(d.lastError).toBe('template: template.body: renders to more than 100000 characters');
  const messages = await stack.db.outboxMessage.findMany({ where: { idempotencyKey: { startsWith: `campaign:${k}:` } } });
  expect(messages).toHaveLength(7);
  const seventh = messages.find((m) => m.idempotencyKey === `campaign:${k}:${users[7].id}`)!;
  expect({ subject: seventh.subject, body: seventh.body }).toEqual({ subject: 'Hi Ann7', body: `${'x'.repeat(2000)}nn7` });
  // The API lists the reason too (GET /v1/campaigns/:id/deliveries?status=failed).
  const listed = await stack.api('viewer').get(`/v1/campaigns/${k}/deliveries?status=failed`).expect(200);
  expect(listed.body.deliveries.map((d: { lastError: string }) => d.lastError)).toEqual([failed[0].lastError, failed[1].lastError]);
}, 90_000);
