// Rows for the playbook tests, written straight into a migrated test database with SQL, with times
// relative to `now` so the playbooks' own now()-based rules (not started, overdue) see them as meant.
// Each named row is either one a playbook must return or one it must leave out.
import { Client } from 'pg';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export interface Seeded {
  now: number;
  at(offsetMs: number): string;
}

type BookingRow = { id: string; customer: string; status: string; startIn: number; durationMs?: number };

/** Bookings: [id, customer, status, start offset from now, duration]. */
export const BOOKINGS: BookingRow[] = [
  { id: 'bk-c1-recent', customer: 'cust-1', status: 'COMPLETED', startIn: -10 * DAY },
  { id: 'bk-c1-old', customer: 'cust-1', status: 'COMPLETED', startIn: -200 * DAY },
  { id: 'bk-c1-future', customer: 'cust-1', status: 'CONFIRMED', startIn: 1 * DAY },
  { id: 'bk-c2-future', customer: 'cust-2', status: 'CONFIRMED', startIn: 2 * DAY },
  // Should have started: CONFIRMED 30 minutes after its start (listed), and 2 minutes after (within grace).
  { id: 'bk-late', customer: 'cust-3', status: 'CONFIRMED', startIn: -30 * MIN, durationMs: 2 * HOUR },
  { id: 'bk-just-started', customer: 'cust-3', status: 'CONFIRMED', startIn: -2 * MIN, durationMs: 2 * HOUR },
  // Overdue: one marked, one ONGOING past its end (not marked yet), one ONGOING still within its time.
  { id: 'bk-overdue-marked', customer: 'cust-4', status: 'OVERDUE', startIn: -5 * HOUR, durationMs: 3 * HOUR },
  { id: 'bk-overdue-unmarked', customer: 'cust-4', status: 'ONGOING', startIn: -3 * HOUR, durationMs: 3 * HOUR - 10 * MIN },
  { id: 'bk-ongoing', customer: 'cust-5', status: 'ONGOING', startIn: -1 * HOUR, durationMs: 2 * HOUR },
  // No-shows: within the last 7 days, and 20 days ago.
  { id: 'bk-noshow-recent', customer: 'cust-6', status: 'NO_SHOW', startIn: -2 * DAY },
  { id: 'bk-noshow-old', customer: 'cust-6', status: 'NO_SHOW', startIn: -20 * DAY },
  { id: 'bk-cancelled', customer: 'cust-6', status: 'CANCELLED', startIn: -1 * DAY },
];

export async function seedPlaybookData(databaseUrl: string, now = Date.now()): Promise<Seeded> {
  const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    for (const b of BOOKINGS) {
      const starts = now + b.startIn;
      const ends = starts + (b.durationMs ?? HOUR);
      await c.query(
        `INSERT INTO bookings (id, customer_id, car_id, starts_at, ends_at, amount_cents, currency, status, request_hash, workflow_id)
         VALUES ($1, $2, $3, $4, $5, 4200, 'EUR', $6, repeat('0', 64), $7)`,
        [b.id, b.customer, `car-${b.id}`, new Date(starts), new Date(ends), b.status, `booking-${b.id}`],
      );
    }
    // The history of bk-c1-recent: created by the API, started by its timer 30 s late.
    await c.query(
      `INSERT INTO booking_events (booking_id, transition_key, action, from_status, to_status, actor, scheduled_at, occurred_at)
       VALUES ('bk-c1-recent', 'bk-c1-recent:0:create', 'create', NULL, 'CONFIRMED', 'service:abcd1234', NULL, $1),
              ('bk-c1-recent', 'bk-c1-recent:1:start', 'start', 'CONFIRMED', 'ONGOING', 'system', $2, $3),
              ('bk-late', 'bk-late:0:create', 'create', NULL, 'CONFIRMED', 'service:abcd1234', NULL, $1)`,
      [at(-11 * DAY), at(-10 * DAY), at(-10 * DAY + 30_000)],
    );

    await c.query(
      `INSERT INTO users (id, email, phone) VALUES
         ('user-1', 'one@example.com', '+33600000001'),
         ('user-2', 'two@example.com', '+33600000002'),
         ('user-3', 'three@example.com', NULL)`,
    );
    const campaign = (id: string, createdAt: string) =>
      c.query(
        `INSERT INTO campaigns (id, idempotency_key, request_hash, name, channel, template, audience, status, workflow_id, created_at)
         VALUES ($1, $2, repeat('0', 64), $3, 'email', '{"body": "hi"}', '{"all": true}', 'COMPLETED', $4, $5)`,
        [id, id, `Campaign ${id}`, `campaign-${id}`, createdAt],
      );
    await campaign('camp-recent', at(-1 * DAY));
    await campaign('camp-old', at(-200 * DAY));
    await c.query(`INSERT INTO promo_pools (id, name, idempotency_key, request_hash, size) VALUES ('pool-1', 'Winter', 'pool-1', repeat('0', 64), 2)`);
    await c.query(
      `INSERT INTO promo_codes (pool_id, code, assigned_campaign_id, assigned_user_id, assigned_at) VALUES
         ('pool-1', 'WINTER-1', 'camp-recent', 'user-1', $1),
         ('pool-1', 'WINTER-2', NULL, NULL, NULL)`,
      [at(-1 * DAY)],
    );
    await c.query(
      `INSERT INTO deliveries (campaign_id, user_id, seq, status, promo_pool_id, promo_code, attempts, last_error, sent_at) VALUES
         ('camp-recent', 'user-1', 0, 'SENT', 'pool-1', 'WINTER-1', 1, NULL, $1),
         ('camp-recent', 'user-2', 1, 'FAILED', NULL, NULL, 3, 'mailbox full', NULL),
         ('camp-recent', 'user-3', 2, 'FAILED', NULL, NULL, 2, 'bounced', NULL),
         ('camp-old', 'user-1', 0, 'SENT', NULL, NULL, 1, NULL, $2),
         ('camp-old', 'user-2', 1, 'FAILED', NULL, NULL, 3, 'old failure', NULL)`,
      [at(-1 * DAY), at(-200 * DAY)],
    );

    const incident = (id: string, status: string, declaredAt: string, drill: boolean) =>
      c.query(
        `INSERT INTO incidents (id, title, severity, status, drill, components, workflow_id, runbook_version, snapshot, declared_at)
         VALUES ($1, $2, 'SEV2', $3, $4, ARRAY['booking-api'], $5, '1+000000000000', '{}', $6)`,
        [id, `Incident ${id}`, status, drill, `incident-${id}`, declaredAt],
      );
    await incident('inc-recent', 'OPEN', at(-2 * DAY), false);
    await incident('inc-drill', 'CLOSED', at(-1 * DAY), true);
    await incident('inc-old', 'RESOLVED', at(-40 * DAY), false);
  } finally {
    await c.end();
  }
  return { now, at };
}

/** Row counts of the seeded tables, to prove a run changed nothing. */
export async function tableCounts(databaseUrl: string): Promise<Record<string, number>> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of ['bookings', 'booking_events', 'users', 'campaigns', 'deliveries', 'promo_codes', 'incidents']) {
      out[t] = Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    }
    return out;
  } finally {
    await c.end();
  }
}
