// The SMTP provider against a REAL SMTP server (the smtp-server package) listening on 127.0.0.1, started
// here. What the server does depends on the recipient's local part, so one server covers every case.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerError } from 'smtp-server';
import { classifySmtpError, createSmtpProvider, invalidEmailAddress, messageIdFor, type SmtpProvider } from '../../providers/smtp';
import type { OutgoingMessage } from '../../providers/types';

interface Arrived {
  from: string;
  to: string[];
  raw: string;
  user?: string;
  /** smtp-server's id of the connection the message came over. */
  sessionId: string;
}

const arrived: Arrived[] = [];

function smtpError(code: number, text: string): SMTPServerError {
  const err = new Error(text) as SMTPServerError;
  err.responseCode = code;
  return err;
}

function startServer(opts: { auth?: { user: string; pass: string } } = {}): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({
    logger: false,
    closeTimeout: 200, // close() ends open connections after 200 ms (default 30 s)
    // No STARTTLS on offer (it would need a certificate the client trusts); AUTH only when asked for.
    disabledCommands: opts.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === opts.auth?.user && auth.password === opts.auth?.pass) cb(null, { user: auth.username });
      else cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
    },
    onRcptTo(address, _session, cb) {
      const local = address.address.split('@')[0];
      if (local === 'nobody') return cb(smtpError(550, '5.1.1 Mailbox unavailable'));
      if (local === 'badaddr') return cb(smtpError(553, '5.1.3 Invalid address'));
      if (local === 'greylisted') return cb(smtpError(451, '4.7.1 Greylisted, try again later'));
      if (local === 'full') return cb(smtpError(452, '4.2.2 Mailbox full'));
      if (local === 'busy') return cb(smtpError(450, '4.2.1 Mailbox busy'));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const to = session.envelope.rcptTo.map((r) => r.address);
        if (to.some((a) => a.startsWith('spam@'))) return cb(smtpError(554, '5.7.1 Message rejected as spam'));
        arrived.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, raw, user: session.user as string | undefined, sessionId: session.id });
        cb(null, 'Queued as TEST123');
      });
    },
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.server.address() as AddressInfo).port }));
  });
}

const stopServer = (s: SMTPServer) => new Promise<void>((resolve) => s.close(() => resolve()));

function headers(raw: string): Record<string, string> {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const i = line.indexOf(':');
    out[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

const bodyOf = (raw: string) => raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/\r\n$/, '');

let server: SMTPServer;
let port: number;
let smtp: SmtpProvider;
const opened: SmtpProvider[] = [];

function provider(over: Partial<Parameters<typeof createSmtpProvider>[0]> = {}): SmtpProvider {
  const p = createSmtpProvider({ host: '127.0.0.1', port, from: 'Keel <no-reply@keel.test>', connectionTimeoutMs: 3_000, greetingTimeoutMs: 3_000, ...over });
  opened.push(p);
  return p;
}

beforeAll(async () => {
  ({ server, port } = await startServer());
  smtp = provider();
});

afterAll(async () => {
  await Promise.all(opened.map((p) => p.close()));
  await stopServer(server);
});

beforeEach(() => {
  arrived.length = 0;
});

const email = (over: Partial<OutgoingMessage> = {}): OutgoingMessage => ({
  idempotencyKey: 'campaign:c-1:user-1',
  channel: 'email',
  to: 'ana@example.com',
  subject: 'Your ride is on us',
  body: 'Hi Ana, your promo code is KEEL-7F3A. Enjoy the ride!',
  ...over,
});

test('a message arrives with the derived Message-ID, subject, body, sender and recipient', async () => {
  const m = email();
  const r = await smtp.send(m);
  const expectedId = `<${createHash('sha256').update(m.idempotencyKey).digest('hex')}@keel>`;
  expect(r).toEqual({ ok: true, providerMessageId: expectedId });
  expect(messageIdFor(m.idempotencyKey)).toBe(expectedId);

  expect(arrived).toHaveLength(1);
  const [mail] = arrived;
  expect(mail.from).toBe('no-reply@keel.test');
  expect(mail.to).toEqual(['ana@example.com']);
  const h = headers(mail.raw);
  expect(h['message-id']).toBe(expectedId);
  expect(h.subject).toBe('Your ride is on us');
  expect(h.to).toBe('ana@example.com');
  expect(h.from).toBe('Keel <no-reply@keel.test>');
  expect(h['x-keel-idempotency-key']).toBe(m.idempotencyKey);
  expect(bodyOf(mail.raw)).toBe(m.body);
});

test('a re-sent delivery is recognisably the same message (same Message-ID); another delivery is not', async () => {
  await smtp.send(email());
  await smtp.send(email());
  await smtp.send(email({ idempotencyKey: 'campaign:c-1:user-2', to: 'bo@example.com' }));
  const ids = arrived.map((a) => headers(a.raw)['message-id']);
  expect(ids[0]).toBe(ids[1]);
  expect(ids[2]).not.toBe(ids[0]);
});

test('non-ASCII subject and body survive the trip (MIME-encoded)', async () => {
  const r = await smtp.send(email({ to: 'jurgen@example.com', subject: 'Grüße, Jürgen 🚗', body: 'Dein Code: KEEL-ÄÖÜ' }));
  expect(r.ok).toBe(true);
  const h = headers(arrived[0].raw);
  expect(h.subject).toMatch(/^=\?UTF-8\?/);
  const decoded = h.subject.replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=\s*/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8'),
  );
  expect(decoded).toBe('Grüße, Jürgen 🚗');
});

test('RCPT rejected with 550 (mailbox unavailable) -> permanent', async () => {
  const r = await smtp.send(email({ to: 'nobody@example.com' }));
  expect(r).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('550') });
  expect(arrived).toHaveLength(0);
});

