// Who sees which personal data (api/personal-data.ts), provider error texts redacted before they are
// stored or logged (providers/redacting.ts), and operations alerts that only go to configured addresses.
import { randomBytes } from 'node:crypto';
import type { BatchingProvider } from '../../activities/campaigns';
import type { OutgoingMessage, SendResult } from '../../providers/types';
import { redactAddresses } from '../../domain/redact';
import { bookingBody, eventually, startStack, type Stack } from '../helpers/stack';

const OPS = ['ops-one@keel.test', 'ops-two@keel.test'];

/** An SMS gateway stand-in that refuses every message and, as real ones do, echoes the number back. */
const echoingRefusal: BatchingProvider = {
  name: 'echoing-sms',
  async send(m: OutgoingMessage): Promise<SendResult> {
    return { ok: false, permanent: true, error: `400 invalid destination ${m.to} (also tried ${m.to.replace('+', '00')}); contact support@gateway.test` };
  },
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    name: 'personal-data', providers: { sms: echoingRefusal }, operationsAddresses: OPS,
    settings: { noShowGraceMs: 20_000 }, campaignSettings: { pageSize: 50 },
  });
});
afterAll(() => stack?.stop());

const tag = () => randomBytes(4).toString('hex');

describe('redactAddresses', () => {
  test('removes the known address, e-mail-shaped and phone-shaped text, and caps the length', () => {
    const out = redactAddresses('550 <ana.lopez@example.com>: no such user; sms +33 6 12 34 56 78 / token abcDEF123', ['abcDEF123']);
    expect(out).toBe('550 <[redacted]>: no such user; sms [redacted] / token [redacted]');
    expect(redactAddresses('x'.repeat(5000)).length).toBeLessThanOrEqual(501);
    const started = Date.now();
    redactAddresses(`${'a'.repeat(400)}@`.repeat(3));
    expect(Date.now() - started).toBeLessThan(200);
  });
});

describe('per role', () => {
  test('a viewer reads no report reporter or contact; service, operator and commander do', async () => {
    const created = await stack.api('service').post('/v1/reports', { reporter: 'Ana Lopez', contact: 'ana@example.com', summary: 'The car does not unlock' }).expect(201);
    const id = created.body.reportId as string;
    for (const role of ['service', 'operator', 'commander'] as const) {
      expect((await stack.api(role).get(`/v1/reports/${id}`).expect(200)).body).toMatchObject({ reporter: 'Ana Lopez', contact: 'ana@example.com' });
    }
    const one = (await stack.api('viewer').get(`/v1/reports/${id}`).expect(200)).body;
    expect(one).toMatchObject({ reportId: id, reporter: null, contact: null, summary: 'The car does not unlock' });
    const list = (await stack.api('viewer').get('/v1/reports').expect(200)).body.reports as Array<Record<string, unknown>>;
    expect(list.find((r) => r.reportId === id)).toMatchObject({ reporter: null, contact: null });
    expect(JSON.stringify(list)).not.toContain('ana@example.com');
  });

  test('a viewer reads no promo code of a delivery; a refused message is FAILED with the provider text, its address redacted everywhere', async () => {
    const t = tag();
    const users = Array.from({ length: 3 }, (_, i) => ({ id: `pd-${t}-${i}`, phone: `+3361234${t.replace(/\D/g, '').padEnd(4, '7').slice(0, 4)}${i}`, firstName: `Ann${i}`, timezone: 'UTC' }));
    await stack.db.user.createMany({ data: users });
    const poolId = `pool-${t}`;
    await stack.db.promoPool.create({ data: { id: poolId, name: poolId, idempotencyKey: poolId, requestHash: 'x'.repeat(64), size: 3 } });
    await stack.db.promoCode.createMany({ data: users.map((_, i) => ({ poolId, code: `${poolId}-C${i}` })) });
    const key = `pd-${t}`;
    await stack.api('service').post('/v1/campaigns', {
      name: 'Redaction', channel: 'sms', promoPoolId: poolId, template: { body: 'Code {{promoCode}}' }, audience: { userIds: users.map((u) => u.id) },
    }).set('Idempotency-Key', key).expect(202);
    await eventually(async () => ((await stack.api('viewer').get(`/v1/campaigns/${key}`)).body.status === 'COMPLETED' ? true : undefined), 60_000, 200);

    const asService = (await stack.api('service').get(`/v1/campaigns/${key}/deliveries`).expect(200)).body.deliveries as Array<Record<string, string>>;
    expect(asService).toHaveLength(3);
    expect(asService.every((d) => d.status === 'FAILED' && typeof d.promoCode === 'string')).toBe(true);
    const asViewer = (await stack.api('viewer').get(`/v1/campaigns/${key}/deliveries`).expect(200)).body.deliveries as Array<Record<string, unknown>>;
    expect(asViewer.every((d) => d.promoCode === null && d.status === 'FAILED')).toBe(true);

    const rows = await stack.db.delivery.findMany({ where: { campaignId: key } });
    for (const r of rows) {
      expect(r.lastError).toContain('invalid destination [redacted]');
      expect(r.lastError).not.toContain('support@gateway.test');
    }
    const history = JSON.stringify(await stack.client.workflow.getHandle(`campaign-${key}`).fetchHistory());
    const everything = JSON.stringify(asService) + JSON.stringify(rows) + history;
    for (const u of users) {
      expect(everything).not.toContain(u.phone);
      expect(everything).not.toContain(u.phone.replace('+', '00'));
    }
  });
});

describe('operations alerts', () => {
  test('an overdue booking alerts the configured addresses; a user created with the id "operations" receives nothing', async () => {
    const t = tag();
    // A service key can create any user id, "operations" included: it must not become the ops mailbox.
    await stack.api('service').post('/v1/users/batch', { users: [{ userId: 'operations', email: `attacker-${t}@evil.test` }] }).expect(200);
    const body = bookingBody({}, 300, 6_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await eventually(async () => ((await stack.api().get(`/v1/bookings/${body.bookingId}`)).body.status === 'ONGOING' ? true : undefined), 20_000);
    await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(200);
    const sent = await eventually(async () => {
      const rows = await stack.db.outboxMessage.findMany({ where: { idempotencyKey: { contains: `booking-${body.bookingId}:overdue:` } } });
      return rows.filter((r) => OPS.includes(r.recipient)).length === OPS.length ? rows : undefined;
    }, 30_000, 200);
    expect(sent.map((r) => r.recipient)).not.toContain(`attacker-${t}@evil.test`);
    expect(sent.find((r) => OPS.includes(r.recipient))!.subject).toBe(`Overdue: booking ${body.bookingId}`);
    expect(await stack.db.outboxMessage.count({ where: { recipient: `attacker-${t}@evil.test` } })).toBe(0);
  }, 60_000);
});
