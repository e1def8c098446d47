// The one write path for bookings. The API (create), the workflow's activities (every transition,
// connect, extend) and operator tools (forced transitions, through the workflow) all end here: the
// row, its event and the audit entry are written in one transaction, and a transition key makes a
// repeated call a no-op.
import { createHash } from 'node:crypto';
import { sqlPool, type Db, type Prisma } from './client';
import { isUniqueViolation } from './errors';
import { creationSummary, lockBookingForSummary, recordBookingSummary } from './dashboard-store';
import type { BookingAction, BookingFacts, BookingStatus } from '../domain/booking';
import type { RequestMeta } from '../domain/request-meta';

const ACTIVE: BookingStatus[] = ['CONFIRMED', 'ONGOING', 'OVERDUE'];

export type NewBooking = BookingFacts<Date>;

/** Who asks (the one declaration is domain/request-meta.ts). */
export type Actor = RequestMeta;

export type CreateResult =
  | { kind: 'created'; booking: BookingRow }
  | { kind: 'existing'; booking: BookingRow }
  | { kind: 'different_request'; booking: BookingRow }
  | { kind: 'overlap'; conflictingBookingId: string };

export type BookingRow = Prisma.BookingGetPayload<object>;

/** sha256 of the request's meaning (not its formatting): the same booking sent twice hashes alike. */
export function bookingRequestHash(b: NewBooking): string {
  const canonical = JSON.stringify([
    b.bookingId,
    b.customerId,
    b.carId,
    b.startsAt.toISOString(),
    b.endsAt.toISOString(),
    b.amountCents,
    b.currency,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Serialises everything that touches one car's calendar (creation and extension). */
async function lockCar(tx: Prisma.TransactionClient, carId: string): Promise<void> {
  await tx.$executeRaw`INSERT INTO "cars" ("id") VALUES (${carId}) ON CONFLICT ("id") DO UPDATE SET "id" = EXCLUDED."id"`;
}

async function findOverlap(
  tx: Prisma.TransactionClient,
  carId: string,
  startsAt: Date,
  endsAt: Date,
  exceptBookingId: string,
): Promise<string | undefined> {
  const other = await tx.booking.findFirst({
    where: {
      carId,
      id: { not: exceptBookingId },
      status: { in: ACTIVE },
      startsAt: { lt: endsAt },
      endsAt: { gt: startsAt },
    },
    orderBy: { startsAt: 'asc' },
    select: { id: true },
  });
  return other?.id;
}

/** A bookings row as row_to_json writes it (snake_case, timestamps as ISO strings). */
interface BookingJson {
  id: string; customer_id: string; car_id: string; starts_at: string; ends_at: string; amount_cents: number; currency: string;
  status: BookingStatus; version: number; request_hash: string; workflow_id: string; workflow_started_at: string | null;
  connected_at: string | null; returned_at: string | null; created_at: string; updated_at: string;
}

const dateOrNull = (s: string | null) => (s === null ? null : new Date(s));

function bookingFromJson(j: BookingJson): BookingRow {
  return {
    id: j.id, customerId: j.customer_id, carId: j.car_id, startsAt: new Date(j.starts_at), endsAt: new Date(j.ends_at),
    amountCents: j.amount_cents, currency: j.currency, status: j.status, version: j.version, requestHash: j.request_hash,
    workflowId: j.workflow_id, workflowStartedAt: dateOrNull(j.workflow_started_at), connectedAt: dateOrNull(j.connected_at),
    returnedAt: dateOrNull(j.returned_at), createdAt: new Date(j.created_at), updatedAt: new Date(j.updated_at),
  };
}

const CREATE_SQL = `SELECT * FROM "keel_create_booking"($1::varchar, $2::varchar, $3::varchar, $4::timestamptz, $5::timestamptz,
  $6::int, $7::char(3), $8::char(64), $9::varchar, $10::varchar, $11::varchar, $12::jsonb, $13::varchar, $14::smallint,
  $15::smallint, $16::int, $17::int)`;

/**
 * Creation in one database call (keel_create_booking, prisma/migrations/20261204100000_create_booking_function):
 * the car lock, the existing-row and overlap checks, the row, its event, the audit entry and the
 * dashboard summary in one implicit transaction, one round trip. The same statements as an
 * interactive Prisma transaction cost the API 3-5 ms of CPU per booking (bench/README.md).
 */
export async function createBooking(db: Db, b: NewBooking, who: Actor, workflowId: string): Promise<CreateResult> {
  const requestHash = bookingRequestHash(b);
  const summary = creationSummary(b.bookingId);
  const audit = JSON.stringify({ carId: b.carId, startsAt: b.startsAt.toISOString(), endsAt: b.endsAt.toISOString() });
  const args = [
    b.bookingId, b.customerId, b.carId, b.startsAt, b.endsAt, b.amountCents, b.currency, requestHash, workflowId,
    who.actor, who.requestId ?? null, audit, summary.counterMetric, summary.counterShard, summary.revenueShard,
    summary.lockClass, summary.lockId,
  ];
  const attempt = async (): Promise<CreateResult> => {
    type Row = { outcome: CreateResult['kind']; conflicting_booking_id: string | null; booking: BookingJson | null };
    // Straight through pg where we have its pool: the same statement, a tenth of Prisma's CPU per call.
    const pool = sqlPool(db);
    const [r] = pool
      ? (await pool.query<Row>(CREATE_SQL, args)).rows
      : await db.$queryRawUnsafe<Row[]>(CREATE_SQL, ...args);
    if (r.outcome === 'overlap') return { kind: 'overlap', conflictingBookingId: r.conflicting_booking_id! };
    return { kind: r.outcome, booking: bookingFromJson(r.booking!) };
  };
  try {
    return await attempt();
  } catch (err) {
    // A row of the same id created and deleted again while this call waited (its workflow could not
    // be started): run once more, as a fresh request would.
    if (isUniqueViolation(err)) return attempt();
    throw err;
  }
}

/** Undo a creation whose workflow could not be started, so no half-made booking stays behind. */
export async function deleteUnstartedBooking(db: Db, bookingId: string): Promise<void> {
  await db.$transaction(async (tx) => {
    const before = await lockBookingForSummary(tx, bookingId);
    // Only a row whose lifecycle never began: a started one (marker or a later version) stays.
    const { count } = await tx.booking.deleteMany({ where: { id: bookingId, version: 1, workflowStartedAt: null } });
    // The dashboard counted the booking when it was created: take it back with the row.
    if (count === 1 && before) await recordBookingSummary(tx, before, null);
  });
}

/** Whether this row's lifecycle has begun: its start was recorded, or it has moved since creation. */
export function lifecycleStarted(b: Pick<BookingRow, 'workflowStartedAt' | 'version' | 'status'>): boolean {
  return b.workflowStartedAt !== null || b.version > 1 || b.status !== 'CONFIRMED';
}

/** The durable "its workflow was started" marker (idempotent: the first time stays). */
export async function markWorkflowStarted(db: Db, bookingId: string): Promise<void> {
  // One UPDATE by primary key, through pg where we have its pool (as createBooking, for the CPU).
  const sql = `UPDATE "bookings" SET "workflow_started_at" = now() WHERE "id" = $1 AND "workflow_started_at" IS NULL`;
  const pool = sqlPool(db);
  if (pool) await pool.query(sql, [bookingId]);
  else await db.$executeRawUnsafe(sql, bookingId);
}

export interface BookingChange extends Actor {
  bookingId: string;
  /**
   * Deterministic per transition (the workflow builds it from its run chain, the expected version and
   * the action): a second write with the same key changes nothing and reports the first.
   */
  transitionKey: string;
  action: BookingAction;
  /** The status the writer believes the row has: the write is refused unless it has. */
  from: BookingStatus;
  /**
   * The version the writer believes the row has: refused unless it has. Absent only in activity inputs
   * scheduled by workflow code older than this check (still retrying after a deploy): status alone then.
   */
  expectedVersion: number;
  to: BookingStatus;
  reason?: string;
  /** When the clock said it should happen; null for request-driven changes. */
  scheduledAt?: string;
  endsAt?: string;
  connectedAt?: string;
  returnedAt?: string;
}

export interface WriteConflict {
  expected: { status: BookingStatus; version: number | null };
  actual: { status: BookingStatus; version: number };
}

export type ChangeResult =
  | { outcome: 'applied'; version: number; occurredAt: string }
  | { outcome: 'already_applied'; version: number; occurredAt: string }
  | { outcome: 'overlap'; conflictingBookingId: string }
  | ({ outcome: 'conflict' } & WriteConflict)
  | { outcome: 'missing' };

/** Who is writing, for the conflict record (the activity knows its workflow run). */
export interface Writer {
  workflowId?: string;
  runId?: string;
}

/**
 * The one write path for a booking's status: a compare-and-set on (status, version). The same
 * transition again (its key is found) is answered as already applied, so an activity retried after its
 * commit is accepted; any other write that finds the row elsewhere than expected is refused and
 * recorded in booking_write_conflicts (committed, so the watchdog sees it) and changes nothing else.
 */
export async function applyBookingChange(db: Db, c: BookingChange, writer: Writer = {}): Promise<ChangeResult> {
  const expectedVersion = typeof c.expectedVersion === 'number' ? c.expectedVersion : null;
  const attempt = () =>
    db.$transaction(async (tx): Promise<ChangeResult> => {
      const current = await tx.booking.findUnique({ where: { id: c.bookingId }, select: { carId: true, startsAt: true, workflowId: true } });
      if (!current) return { outcome: 'missing' };
      // Car before row, as creation locks them, so two writers never wait on each other in opposite order.
      if (c.endsAt) await lockCar(tx, current.carId);
      // The row as it was, locked: the compare-and-set reads it, and the dashboard summary moves from it.
      const before = await lockBookingForSummary(tx, c.bookingId);
      if (!before) return { outcome: 'missing' }; // deleted meanwhile (an undone creation)
      const { status: actualStatus, version: actualVersion } = before;
      // Looked up under the row lock: a twin attempt that committed while this one waited is seen here.
      const done = await tx.bookingEvent.findUnique({ where: { transitionKey: c.transitionKey } });
      if (done && done.bookingId === c.bookingId && done.action === c.action && done.toStatus === c.to) {
        // The key names the expected version, so the write it recorded produced expectedVersion + 1.
        return { outcome: 'already_applied', version: expectedVersion === null ? actualVersion : expectedVersion + 1, occurredAt: done.occurredAt.toISOString() };
      }
      if (done || actualStatus !== c.from || (expectedVersion !== null && actualVersion !== expectedVersion)) {
        await tx.bookingWriteConflict.createMany({
          data: [{
            bookingId: c.bookingId, transitionKey: c.transitionKey, action: c.action, toStatus: c.to,
            expectedStatus: c.from, expectedVersion, actualStatus, actualVersion,
            workflowId: writer.workflowId ?? current.workflowId, runId: writer.runId ?? null,
          }],
          skipDuplicates: true,
        });
        return { outcome: 'conflict', expected: { status: c.from, version: expectedVersion }, actual: { status: actualStatus, version: actualVersion } };
      }
      if (c.endsAt) {
        const conflict = await findOverlap(tx, current.carId, current.startsAt, new Date(c.endsAt), c.bookingId);
        if (conflict) return { outcome: 'overlap', conflictingBookingId: conflict };
      }
      const now = new Date();
      const row = await tx.booking.update({
        where: { id: c.bookingId },
        data: {
          status: c.to,
          version: { increment: 1 },
          updatedAt: now,
          ...(c.endsAt ? { endsAt: new Date(c.endsAt) } : {}),
          ...(c.connectedAt ? { connectedAt: new Date(c.connectedAt) } : {}),
          ...(c.returnedAt ? { returnedAt: new Date(c.returnedAt) } : {}),
        },
        select: { version: true },
      });
      await tx.bookingEvent.create({
        data: {
          bookingId: c.bookingId, transitionKey: c.transitionKey, action: c.action, fromStatus: c.from, toStatus: c.to,
          actor: c.actor, reason: c.reason, requestId: c.requestId, occurredAt: now,
          scheduledAt: c.scheduledAt ? new Date(c.scheduledAt) : null,
          details: c.endsAt ? { endsAt: c.endsAt } : undefined,
        },
      });
      if (c.actor !== 'system') {
        await tx.auditLog.create({
          data: { actor: c.actor, action: `booking.${c.action}`, resourceType: 'booking', resourceId: c.bookingId,
            requestId: c.requestId, details: { from: c.from, to: c.to, reason: c.reason ?? null } },
        });
      }
      // Only on this applied path: a retried write (transition key found above) changes no counter.
      await recordBookingSummary(tx, before, { ...before, status: c.to });
      return { outcome: 'applied', version: row.version, occurredAt: now.toISOString() };
    });
  try {
    return await attempt();
  } catch (err) {
    // Two attempts of the same activity racing (a timed-out attempt still running): the loser's
    // event insert hits the transition key; the retry reports the winner's write.
    if (isUniqueViolation(err)) return attempt();
    throw err;
  }
}

export async function getBookingWithEvents(db: Db, bookingId: string) {
  return db.booking.findUnique({
    where: { id: bookingId },
    include: { events: { orderBy: { id: 'asc' } } },
  });
}