test('RCPT rejected with 553 (invalid address) -> permanent', async () => {
  expect(await smtp.send(email({ to: 'badaddr@example.com' }))).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('553') });
});

test('message refused after DATA with 554 -> permanent', async () => {
  expect(await smtp.send(email({ to: 'spam@example.com' }))).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('554') });
});

test('RCPT rejected with 451 (greylisted) -> transient; 450 and 452 too', async () => {
  expect(await smtp.send(email({ to: 'greylisted@example.com' }))).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('451') });
  expect(await smtp.send(email({ to: 'busy@example.com' }))).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('450') });
  expect(await smtp.send(email({ to: 'full@example.com' }))).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('452') });
  // The pool is still usable afterwards.
  expect(await smtp.send(email())).toMatchObject({ ok: true });
});

test('invalid addresses -> permanent, without talking to the server', async () => {
  for (const to of ['', 'ana', 'ana@', '@example.com', 'ana@example', 'a b@example.com', 'ana@example.com, eve@evil.com', 'Ana <ana@example.com>', 'a..b@example.com', `${'x'.repeat(65)}@example.com`]) {
    const r = await smtp.send(email({ to }));
    expect({ to, r }).toMatchObject({ to, r: { ok: false, permanent: true, error: expect.stringMatching(/^smtp: /) } });
  }
  expect(arrived).toHaveLength(0);
  expect(invalidEmailAddress('ana@example.com')).toBeUndefined();
  expect(invalidEmailAddress('jürgen@bücher.de')).toBeUndefined();
  expect(invalidEmailAddress('first.last+promo@sub.example.co.uk')).toBeUndefined();
});

test('a non-email channel -> permanent', async () => {
  expect(await smtp.send(email({ channel: 'sms', to: '+4915112345678' }))).toMatchObject({ ok: false, permanent: true, error: expect.stringContaining('email only') });
});

test('server down -> transient', async () => {
  const { server: s, port: downPort } = await startServer();
  await stopServer(s);
  const down = provider({ port: downPort });
  const r = await down.send(email());
  expect(r).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('ECONNREFUSED') });
});

test('a server that stops mid-campaign -> transient, and the pool recovers when it is back', async () => {
  const { server: s, port: p } = await startServer();
  const flaky = provider({ port: p });
  expect(await flaky.send(email())).toMatchObject({ ok: true });
  await new Promise<void>((resolve) => s.close(() => resolve()));
  expect(await flaky.send(email({ idempotencyKey: 'k-during-outage' }))).toMatchObject({ ok: false, permanent: false });
  // The same port again (free: it was ours a moment ago).
  const again = new SMTPServer({ logger: false, closeTimeout: 200, disabledCommands: ['STARTTLS', 'AUTH'], authOptional: true, onData: (st, _s, cb) => st.on('data', () => undefined).on('end', () => cb()) });
  await new Promise<void>((resolve) => again.listen(p, '127.0.0.1', () => resolve()));
  try {
    expect(await flaky.send(email({ idempotencyKey: 'k-after-outage' }))).toMatchObject({ ok: true });
  } finally {
    await flaky.close();
    await stopServer(again);
  }
});

test('authentication: right credentials deliver; wrong ones are transient (a configuration problem)', async () => {
  const { server: s, port: p } = await startServer({ auth: { user: 'keel', pass: 's3cret' } });
  try {
    const good = provider({ port: p, user: 'keel', pass: 's3cret' });
    expect(await good.send(email())).toMatchObject({ ok: true });
    expect(arrived[0].user).toBe('keel');
    const bad = provider({ port: p, user: 'keel', pass: 'wrong' });
    expect(await bad.send(email())).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('EAUTH') });
    await Promise.all([good.close(), bad.close()]);
  } finally {
    await stopServer(s);
  }
});

test('many concurrent sends share a few pooled connections', async () => {
  const pooled = provider({ maxConnections: 3 });
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => pooled.send(email({ idempotencyKey: `pool-${i}`, to: `user${i}@example.com` }))));
  expect(results.every((r) => r.ok)).toBe(true);
  expect(arrived).toHaveLength(60);
  const used = new Set(arrived.map((a) => a.sessionId)).size;
  expect(used).toBeGreaterThanOrEqual(1);
  expect(used).toBeLessThanOrEqual(3);
  await pooled.close();
  expect(await pooled.send(email())).toMatchObject({ ok: false, permanent: false, error: expect.stringContaining('closed') });
});

test('classifySmtpError: 5xx permanent except session-level ones; 4xx and connection errors transient', () => {
  const c = (e: object) => classifySmtpError(Object.assign(new Error('x'), e)).permanent;
  expect(c({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550 })).toBe(true);
  expect(c({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 553 })).toBe(true);
  expect(c({ code: 'EMESSAGE', command: 'DATA', responseCode: 552 })).toBe(true);
  expect(c({ code: 'EENVELOPE', command: 'API' })).toBe(true);
  expect(c({ code: 'EENVELOPE', command: 'RCPT TO', responseCode: 451 })).toBe(false);
  expect(c({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 421 })).toBe(false);
  expect(c({ code: 'EPROTOCOL', command: 'RCPT TO', responseCode: 503 })).toBe(false);
  expect(c({ code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 535 })).toBe(false);
  expect(c({ code: 'ECONNECTION', command: 'CONN', responseCode: 554 })).toBe(false);
  expect(c({ code: 'ECONNECTION' })).toBe(false);
  expect(c({ code: 'ETIMEDOUT' })).toBe(false);
  expect(c({ code: 'ESOCKET' })).toBe(false);
  expect(c({})).toBe(false);
});
