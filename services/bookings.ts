// Booking commands: create (row + workflow), read, and the actions a booking's workflow takes.
import type { UpdateDefinition } from '@temporalio/common';
import { bookingRequestHash, createBooking as insertBooking, deleteUnstartedBooking, getBookingWithEvents, lifecycleStarted, markWorkflowStarted } from '../db/booking-store';
import { connectAllowed, statusByClock, workflowIdForBooking, type BookingFacts, type BookingStatus } from '../domain/booking';
import { BookingStatusKey, CarIdKey, CustomerIdKey, NextTransitionAtKey } from '../domain/search-attributes';
import {
  cancelUpdate,
  connectUpdate,
  extendUpdate,
  forceTransitionUpdate,
  returnUpdate,
  type BookingInput,
  type BookingView,
  type RequestMeta,
} from '../workflows/booking-messages';
import { runAction } from './actions';
import type { CommandContext } from './context';
import { CommandError, notFound } from './errors';
import type { TemporalGateway } from './temporal';

/** How the booking workflows of this process are configured (AppDeps.workflows). */
export interface BookingWorkflowConfig {
  taskQueuePrefix: string;
  settings: Omit<BookingInput['settings'], 'notificationsTaskQueue'>;
}

export function bookingInput(b: BookingFacts<string>, temporal: TemporalGateway, settings: BookingWorkflowConfig['settings'], requestId?: string): BookingInput {
  return { ...b, requestId, settings: { ...settings, notificationsTaskQueue: temporal.taskQueue('notifications') } };
}

function meta(ctx: CommandContext): RequestMeta {
  return { actor: ctx.actor, requestId: ctx.requestId };
}

/** Starts `booking-<id>` (or finds it there): one call for the API, the seed script and the benchmark. */
export async function startBookingWorkflow(temporal: TemporalGateway, input: BookingInput): Promise<void> {
  await temporal.start('bookingWorkflow', {
    workflowId: workflowIdForBooking(input.bookingId),
    args: [input],
    memo: { requestId: input.requestId ?? null },
    summary: `Booking ${input.bookingId}: car ${input.carId}, ${input.startsAt} to ${input.endsAt}`,
    searchAttributes: [
      { key: BookingStatusKey, value: 'CONFIRMED' },
      { key: CarIdKey, value: input.carId },
      { key: CustomerIdKey, value: input.customerId },
      { key: NextTransitionAtKey, value: new Date(input.startsAt) },
    ],
  });
}

export interface CreatedBooking {
  created: boolean;
  bookingId: string;
  workflowId: string;
  status: string;
}

/**
 * The row first (it remembers the booking beyond Temporal's retention and refuses overlaps), then the
 * workflow, then the row's workflowStartedAt marker. A new row whose workflow could not be started is
 * deleted again, so a retry starts afresh.
 *
 * A booking's lifecycle runs once. A repeated create of a booking whose lifecycle has started (the
 * marker, or a row that has moved past its creation) answers the row as it is and starts nothing,
 * whatever Temporal still remembers: after retention deletes a closed run, REJECT_DUPLICATE no longer
 * would. Only a row never known to have started (the start failed, or a crash came between the insert
 * and the start, or between the start and the marker) is started again: the same id policy joins a
 * run still there or refuses a closed one; and should a deleted run's booking have moved meanwhile,
 * the new run's first write is refused by the row's compare-and-set, so it cannot move the booking.
 */
export async function createBooking(ctx: CommandContext, b: BookingFacts<string>): Promise<CreatedBooking> {
  // Identical creates in flight in this process (a submit clicked again and again) share one attempt:
  // the copies answer 200 with the first one's result instead of each queueing for the car's lock and
  // then joining the run with a start call of its own. The key is the request's meaning, so only an
  // identical request joins; one whose leader failed runs on its own (and meets the same database
  // checks). Copies that reach another process are collapsed there the same way, and across
  // processes by the database and the workflow id policy, as before.
  const key = `${b.bookingId}\u0000${bookingRequestHash({ ...b, startsAt: new Date(b.startsAt), endsAt: new Date(b.endsAt) })}`;
  let inFlight = creating.get(ctx.db);
  if (!inFlight) creating.set(ctx.db, (inFlight = new Map<string, Promise<CreatedBooking>>()));
  const leader = inFlight.get(key);
  if (leader) {
    const first = await leader.then((r) => r, () => undefined);
    // The first one failed (Temporal unreachable, say): each copy then tries on its own, in parallel,
    // as it would have without the first one.
    return first ? { ...first, created: false } : createOnce(ctx, b);
  }
  const attempt = createOnce(ctx, b);
  inFlight.set(key, attempt);
  try {
    return await attempt;
  } finally {
    inFlight.delete(key);
  }
}

/** Creates in flight per database client (one per app), by bookingId + request hash. */
const creating = new WeakMap<object, Map<string, Promise<CreatedBooking>>>();

