// A booking's lifecycle runs once: a repeated create never gives a booking a second workflow run, also
// after Temporal has forgotten the first (retention deletes closed runs; here deleted by hand). Only a
// row whose lifecycle never began (its start failed, or a crash came before it) is started again.
import { WorkflowNotFoundError } from '@temporalio/client';
import { createBooking as insertBooking } from '../../db/booking-store';
import { bookingBody, startStack, type Stack } from '../helpers/stack';
import { forgetClosedRun } from '../helpers/retention';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ name: 'duplicates-forever' });
});
afterAll(() => stack?.stop());

const workflowId = (bookingId: string) => `booking-${bookingId}`;

async function expectNoRun(bookingId: string): Promise<void> {
  await expect(stack.client.workflow.getHandle(workflowId(bookingId)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
}

describe('a booking is never given a second run', () => {
  test('created, cancelled, its closed run deleted from Temporal: the same create again is 200 CANCELLED, starts nothing, connect refused', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`, { reason: 'customer changed plans' }).expect(200);
    await stack.client.workflow.getHandle(workflowId(body.bookingId)).result();
    await forgetClosedRun(stack.client, workflowId(body.bookingId));

    const again = await stack.api().post('/v1/bookings', body).expect(200);
    expect(again.body).toEqual({ bookingId: body.bookingId, workflowId: workflowId(body.bookingId), status: 'CANCELLED' });
    await expectNoRun(body.bookingId);

    const connect = await stack.api().post(`/v1/bookings/${body.bookingId}/connect`).expect(409);
    expect(connect.body.error.code).toBe('INVALID_TRANSITION');
    expect(connect.body.error.message).toMatch(/CANCELLED/);
    await expectNoRun(body.bookingId);
    const row = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(row).toMatchObject({ status: 'CANCELLED', version: 2 });
    expect(await stack.db.bookingEvent.count({ where: { bookingId: body.bookingId } })).toBe(2);
  }, 240_000);

  test('a started booking whose run was terminated and deleted before it wrote anything is not started again (the start marker)', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    const marked = await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } });
    expect(marked).toMatchObject({ status: 'CONFIRMED', version: 1 });
    expect(marked.workflowStartedAt).toBeInstanceOf(Date);
    await stack.client.workflow.getHandle(workflowId(body.bookingId)).terminate('test: killed by hand');
    await forgetClosedRun(stack.client, workflowId(body.bookingId));

    const again = await stack.api().post('/v1/bookings', body).expect(200);
    expect(again.body.status).toBe('CONFIRMED');
    await expectNoRun(body.bookingId);
  }, 240_000);

  test('the marker lost in a crash after the start: a booking that moved on is still not started again', async () => {
    const body = bookingBody({}, 60 * 60_000);
    await stack.api().post('/v1/bookings', body).expect(201);
    await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`).expect(200);
    await stack.client.workflow.getHandle(workflowId(body.bookingId)).result();
    await forgetClosedRun(stack.client, workflowId(body.bookingId));
    // As if the process died between the successful start and writing the marker.
    await stack.db.booking.update({ where: { id: body.bookingId }, data: { workflowStartedAt: null } });

    const again = await stack.api().post('/v1/bookings', body).expect(200);
    expect(again.body.status).toBe('CANCELLED');
    await expectNoRun(body.bookingId);
  }, 240_000);

  test('a row left without a workflow (a crash between insert and start) is started by the repeated create, once', async () => {
    const body = bookingBody({}, 60 * 60_000);
    const facts = { ...body, startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) };
    const inserted = await insertBooking(stack.db, facts, { actor: 'service:test' }, workflowId(body.bookingId));
    expect(inserted.kind).toBe('created');
    await expectNoRun(body.bookingId);

    const again = await stack.api().post('/v1/bookings', body).expect(200);
    expect(again.body).toEqual({ bookingId: body.bookingId, workflowId: workflowId(body.bookingId), status: 'CONFIRMED' });
    const run = await stack.client.workflow.getHandle(workflowId(body.bookingId)).describe();
    expect(run.status.name).toBe('RUNNING');
    expect((await stack.db.booking.findUniqueOrThrow({ where: { id: body.bookingId } })).workflowStartedAt).toBeInstanceOf(Date);

    // A third create joins that run instead of starting another; the lifecycle then works as usual.
    await stack.api().post('/v1/bookings', body).expect(200);
    expect((await stack.client.workflow.getHandle(workflowId(body.bookingId)).describe()).runId).toBe(run.runId);
    const cancelled = await stack.api().post(`/v1/bookings/${body.bookingId}/cancel`).expect(200);
    expect(cancelled.body.status).toBe('CANCELLED');
  });
});
