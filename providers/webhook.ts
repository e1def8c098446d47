// The webhook provider: every message is an HMAC-signed JSON POST to one configured URL; the system
// behind it (an SMS gateway, a push service, a test sink) does the actual delivery.
//
// Request
//   POST <url>
//   Content-Type: application/json
//   Idempotency-Key: <the delivery's idempotency key>   (percent-encoded only if it is not printable ASCII)
//   X-Keel-Timestamp: <unix seconds when signed>
//   X-Keel-Signature: sha256=<hex HMAC-SHA256(secret, `${timestamp}.${rawBody}`)>
//   body: {"idempotencyKey", "channel", "to", "subject", "body", "sentAt"}   (subject null when absent)
//
// A receiver must (verifyWebhookSignature below does all of it):
//   1. take the raw request body bytes, exactly as received (not re-serialised JSON);
//   2. recompute the HMAC over `${X-Keel-Timestamp}.${rawBody}` with the shared secret and compare it
//      with the header in constant time;
//   3. reject a timestamp further than a tolerance (e.g. 300 s) from its clock, so a captured request
//      cannot be replayed later;
//   4. deduplicate on idempotencyKey: a retry re-sends the same key (with a new timestamp and sentAt).
//
// Answers
//   2xx                                -> delivered; a JSON body's `id` becomes providerMessageId
//   408, 429, 5xx, network error, timeout -> transient (retried with backoff)
//   other 4xx, 3xx (redirects are not followed: configure the final URL) -> permanent (marked failed)
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { OutgoingMessage, Provider, SendResult } from './types';

export interface WebhookProviderOptions {
  url: string;
  secret: string;
  /** Whole-request timeout (connect, send, response and body). Default 10 s. */
  timeoutMs?: number;
  /** Injectable fetch (default: Node's global fetch, undici). */
  fetch?: typeof fetch;
  /** Clock for sentAt and the signature timestamp (tests). */
  now?: () => Date;
}

export const SIGNATURE_HEADER = 'X-Keel-Signature';
export const TIMESTAMP_HEADER = 'X-Keel-Timestamp';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The X-Keel-Signature value for a timestamp (unix seconds, as sent) and the exact body text. */
export function signWebhook(secret: string, timestamp: string | number, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(rawBody);
  return `sha256=${mac.digest('hex')}`;
}

/**
 * For receivers: true when `signature` (the X-Keel-Signature header) is `sha256=<hex>` of
 * HMAC-SHA256(secret, `${timestamp}.${rawBody}`) for one of the secrets (several while rotating), and
 * `timestamp` (X-Keel-Timestamp, unix seconds) is within `toleranceSec` of `nowSec`. The comparison is
 * constant-time. `rawBody` must be the body exactly as received.
 */
export function verifyWebhookSignature(
  secret: string | readonly string[],
  timestamp: string | null | undefined,
  rawBody: string | Buffer,
  signature: string | null | undefined,
  toleranceSec: number,
  nowSec: number = Date.now() / 1000,
): boolean {
  if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return false;
  if (!(Math.abs(nowSec - Number(timestamp)) <= toleranceSec)) return false;
  if (typeof signature !== 'string') return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
  if (!m) return false;
  const given = Buffer.from(m[1].toLowerCase(), 'hex');
  let ok = false;
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const expected = Buffer.from(signWebhook(s, timestamp, rawBody).slice('sha256='.length), 'hex');
    // Check every secret (no early exit), so timing does not tell which one matched.
    if (timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

/** Header-safe form of the key: as is when printable ASCII, percent-encoded otherwise. */
function headerKey(key: string): string {
  return /^[\x20-\x7e]*$/.test(key) ? key : encodeURIComponent(key);
}

function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function retryAfter(res: Response): string {
  const v = res.headers.get('retry-after');
  return v ? ` (Retry-After: ${v.slice(0, 40)})` : '';
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t ? `: ${t.length > 200 ? `${t.slice(0, 200)}...` : t}` : '';
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  if (e?.name === 'AbortError') return 'aborted';
  const cause = e?.cause?.code ?? e?.cause?.message;
  return `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}

export function createWebhookProvider(options: WebhookProviderOptions): Provider {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new Error(`webhook provider: invalid URL ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`webhook provider: URL must be http(s), got ${url.protocol}`);
  if (!options.secret) throw new Error('webhook provider: a signing secret is required');
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!(timeoutMs > 0)) throw new Error(`webhook provider: timeoutMs must be > 0, got ${timeoutMs}`);
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => new Date());
  const target = url.toString();

  return {
    name: 'webhook',
    async send(message: OutgoingMessage): Promise<SendResult> {
      const at = now();
      const timestamp = String(Math.floor(at.getTime() / 1000));
      const rawBody = JSON.stringify({
        idempotencyKey: message.idempotencyKey,
        channel: message.channel,
        to: message.to,
        subject: message.subject ?? null,
        body: message.body,
        sentAt: at.toISOString(),
      });
      let res: Response;
      let text: string;
      try {
        res = await doFetch(target, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'keel-webhook/1',
            [IDEMPOTENCY_HEADER]: headerKey(message.idempotencyKey),
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signWebhook(options.secret, timestamp, rawBody),
          },
          body: rawBody,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        // Read the body under the same timeout; it also frees the connection for reuse.
        text = await res.text();
      } catch (err) {
        return { ok: false, permanent: false, error: `webhook: ${describeFetchError(err, timeoutMs)}` };
      }

      const status = res.status;
      if (status >= 200 && status < 300) {
        let providerMessageId: string | undefined;
        if (text) {
          try {
            const id = (JSON.parse(text) as { id?: unknown } | null)?.id;
            if (typeof id === 'string' || typeof id === 'number') providerMessageId = String(id);
          } catch {
            // not JSON: delivered, without a provider id
          }
        }
        return providerMessageId === undefined ? { ok: true } : { ok: true, providerMessageId };
      }
      const what = `webhook: HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (isTransientStatus(status)) return { ok: false, permanent: false, error: `${what}${retryAfter(res)}${snippet(text)}` };
      if (status >= 300 && status < 400) {
        const loc = res.headers.get('location');
        return { ok: false, permanent: true, error: `${what}: redirects are not followed${loc ? ` (Location: ${loc.slice(0, 200)})` : ''}; configure the final URL` };
      }
      return { ok: false, permanent: true, error: `${what}${snippet(text)}` };
    },
  };
}