async function createOnce(ctx: CommandContext, b: BookingFacts<string>): Promise<CreatedBooking> {
  const workflowId = workflowIdForBooking(b.bookingId);
  const booking = { ...b, startsAt: new Date(b.startsAt), endsAt: new Date(b.endsAt) };
  const result = await insertBooking(ctx.db, booking, meta(ctx), workflowId);
  if (result.kind === 'different_request') {
    throw new CommandError('DUPLICATE_CONFLICT', `booking ${b.bookingId} already exists with different details`, { bookingId: b.bookingId });
  }
  if (result.kind === 'overlap') {
    throw new CommandError('BOOKING_OVERLAP', `car ${b.carId} is already booked in that time`, { conflictingBookingId: result.conflictingBookingId });
  }
  if (result.kind === 'existing' && lifecycleStarted(result.booking)) {
    return { created: false, bookingId: b.bookingId, workflowId, status: result.booking.status };
  }
  const facts = { ...b, startsAt: booking.startsAt.toISOString(), endsAt: booking.endsAt.toISOString() };
  const input = bookingInput(facts, ctx.temporal, ctx.settings.bookings, ctx.requestId);
  try {
    // Also for an existing row not known to have started: if an earlier attempt wrote the row but died
    // before starting the workflow, the resubmission finishes the job instead of leaving a booking
    // without a lifecycle.
    await startBookingWorkflow(ctx.temporal, input);
  } catch (err) {
    if (result.kind === 'created') await deleteUnstartedBooking(ctx.db, b.bookingId).catch(() => undefined);
    throw err;
  }
  // Started, joined (USE_EXISTING) or refused as a closed run (REJECT_DUPLICATE): either way this
  // booking has had its run. If this write is lost, the next create tries the start once more.
  await markWorkflowStarted(ctx.db, b.bookingId);
  return { created: result.kind === 'created', bookingId: b.bookingId, workflowId, status: result.booking.status };
}

export async function getBooking(ctx: Pick<CommandContext, 'db' | 'settings'>, bookingId: string) {
  const row = await getBookingWithEvents(ctx.db, bookingId);
  if (!row) throw notFound(`booking ${bookingId}`);
  // By the clock, as the workflow judges a connect: at startsAt the gate is open even if the start's
  // timer has not been processed (and its row not written) yet.
  const byClock = statusByClock({
    status: row.status, startsAt: row.startsAt.getTime(), endsAt: row.endsAt.getTime(),
    connectedAt: row.connectedAt?.getTime(), noShowGraceMs: ctx.settings.bookings.noShowGraceMs,
  }, Date.now());
  return {
    bookingId: row.id,
    workflowId: row.workflowId,
    customerId: row.customerId,
    carId: row.carId,
    status: row.status,
    version: row.version,
    connectAllowed: connectAllowed(byClock),
    startsAt: row.startsAt.toISOString(),
    endsAt: row.endsAt.toISOString(),
    amountCents: row.amountCents,
    currency: row.currency,
    connectedAt: row.connectedAt?.toISOString() ?? null,
    returnedAt: row.returnedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    events: row.events.map((e) => ({
      action: e.action,
      from: e.fromStatus,
      to: e.toStatus,
      actor: e.actor,
      reason: e.reason,
      scheduledAt: e.scheduledAt?.toISOString() ?? null,
      occurredAt: e.occurredAt.toISOString(),
      requestId: e.requestId,
    })),
  };
}

type BookingAct =
  | { action: 'cancel'; reason?: string }
  | { action: 'extend'; endsAt: string; reason?: string }
  | { action: 'connect' }
  | { action: 'return' }
  | { action: 'transition'; to: BookingStatus; reason: string };

/** One action on the booking's workflow: 404 for an unknown booking, bounded and idempotent (services/actions.ts). */
async function act(ctx: CommandContext, bookingId: string, body: BookingAct): Promise<BookingView> {
  const row = await ctx.db.booking.findUnique({ where: { id: bookingId }, select: { status: true } });
  if (!row) throw notFound(`booking ${bookingId}`);
  const workflowId = workflowIdForBooking(bookingId);
  const finished = async () => {
    const now = await ctx.db.booking.findUnique({ where: { id: bookingId }, select: { status: true } });
    return `the booking is ${now?.status ?? 'finished'}: its lifecycle has ended`;
  };
  const m = meta(ctx);
  return runAction(ctx, { workflowId, action: `booking.${body.action}`, body }, (updateId) => {
    const send = <A extends unknown[]>(def: UpdateDefinition<BookingView, A>, args: A) =>
      ctx.temporal.update(workflowId, def, args, { updateId, finished });
    switch (body.action) {
      case 'cancel':
        return send(cancelUpdate, [{ ...m, reason: body.reason }]);
      case 'extend':
        return send(extendUpdate, [{ ...m, endsAt: new Date(body.endsAt).toISOString(), reason: body.reason }]);
      case 'connect':
        return send(connectUpdate, [m]);
      case 'return':
        return send(returnUpdate, [m]);
      case 'transition':
        return send(forceTransitionUpdate, [{ ...m, to: body.to, reason: body.reason }]);
    }
  });
}

export const cancelBooking = (ctx: CommandContext, id: string, b: { reason?: string }) => act(ctx, id, { action: 'cancel', ...b });
export const extendBooking = (ctx: CommandContext, id: string, b: { endsAt: string; reason?: string }) => act(ctx, id, { action: 'extend', ...b });
export const connectBooking = (ctx: CommandContext, id: string) => act(ctx, id, { action: 'connect' });
export const returnBooking = (ctx: CommandContext, id: string) => act(ctx, id, { action: 'return' });
/** Operator override for a stuck or wrong state: any edge of the transition graph, reason required, audited. */
export const forceBookingTransition = (ctx: CommandContext, id: string, b: { to: BookingStatus; reason: string }) =>
  act(ctx, id, { action: 'transition', ...b });
