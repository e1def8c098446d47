// Providers chosen per channel by configuration. Every channel defaults to the outbox, so a laptop needs
// no setting at all; choosing smtp or webhook without its settings fails at start-up with a message
// naming the missing variables.
//
//   KEEL_PROVIDER_EMAIL = outbox | smtp | webhook     (default outbox)
//   KEEL_PROVIDER_SMS   = outbox | webhook            (default outbox)
//   KEEL_PROVIDER_PUSH  = outbox | webhook            (default outbox)
//   KEEL_SMTP_URL       = smtp://user:pass@host:587 (STARTTLS when offered) | smtps://user:pass@host:465
//                         optional query: ?requireTLS=true | ?ignoreTLS=true | ?rejectUnauthorized=false
//                         | ?maxConnections=5
//   KEEL_SMTP_FROM      = "Keel <no-reply@example.com>"
//   KEEL_WEBHOOK_URL    = https://gateway.example.com/keel        (one URL for every webhook channel)
//   KEEL_WEBHOOK_SECRET = shared HMAC secret, >= 16 characters
//   KEEL_WEBHOOK_TIMEOUT = 10s
//   KEEL_RATE_LIMIT_EMAIL / _SMS / _PUSH = provider limit in messages per second (unset: unlimited)
import { z } from 'zod';
import { parseDurationMs } from '../config/durations';
import type { Db } from '../db/client';
import { CHANNELS, type Channel } from '../domain/campaign';
import { createOutboxProvider } from './outbox';
import { createSmtpProvider, type SmtpProviderOptions } from './smtp';
import type { OutgoingMessage, Provider, SendResult } from './types';
import { createWebhookProvider } from './webhook';

export type { OutgoingMessage, Provider, SendResult } from './types';
export { createOutboxProvider, type OutboxProvider } from './outbox';
export { createSmtpProvider, classifySmtpError, messageIdFor, type SmtpProvider, type SmtpProviderOptions } from './smtp';
export { createWebhookProvider, signWebhook, verifyWebhookSignature, type WebhookProviderOptions } from './webhook';
export { TokenBucket } from './token-bucket';

export const EMAIL_PROVIDERS = ['outbox', 'smtp', 'webhook'] as const;
export const SMS_PROVIDERS = ['outbox', 'webhook'] as const;
export const PUSH_PROVIDERS = ['outbox', 'webhook'] as const;
export type ProviderKind = (typeof EMAIL_PROVIDERS)[number];

/** An unset variable and an empty one (`KEEL_SMTP_URL=`) mean the same: not configured. */
const blank = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const smtpUrl = z.preprocess(
  blank,
  z
    .string()
    .refine((s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'smtp:' || u.protocol === 'smtps:') && u.hostname !== '';
      } catch {
        return false;
      }
    }, 'must look like smtp://user:pass@host:587 or smtps://user:pass@host:465')
    .optional(),
);

