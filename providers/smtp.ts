// The SMTP provider (channel email only): nodemailer over a pooled transport, so a campaign reuses a few
// connections instead of opening one per message.
//
// Idempotency: SMTP has no idempotency key, so the Message-ID is derived from the delivery's key,
// <sha256(key)@keel>, and the key itself travels in X-Keel-Idempotency-Key. A message re-sent after a
// crash (accepted by the server, but the worker died before recording it) is recognisably the same
// message, and receiving systems that deduplicate on Message-ID drop the copy.
//
// Outcomes:
//   permanent - the server refused this message or recipient with a 5xx (550 mailbox unavailable,
//               553 invalid address, 552/554 message refused) or the address is not a valid address;
//   transient - 4xx replies (421, 450, 451, 452), connection refused/reset, timeouts, TLS failures, and
//               authentication failures (a configuration problem of the whole transport, not of this
//               message: retried so nothing is marked failed while an operator fixes KEEL_SMTP_URL).
//               503 (bad sequence of commands) is a session problem and transient too.
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { OutgoingMessage, Provider, SendResult } from './types';

export interface SmtpProviderOptions {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). false: plain, upgraded with STARTTLS when offered. */
  secure?: boolean;
  user?: string;
  pass?: string;
  /** Sender, e.g. `Keel <no-reply@example.com>`. */
  from: string;
  /** Fail when the server does not offer STARTTLS (ignored when secure). */
  requireTLS?: boolean;
  /** Never upgrade with STARTTLS even if offered. */
  ignoreTLS?: boolean;
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Pooled connections (default 5). */
  maxConnections?: number;
  /** Timeouts in ms: TCP connect (default 10 s), greeting (10 s), idle socket (30 s). */
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export interface SmtpProvider extends Provider {
  readonly name: 'smtp';
  close(): Promise<void>;
}

/** The Message-ID for a delivery: the same key always gives the same id. */
export function messageIdFor(idempotencyKey: string): string {
  return `<${createHash('sha256').update(idempotencyKey).digest('hex')}@keel>`;
}

// One plain address, nothing else: no display name, no list, no comments, no angle brackets, no
// whitespace - a "to" like `a@x.com, b@y.com` must never reach two people. Unicode is allowed (SMTPUTF8
// local parts, internationalised domains that nodemailer converts to punycode).
const ADDRESS = /^[^\s@<>()[\]\\,;:"]+@(?:[^\s@<>()[\]\\,;:".]+\.)+[^\s@<>()[\]\\,;:".]+$/u;

/** Why `to` is not a deliverable email address, or undefined. */
export function invalidEmailAddress(to: string): string | undefined {
  if (typeof to !== 'string' || to.length === 0) return 'email address is empty';
  if (to.length > 254) return 'email address longer than 254 characters';
  if (!ADDRESS.test(to)) return `invalid email address ${JSON.stringify(to.slice(0, 100))}`;
  const local = to.slice(0, to.lastIndexOf('@'));
  if (Buffer.byteLength(local) > 64) return 'email address local part longer than 64 bytes';
  if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) return `invalid email address ${JSON.stringify(to.slice(0, 100))}`;
  return undefined;
}

interface SmtpError {
  message?: string;
  code?: string;
  responseCode?: number;
  command?: string;
  response?: string;
  originalCode?: string;
}

// Commands whose failure is about the session or the transport, never about this one message.
const SESSION_COMMANDS = /^(CONN|EHLO|HELO|LHLO|STARTTLS|AUTH)/i;
const SESSION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EREQUIRETLS', 'EAUTH', 'ENOAUTH', 'EOAUTH2', 'EPROXY', 'EPROTOCOL', 'EMAXLIMIT']);

/** Classifies a nodemailer error (see the header comment). */
export function classifySmtpError(err: unknown): { permanent: boolean; error: string } {
  const e = (err ?? {}) as SmtpError;
  const text = (e.message ?? String(err)).replace(/\s+/g, ' ').trim().slice(0, 400);
  const tag = [e.code, e.command].filter(Boolean).join(' ');
  const error = `smtp: ${tag ? `${tag}: ` : ''}${text}`;
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const sessionLevel = (e.command && SESSION_COMMANDS.test(e.command)) || (e.code !== undefined && SESSION_CODES.has(e.code) && e.code !== 'EENVELOPE');
  if (code !== undefined) {
    if (code >= 400 && code < 500) return { permanent: false, error };
    if (code === 503) return { permanent: false, error };
    if (code >= 500 && code < 600) return { permanent: !sessionLevel, error };
  }
  if (sessionLevel) return { permanent: false, error };
  // An envelope nodemailer itself refused before talking to the server (e.g. an invalid recipient).
  if (e.code === 'EENVELOPE' && e.command === 'API') return { permanent: true, error };
  // Anything else (unknown failures) is retried: a wrong "permanent" loses a message for good.
  return { permanent: false, error };
}

export function createSmtpProvider(options: SmtpProviderOptions): SmtpProvider {
  if (!options.host) throw new Error('smtp provider: host is required');
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new Error(`smtp provider: invalid port ${options.port}`);
  if (!options.from) throw new Error('smtp provider: a From address is required (KEEL_SMTP_FROM)');
  const transport = nodemailer.createTransport({
    pool: true,
    host: options.host,
    port: options.port,
    secure: options.secure ?? false,
    auth: options.user ? { user: options.user, pass: options.pass ?? '' } : undefined,
    requireTLS: options.requireTLS,
    ignoreTLS: options.ignoreTLS,
    tls: options.rejectUnauthorized === false ? { rejectUnauthorized: false } : undefined,
    maxConnections: options.maxConnections ?? 5,
    maxMessages: 1000,
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    greetingTimeout: options.greetingTimeoutMs ?? 10_000,
    socketTimeout: options.socketTimeoutMs ?? 30_000,
  });
  let closed = false;

  return {
    name: 'smtp',
    async send(message: OutgoingMessage): Promise<SendResult> {
      if (message.channel !== 'email') return { ok: false, permanent: true, error: `smtp: sends email only, not ${message.channel}` };
      if (closed) return { ok: false, permanent: false, error: 'smtp: provider is closed' };
      const to = typeof message.to === 'string' ? message.to.trim() : message.to;
      const bad = invalidEmailAddress(to);
      if (bad) return { ok: false, permanent: true, error: `smtp: ${bad}` };
      const messageId = messageIdFor(message.idempotencyKey);
      try {
        const info = await transport.sendMail({
          from: options.from,
          to,
          // The envelope is explicit: exactly this one recipient, whatever the headers say.
          envelope: { from: options.from, to: [to] },
          subject: message.subject ?? '',
          text: message.body,
          messageId,
          headers: { 'X-Keel-Idempotency-Key': message.idempotencyKey },
        });
        const rejected = (info as { rejected?: unknown[] }).rejected;
        if (Array.isArray(rejected) && rejected.length > 0) {
          // Not reached with one recipient (nodemailer fails the whole message instead), kept for safety.
          return { ok: false, permanent: true, error: `smtp: recipient rejected: ${String((info as { response?: string }).response ?? '')}` };
        }
        return { ok: true, providerMessageId: info.messageId || messageId };
      } catch (err) {
        const { permanent, error } = classifySmtpError(err);
        return { ok: false, permanent, error };
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      transport.close();
    },
  };
}
