// The outbox provider (the default for every channel): "sending" writes the rendered message to the
// outbox_messages table, which is what a real provider would have been handed. Idempotent by the
// delivery's key (unique idempotency_key): a repeated key is a success that answers with the id of the
// first message stored under it, so a retried or replayed delivery never produces a second row.
//
// sendMany() is the fast path for campaigns: one INSERT per call, whatever the batch size (plus one
// SELECT when some keys were already stored) - the batch travels as five arrays and is expanded
// server-side with unnest (no per-row parameters, no 65,535-parameter limit), and the ids come back
// with RETURNING.
import type { Db } from '../db/client';
import { CHANNELS } from '../domain/campaign';
import type { OutgoingMessage, Provider, SendResult } from './types';

export interface OutboxProvider extends Provider {
  readonly name: 'outbox';
  /** Stores every message in one INSERT; results in the order of `messages`. Never throws. */
  sendMany(messages: readonly OutgoingMessage[]): Promise<SendResult[]>;
}

// Column limits of outbox_messages (prisma/schema.prisma). PostgreSQL counts characters (code points).
const LIMITS = { idempotencyKey: 250, to: 512, subject: 300 } as const;

// Keys are sorted by the caller: concurrent batches with overlapping keys then take the unique-index
// locks in the same order and cannot deadlock each other. RETURNING gives the ids of the rows this
// statement inserted; keys it skipped (stored before, or by a concurrent statement it waited for) are
// looked up by FETCH_SQL, a second statement with a fresh snapshot that sees them - so the common case
// (all new) is one round trip, and a retried batch is two.
const INSERT_SQL = `
INSERT INTO "outbox_messages" ("idempotency_key", "channel", "recipient", "subject", "body")
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
ON CONFLICT ("idempotency_key") DO NOTHING
RETURNING "idempotency_key" AS k, "id"::text AS id`;

const FETCH_SQL = `SELECT "idempotency_key" AS k, "id"::text AS id FROM "outbox_messages" WHERE "idempotency_key" = ANY($1::text[])`;

/** Length in code points, cheap for the common case of a short string. */
function tooLong(s: string, limit: number): boolean {
  if (s.length <= limit) return false; // code points <= UTF-16 units
  let n = 0;
  for (const _ of s) if (++n > limit) return true;
  return false;
}

/** Why PostgreSQL would refuse this message (the whole batch would fail with it), or undefined. */
function invalid(m: OutgoingMessage): string | undefined {
  if (typeof m.idempotencyKey !== 'string' || m.idempotencyKey.length === 0) return 'idempotency key is empty';
  if (tooLong(m.idempotencyKey, LIMITS.idempotencyKey)) return `idempotency key longer than ${LIMITS.idempotencyKey} characters`;
  if (!(CHANNELS as readonly string[]).includes(m.channel)) return `unknown channel ${JSON.stringify(m.channel)}`;
  if (typeof m.to !== 'string' || m.to.trim().length === 0) return 'recipient address is empty';
  if (tooLong(m.to, LIMITS.to)) return `recipient address longer than ${LIMITS.to} characters`;
  if (m.subject != null && typeof m.subject !== 'string') return 'subject is not text';
  if (m.subject != null && tooLong(m.subject, LIMITS.subject)) return `subject longer than ${LIMITS.subject} characters`;
  if (typeof m.body !== 'string') return 'body is not text';
  // PostgreSQL text cannot hold NUL.
  if (m.idempotencyKey.includes('\0') || m.to.includes('\0') || m.subject?.includes('\0') || m.body.includes('\0')) return 'message contains a NUL character';
  return undefined;
}

function errorText(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return (e?.message ?? String(err)).split('\n').filter(Boolean).slice(-1)[0] ?? 'unknown error';
}

export function createOutboxProvider(db: Db): OutboxProvider {
  async function sendMany(messages: readonly OutgoingMessage[]): Promise<SendResult[]> {
    const results = new Array<SendResult>(messages.length);
    // First valid message per key: later ones with the same key are the same message.
    const firstIndex = new Map<string, number>();
    const sameAs = new Array<number>(messages.length).fill(-1);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      const why = invalid(m);
      if (why) {
        results[i] = { ok: false, permanent: true, error: `outbox: ${why}` };
        continue;
      }
      const first = firstIndex.get(m.idempotencyKey);
      if (first === undefined) firstIndex.set(m.idempotencyKey, i);
      else sameAs[i] = first;
    }
    if (firstIndex.size === 0) return results;

    const keys = [...firstIndex.keys()].sort();
    const n = keys.length;
    const channels = new Array<string>(n);
    const recipients = new Array<string>(n);
    const subjects = new Array<string | null>(n);
    const bodies = new Array<string>(n);
    for (let j = 0; j < n; j++) {
      const m = messages[firstIndex.get(keys[j])!];
      channels[j] = m.channel;
      recipients[j] = m.to;
      subjects[j] = m.subject ?? null;
      bodies[j] = m.body;
    }

    const ids = new Map<string, string>();
    try {
      const rows = await db.$queryRawUnsafe<Array<{ k: string; id: string }>>(INSERT_SQL, keys, channels, recipients, subjects, bodies);
      for (const r of rows) ids.set(r.k, r.id);
      if (ids.size < n) {
        // Keys stored before (a retry, a duplicate) or by a concurrent statement (committed: ON CONFLICT waited).
        const missing = keys.filter((k) => !ids.has(k));
        const more = await db.$queryRawUnsafe<Array<{ k: string; id: string }>>(FETCH_SQL, missing);
        for (const r of more) ids.set(r.k, r.id);
      }
    } catch (err) {
      const error = `outbox: database error: ${errorText(err)}`;
      for (const i of firstIndex.values()) results[i] = { ok: false, permanent: false, error };
      for (let i = 0; i < messages.length; i++) if (sameAs[i] >= 0) results[i] = results[sameAs[i]];
      return results;
    }

    for (const [key, i] of firstIndex) {
      const id = ids.get(key);
      results[i] = id !== undefined ? { ok: true, providerMessageId: id } : { ok: false, permanent: false, error: 'outbox: message neither inserted nor found (concurrent delete?)' };
    }
    for (let i = 0; i < messages.length; i++) if (sameAs[i] >= 0) results[i] = results[sameAs[i]];
    return results;
  }

  return {
    name: 'outbox',
    async send(message: OutgoingMessage): Promise<SendResult> {
      const [result] = await sendMany([message]);
      return result;
    },
    sendMany,
  };
}
