// The webhook provider against a real HTTP server on 127.0.0.1: the request is signed so a receiver can
// verify it, and each kind of answer is classified (2xx ok, 408/429/5xx/timeout/network transient,
// other 4xx permanent).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookProvider, signWebhook, verifyWebhookSignature } from '../../providers/webhook';
import type { OutgoingMessage, Provider } from '../../providers/types';

const SECRET = 'test-secret-0123456789abcdef';

interface Received {
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  verified: boolean;
}

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse, rawBody: string) => void;

let server: http.Server;
let base: string;
const received: Received[] = [];
/** The route's behaviour, by path. */
const routes = new Map<string, Behaviour>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const verified = verifyWebhookSignature(SECRET, req.headers['x-keel-timestamp'] as string, rawBody, req.headers['x-keel-signature'] as string, 300);
      received.push({ headers: req.headers, rawBody, verified });
      const behaviour = routes.get(req.url ?? '') ?? ((_q, s) => s.writeHead(404).end());
      behaviour(req, res, rawBody);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received.length = 0;
});

const message: OutgoingMessage = {
  idempotencyKey: 'campaign:c-1:user-42',
  channel: 'sms',
  to: '+4915112345678',
  subject: undefined,
  body: 'Hi Ana, your code is KEEL-42',
};

function provider(path: string, behaviour: Behaviour, timeoutMs = 2_000): Provider {
  routes.set(path, behaviour);
  return createWebhookProvider({ url: `${base}${path}`, secret: SECRET, timeoutMs });
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Behaviour => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
};

test('2xx: delivered, signed, and the JSON id becomes the provider message id', async () => {
  const p = provider('/ok', json(202, { id: 'gw-123', status: 'queued' }));
  const beforeSec = Math.floor(Date.now() / 1000);
  const r = await p.send(message);
  const afterSec = Math.floor(Date.now() / 1000);
  expect(r).toEqual({ ok: true, providerMessageId: 'gw-123' });

  expect(received).toHaveLength(1);
  const [req] = received;
  expect(req.verified).toBe(true);
  expect(req.headers['content-type']).toBe('application/json');
  expect(req.headers['idempotency-key']).toBe(message.idempotencyKey);
  expect(req.headers['x-keel-timestamp']).toMatch(/^\d{10}$/);
  // The send time, in unix seconds: between the clock before and after the call (no tolerance needed).
  const timestamp = Number(req.headers['x-keel-timestamp']);
  expect(timestamp).toBeGreaterThanOrEqual(beforeSec);
  expect(timestamp).toBeLessThanOrEqual(afterSec);
  expect(req.headers['x-keel-signature']).toBe(signWebhook(SECRET, req.headers['x-keel-timestamp'] as string, req.rawBody));
  const body = JSON.parse(req.rawBody);
  expect(body).toEqual({
    idempotencyKey: message.idempotencyKey,
    channel: 'sms',
    to: '+4915112345678',
    subject: null,
    body: 'Hi Ana, your code is KEEL-42',
    sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });
  expect(Math.floor(Date.parse(body.sentAt) / 1000)).toBe(timestamp); // the same instant as the signature's
});

test('2xx without a JSON body is delivered without a provider id', async () => {
  const p = provider('/empty', (_q, res) => res.writeHead(204).end());
  expect(await p.send({ ...message, channel: 'push', subject: 'Ride', to: 'push-token-abc' })).toEqual({ ok: true });
  expect(JSON.parse(received[0].rawBody)).toMatchObject({ channel: 'push', subject: 'Ride', to: 'push-token-abc' });
});

test('verifyWebhookSignature rejects tampering, wrong secrets, stale timestamps and junk', () => {
  const ts = String(Math.floor(Date.now() / 1000));
  const body = '{"idempotencyKey":"k","body":"hello"}';
  const sig = signWebhook(SECRET, ts, body);
  expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
  expect(verifyWebhookSignature(SECRET, ts, body, sig, 300)).toBe(true);
  expect(verifyWebhookSignature(SECRET, ts, Buffer.from(body), sig, 300)).toBe(true);
  expect(verifyWebhookSignature(['old-secret-xxxxxxxxxx', SECRET], ts, body, sig, 300)).toBe(true); // rotation
  expect(verifyWebhookSignature(SECRET, ts, body.replace('hello', 'hellO'), sig, 300)).toBe(false);
  expect(verifyWebhookSignature('another-secret-0123456789', ts, body, sig, 300)).toBe(false);
  expect(verifyWebhookSignature(SECRET, String(Number(ts) - 1), body, sig, 300)).toBe(false); // timestamp is signed
  const old = String(Number(ts) - 301);
  expect(verifyWebhookSignature(SECRET, old, body, signWebhook(SECRET, old, body), 300)).toBe(false); // replay
  expect(verifyWebhookSignature(SECRET, old, body, signWebhook(SECRET, old, body), 600)).toBe(true);
  expect(verifyWebhookSignature(SECRET, ts, body, sig.replace('sha256=', ''), 300)).toBe(false);
  expect(verifyWebhookSignature(SECRET, ts, body, 'sha256=abc', 300)).toBe(false);
  expect(verifyWebhookSignature(SECRET, ts, body, undefined, 300)).toBe(false);
  expect(verifyWebhookSignature(SECRET, undefined, body, sig, 300)).toBe(false);
  expect(verifyWebhookSignature(SECRET, 'not-a-number', body, sig, 300)).toBe(false);
});