const webhookUrl = z.preprocess(
  blank,
  z
    .string()
    .refine((s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, 'must be an http(s) URL')
    .optional(),
);

const rate = z.preprocess(blank, z.coerce.number().positive('must be a positive number of messages per second').optional());

const timeout = z.preprocess(
  blank,
  z
    .string()
    .default('10s')
    .transform((s, ctx) => {
      try {
        const ms = parseDurationMs(s);
        if (ms <= 0) throw new Error('must be longer than 0');
        return ms;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
);

/**
 * The provider variables, to merge into config/env.ts: `z.object({ ...existing, ...providerEnvSchema.shape })`.
 * Cross-variable requirements (smtp chosen -> KEEL_SMTP_URL and KEEL_SMTP_FROM...) are checked by
 * providerEnvIssues() / createProviders(), so this stays a plain object whose shape can be spread.
 */
export const providerEnvSchema = z.object({
  KEEL_PROVIDER_EMAIL: z.preprocess(blank, z.enum(EMAIL_PROVIDERS).default('outbox')),
  KEEL_PROVIDER_SMS: z.preprocess(blank, z.enum(SMS_PROVIDERS).default('outbox')),
  KEEL_PROVIDER_PUSH: z.preprocess(blank, z.enum(PUSH_PROVIDERS).default('outbox')),
  KEEL_SMTP_URL: smtpUrl,
  KEEL_SMTP_FROM: z.preprocess(blank, z.string().optional()),
  KEEL_WEBHOOK_URL: webhookUrl,
  KEEL_WEBHOOK_SECRET: z.preprocess(blank, z.string().min(16, 'must be at least 16 characters').optional()),
  /** Whole-request timeout of a webhook call (duration: 10s, 2500ms...). */
  KEEL_WEBHOOK_TIMEOUT: timeout,
  KEEL_RATE_LIMIT_EMAIL: rate,
  KEEL_RATE_LIMIT_SMS: rate,
  KEEL_RATE_LIMIT_PUSH: rate,
});

export type ProviderEnv = z.output<typeof providerEnvSchema>;

const KIND_VAR: Record<Channel, keyof ProviderEnv> = { email: 'KEEL_PROVIDER_EMAIL', sms: 'KEEL_PROVIDER_SMS', push: 'KEEL_PROVIDER_PUSH' };
const RATE_VAR: Record<Channel, keyof ProviderEnv> = { email: 'KEEL_RATE_LIMIT_EMAIL', sms: 'KEEL_RATE_LIMIT_SMS', push: 'KEEL_RATE_LIMIT_PUSH' };

function kindFor(config: ProviderEnv, channel: Channel): ProviderKind {
  return config[KIND_VAR[channel]] as ProviderKind;
}

/**
 * What is missing for the chosen providers, one line per problem (empty: fine). config/env.ts can
 * report these with its other issues; createProviders() throws with them.
 */
export function providerEnvIssues(config: ProviderEnv): string[] {
  const issues: string[] = [];
  const using = (kind: ProviderKind) => CHANNELS.filter((c) => kindFor(config, c) === kind).map((c) => `${KIND_VAR[c]}=${kind}`);
  const smtp = using('smtp');
  if (smtp.length) {
    if (!config.KEEL_SMTP_URL) issues.push(`${smtp.join(', ')} needs KEEL_SMTP_URL (e.g. smtp://user:pass@mail.example.com:587)`);
    if (!config.KEEL_SMTP_FROM) issues.push(`${smtp.join(', ')} needs KEEL_SMTP_FROM (e.g. "Keel <no-reply@example.com>")`);
  }
  const webhook = using('webhook');
  if (webhook.length) {
    if (!config.KEEL_WEBHOOK_URL) issues.push(`${webhook.join(', ')} needs KEEL_WEBHOOK_URL (e.g. https://gateway.example.com/keel)`);
    if (!config.KEEL_WEBHOOK_SECRET) issues.push(`${webhook.join(', ')} needs KEEL_WEBHOOK_SECRET (a shared secret of at least 16 characters)`);
  }
  if (kindFor(config, 'sms') === 'smtp' || kindFor(config, 'push') === 'smtp') issues.push('the smtp provider sends email only');
  return issues;
}

const truthy = (v: string | null) => v === 'true' || v === '1' || v === 'yes';

/** smtp://user:pass@host:port?requireTLS=true -> options (user and pass percent-decoded). */
export function smtpOptionsFromUrl(url: string, from: string): SmtpProviderOptions {
  const u = new URL(url);
  const secure = u.protocol === 'smtps:';
  if (!secure && u.protocol !== 'smtp:') throw new Error(`KEEL_SMTP_URL: expected smtp:// or smtps://, got ${u.protocol}`);
  const q = u.searchParams;
  const maxConnections = q.get('maxConnections');
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    pass: u.password ? decodeURIComponent(u.password) : undefined,
    from,
    requireTLS: truthy(q.get('requireTLS')) || undefined,
    ignoreTLS: truthy(q.get('ignoreTLS')) || undefined,
    rejectUnauthorized: q.get('rejectUnauthorized') === 'false' ? false : undefined,
    maxConnections: maxConnections ? Math.max(1, Number(maxConnections) || 5) : undefined,
  };
}

export interface CreateProvidersOptions {
  /** fetch for the webhook provider (tests). */
  fetch?: typeof fetch;
}

/**
 * One provider per channel, as configured. Channels that choose the same kind share one instance (one
 * SMTP pool, one webhook client). Throws listing every missing setting.
 */
export function createProviders(config: ProviderEnv, db: Db, options: CreateProvidersOptions = {}): Record<Channel, Provider> {
  const issues = providerEnvIssues(config);
  if (issues.length) throw new Error(`Invalid provider configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`);
  const made = new Map<ProviderKind, Provider>();
  const get = (kind: ProviderKind): Provider => {
    let p = made.get(kind);
    if (!p) {
      if (kind === 'outbox') p = createOutboxProvider(db);
      else if (kind === 'smtp') p = createSmtpProvider(smtpOptionsFromUrl(config.KEEL_SMTP_URL!, config.KEEL_SMTP_FROM!));
      else p = createWebhookProvider({ url: config.KEEL_WEBHOOK_URL!, secret: config.KEEL_WEBHOOK_SECRET!, timeoutMs: config.KEEL_WEBHOOK_TIMEOUT, fetch: options.fetch });
      made.set(kind, p);
    }
    return p;
  };
  return { email: get(kindFor(config, 'email')), sms: get(kindFor(config, 'sms')), push: get(kindFor(config, 'push')) };
}

/** Closes each distinct provider once (an instance shared by channels is closed once). */
export async function closeProviders(providers: Partial<Record<Channel, Provider>>): Promise<void> {
  const distinct = new Set(Object.values(providers).filter((p): p is Provider => !!p));
  // async: a close() that throws synchronously is settled like a rejection and the others still run.
  await Promise.allSettled([...distinct].map(async (p) => p.close?.()));
}

/** Provider limits per channel in messages per second; undefined = no limit. */
export function rateLimits(config: ProviderEnv): Record<Channel, number | undefined> {
  return {
    email: config[RATE_VAR.email] as number | undefined,
    sms: config[RATE_VAR.sms] as number | undefined,
    push: config[RATE_VAR.push] as number | undefined,
  };
}

/** A provider that can also take a batch in one call (the outbox: one INSERT). */
export type BatchProvider = Provider & { sendMany(messages: readonly OutgoingMessage[]): Promise<SendResult[]> };

export function isBatchProvider(p: Provider): p is BatchProvider {
  return typeof (p as Partial<BatchProvider>).sendMany === 'function';
}
