// /v1/bookings: create a booking (row + workflow), read it, and drive it through its workflow.
import { Router, type Request } from 'express';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { createBooking, deleteUnstartedBooking, getBookingWithEvents } from '../../db/booking-store';
import { BOOKING_STATUSES, connectAllowed, workflowIdForBooking, type BookingStatus } from '../../domain/booking';
import {
  cancelUpdate,
  connectUpdate,
  extendUpdate,
  forceTransitionUpdate,
  returnUpdate,
  type BookingView,
  type RequestMeta,
} from '../../workflows/booking';
import { allow, callerOf } from '../auth';
import { bookingInput, startBookingWorkflow, type BookingWorkflowConfig } from '../booking-workflows';
import { sendUpdate } from '../workflow-updates';
import { ApiError } from '../errors';
import { businessId, isoTime, parse } from '../validation';

export const CreateBookingBody = z
  .strictObject({
    bookingId: businessId,
    customerId: businessId,
    carId: businessId,
    startsAt: isoTime,
    endsAt: isoTime,
    amountCents: z.number().int().min(0).max(100_000_000),
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO-4217 code such as EUR'),
  })
  .superRefine((b, ctx) => {
    if (Date.parse(b.endsAt) <= Date.parse(b.startsAt)) {
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be later than startsAt' });
    }
  });

export const ExtendBody = z.strictObject({ endsAt: isoTime, reason: z.string().max(500).optional() });
export const CancelBody = z.strictObject({ reason: z.string().max(500).optional() });
export const EmptyBody = z.strictObject({});
export const TransitionBody = z.strictObject({
  to: z.enum(BOOKING_STATUSES),
  reason: z.string().trim().min(1, 'a reason is required').max(500),
});

const IdParam = z.strictObject({ id: businessId });

export interface BookingRouterDeps {
  db: Db;
  client: Client;
  workflows: BookingWorkflowConfig;
}

function meta(req: Request): RequestMeta {
  return { actor: callerOf(req).actor, requestId: String(req.id ?? '') || undefined };
}

export function bookingsRouter(deps: BookingRouterDeps): Router {
  const r = Router();

  r.post('/', allow('service', 'operator'), async (req, res) => {
    const body = parse(CreateBookingBody, req.body);
    const who = meta(req);
    const workflowId = workflowIdForBooking(body.bookingId);
    const booking = { ...body, startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) };
    const result = await createBooking(deps.db, booking, who, workflowId);
    if (result.kind === 'different_request') {
      throw new ApiError(409, 'DUPLICATE_CONFLICT', `booking ${body.bookingId} already exists with different details`, {
        bookingId: body.bookingId,
      });
    }
    if (result.kind === 'overlap') {
      throw new ApiError(409, 'BOOKING_OVERLAP', `car ${body.carId} is already booked in that time`, {
        conflictingBookingId: result.conflictingBookingId,
      });
    }
    const input = bookingInput(
      { ...body, startsAt: booking.startsAt.toISOString(), endsAt: booking.endsAt.toISOString() },
      deps.workflows,
      who.requestId,
    );
    try {
      // Also for an existing row: if an earlier attempt wrote the row but died before starting the
      // workflow, the resubmission finishes the job instead of leaving a booking without a lifecycle.
      await startBookingWorkflow(deps.client, input, deps.workflows);
    } catch (err) {
      if (result.kind === 'created') await deleteUnstartedBooking(deps.db, body.bookingId).catch(() => undefined);
      throw err;
    }
    res.status(result.kind === 'created' ? 201 : 200).json({
      bookingId: body.bookingId,
      workflowId,
      status: result.booking.status,
    });
  });

  r.get('/:id', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const { id } = parse(IdParam, req.params, 'path');
    const row = await getBookingWithEvents(deps.db, id);
    if (!row) throw new ApiError(404, 'NOT_FOUND', `no booking ${id}`);
    res.json({
      bookingId: row.id,
      workflowId: row.workflowId,
      customerId: row.customerId,
      carId: row.carId,
      status: row.status,
      version: row.version,
      connectAllowed: connectAllowed(row.status as BookingStatus),
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
    });
  });

  /** Runs an update on the booking's workflow; 404 when the booking does not exist at all. */
  async function update(req: Request, send: (h: ReturnType<Client['workflow']['getHandle']>) => Promise<BookingView>) {
    const { id } = parse(IdParam, req.params, 'path');
    const row = await deps.db.booking.findUnique({ where: { id }, select: { status: true } });
    if (!row) throw new ApiError(404, 'NOT_FOUND', `no booking ${id}`);
    const handle = deps.client.workflow.getHandle(workflowIdForBooking(id));
    return sendUpdate(
      () => send(handle),
      async () => {
        const now = await deps.db.booking.findUnique({ where: { id }, select: { status: true } });
        return `the booking is ${now?.status ?? 'finished'}: its lifecycle has ended`;
      },
    );
  }

  r.post('/:id/cancel', allow('service', 'operator'), async (req, res) => {
    const body = parse(CancelBody, req.body);
    res.json(await update(req, (h) => h.executeUpdate(cancelUpdate, { args: [{ ...meta(req), reason: body.reason }] })));
  });

  r.post('/:id/extend', allow('service', 'operator'), async (req, res) => {
    const body = parse(ExtendBody, req.body);
    const endsAt = new Date(body.endsAt).toISOString();
    res.json(await update(req, (h) => h.executeUpdate(extendUpdate, { args: [{ ...meta(req), endsAt, reason: body.reason }] })));
  });

  r.post('/:id/connect', allow('service', 'operator'), async (req, res) => {
    parse(EmptyBody, req.body);
    res.json(await update(req, (h) => h.executeUpdate(connectUpdate, { args: [meta(req)] })));
  });

  r.post('/:id/return', allow('service', 'operator'), async (req, res) => {
    parse(EmptyBody, req.body);
    res.json(await update(req, (h) => h.executeUpdate(returnUpdate, { args: [meta(req)] })));
  });

  r.post('/:id/transition', allow('operator'), async (req, res) => {
    const body = parse(TransitionBody, req.body);
    res.json(
      await update(req, (h) => h.executeUpdate(forceTransitionUpdate, { args: [{ ...meta(req), to: body.to, reason: body.reason }] })),
    );
  });

  return r;
}