test('500 -> transient', async () => {
  const p = provider('/500', json(500, { error: 'database down' }));
  const r = await p.send(message);
  expect(r).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('HTTP 500') });
  expect(r.ok === false && r.error).toContain('database down');
});

test('503 and 502 -> transient', async () => {
  expect(await provider('/503', json(503, {})).send(message)).toMatchObject({ ok: false, permanent: false });
  expect(await provider('/502', (_q, res) => res.writeHead(502).end('bad gateway')).send(message)).toMatchObject({ ok: false, permanent: false });
});

test('429 -> transient, with Retry-After in the error', async () => {
  const r = await provider('/429', json(429, { error: 'slow down' }, { 'retry-after': '7' })).send(message);
  expect(r).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('Retry-After: 7') });
});

test('408 -> transient', async () => {
  expect(await provider('/408', json(408, {})).send(message)).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('HTTP 408') });
});

test('400 -> permanent, with the answer in the error', async () => {
  const r = await provider('/400', json(400, { error: 'invalid phone number' })).send(message);
  expect(r).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('invalid phone number') });
  expect(r.ok === false && r.error).toContain('HTTP 400');
});

test('401, 404 and 422 -> permanent', async () => {
  for (const status of [401, 404, 422]) {
    expect(await provider(`/${status}`, json(status, {})).send(message)).toMatchObject({ ok: false, permanent: true });
  }
});

test('a redirect is not followed -> permanent, naming the location', async () => {
  const r = await provider('/moved', (_q, res) => res.writeHead(308, { location: '/elsewhere' }).end()).send(message);
  expect(r).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('/elsewhere') });
  expect(received).toHaveLength(1);
});

test('timeout -> transient (no answer within timeoutMs: it waits that long, then gives up)', async () => {
  const pending: http.ServerResponse[] = [];
  const p = provider('/slow', (_q, res) => void pending.push(res), 300);
  const t = performance.now();
  const r = await p.send(message);
  const tookMs = performance.now() - t;
  // Not before the timeout; and it gave up (the server never answers) well before the 10 s default
  // timeout would have: a bound against ignoring the setting, not a speed requirement.
  expect(tookMs).toBeGreaterThanOrEqual(290);
  expect(tookMs).toBeLessThan(8_000);
  expect(r).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('timed out after 300 ms') });
  for (const res of pending) res.destroy();
});

test('timeout while the body trickles in -> transient', async () => {
  const pending: http.ServerResponse[] = [];
  const p = provider('/trickle', (_q, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":');
    pending.push(res);
  }, 300);
  expect(await p.send(message)).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('timed out') });
  for (const res of pending) res.destroy();
});

test('connection refused and a dropped connection -> transient', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const refused = createWebhookProvider({ url: `http://127.0.0.1:${port}/hook`, secret: SECRET, timeoutMs: 2_000 });
  expect(await refused.send(message)).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('ECONNREFUSED') });

  const dropped = provider('/drop', (req) => req.socket.destroy());
  expect(await dropped.send(message)).toMatchObject({ ok: false, permanent: false });
});

test('a key that is not printable ASCII is percent-encoded in the header, exact in the body', async () => {
  const p = provider('/unicode', json(200, { id: 7 }));
  const key = 'campaign:c-1:jürgen';
  expect(await p.send({ ...message, idempotencyKey: key })).toEqual({ ok: true, providerMessageId: '7' });
  expect(received[0].headers['idempotency-key']).toBe(encodeURIComponent(key));
  expect(JSON.parse(received[0].rawBody).idempotencyKey).toBe(key);
  expect(received[0].verified).toBe(true);
});

test('bad configuration fails at creation', () => {
  expect(() => createWebhookProvider({ url: 'not a url', secret: SECRET })).toThrow(/invalid URL/);
  expect(() => createWebhookProvider({ url: 'ftp://example.com/x', secret: SECRET })).toThrow(/http/);
  expect(() => createWebhookProvider({ url: `${base}/ok`, secret: '' })).toThrow(/secret/);
});
