// /v1/bookings: create a booking (row + workflow), read it, and drive it through its workflow.
import { Router } from 'express';
import { z } from 'zod';
import { BOOKING_STATUSES, type BookingFacts } from '../../domain/booking';
import * as bookings from '../../services/bookings';
import type { Services } from '../../services/context';
import { allow } from '../auth';
import { commandContext } from '../context';
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
  }) satisfies z.ZodType<BookingFacts<string>>;

export const ExtendBody = z.strictObject({ endsAt: isoTime, reason: z.string().max(500).optional() });
export const CancelBody = z.strictObject({ reason: z.string().max(500).optional() });
export const EmptyBody = z.strictObject({});
export const TransitionBody = z.strictObject({
  to: z.enum(BOOKING_STATUSES),
  reason: z.string().trim().min(1, 'a reason is required').max(500),
});

const IdParam = z.strictObject({ id: businessId });

export function bookingsRouter(services: Services): Router {
  const r = Router();
  const WRITE = allow('service', 'operator');

  r.post('/', WRITE, async (req, res) => {
    const body = parse(CreateBookingBody, req.body);
    const { created, ...booking } = await bookings.createBooking(commandContext(services, req), body);
    res.status(created ? 201 : 200).json(booking);
  });

  r.get('/:id', allow('service', 'operator', 'commander', 'viewer'), async (req, res) => {
    const { id } = parse(IdParam, req.params, 'path');
    res.json(await bookings.getBooking(services, id));
  });

  r.post('/:id/cancel', WRITE, async (req, res) => {
    const body = parse(CancelBody, req.body);
    res.json(await bookings.cancelBooking(commandContext(services, req), parse(IdParam, req.params, 'path').id, body));
  });

  r.post('/:id/extend', WRITE, async (req, res) => {
    const body = parse(ExtendBody, req.body);
    res.json(await bookings.extendBooking(commandContext(services, req), parse(IdParam, req.params, 'path').id, body));
  });

  r.post('/:id/connect', WRITE, async (req, res) => {
    parse(EmptyBody, req.body);
    res.json(await bookings.connectBooking(commandContext(services, req), parse(IdParam, req.params, 'path').id));
  });

  r.post('/:id/return', WRITE, async (req, res) => {
    parse(EmptyBody, req.body);
    res.json(await bookings.returnBooking(commandContext(services, req), parse(IdParam, req.params, 'path').id));
  });

  r.post('/:id/transition', allow('operator'), async (req, res) => {
    const body = parse(TransitionBody, req.body);
    res.json(await bookings.forceBookingTransition(commandContext(services, req), parse(IdParam, req.params, 'path').id, body));
  });

  return r;
}
