// Notification activities, run by the `notifications` worker on its own task queue so a backlog or a
// provider outage here can never hold up a booking transition. Booking reminders and alerts take the
// same delivery path as campaigns: every message is recorded in notification_outbox (one row per
// idempotency key, whatever the number of attempts) and, when the recipient is a known user with an
// address on the channel, handed to that channel's provider with the same idempotency key.
import { ApplicationFailure, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { addressFor, type Channel } from '../domain/campaign';
import type { Provider } from '../providers/types';
import { recordDeliveries } from './metrics';

export interface NotificationRequest {
  idempotencyKey: string;
  kind: string;
  channel: 'outbox';
  /** A customer id, or `operations` for the operations team. */
  recipient: string;
  bookingId?: string;
  payload: Record<string, string | number | boolean | null>;
}

/** Human text for a notification kind: what the provider sends. */
export function notificationText(n: Pick<NotificationRequest, 'kind' | 'payload' | 'bookingId'>): { subject: string; body: string } {
  const p = n.payload;
  switch (n.kind) {
    case 'booking.before_start':
      return { subject: 'Your car booking starts soon', body: `Your booking ${n.bookingId} starts at ${p.startsAt} (in ${p.minutesBefore} minutes).` };
    case 'booking.before_end':
      return { subject: 'Your car booking ends soon', body: `Your booking ${n.bookingId} ends at ${p.endsAt} (in ${p.minutesBefore} minutes).` };
    case 'booking.overdue':
      return { subject: 'Your car booking is overdue', body: `Booking ${n.bookingId} ended at ${p.endsAt} and the car has not been returned.` };
    default:
      return { subject: n.kind, body: JSON.stringify(p) };
  }
}

export function createNotificationActivities(deps: { db: Db; providers?: Partial<Record<Channel, Provider>>; channel?: Channel }) {
  const channel = deps.channel ?? 'email';
  return {
    async sendNotification(n: NotificationRequest): Promise<{ delivered: boolean; duplicate: boolean }> {
      const inserted = await deps.db.$executeRaw`
        INSERT INTO "notification_outbox" ("idempotency_key", "channel", "recipient", "kind", "booking_id", "payload")
        VALUES (${n.idempotencyKey}, ${n.channel}, ${n.recipient}, ${n.kind}, ${n.bookingId ?? null}, ${JSON.stringify(n.payload)}::jsonb)
        ON CONFLICT ("idempotency_key") DO NOTHING`;
      const provider = deps.providers?.[channel];
      const user = provider ? await deps.db.user.findUnique({ where: { id: n.recipient } }) : null;
      const to = user ? addressFor(channel, user) : undefined;
      if (provider && to) {
        const text = notificationText(n);
        const result = await provider.send({ idempotencyKey: n.idempotencyKey, channel, to, ...text });
        if (!result.ok && !result.permanent) {
          throw ApplicationFailure.retryable(`provider ${provider.name}: ${result.error}`, 'TransientDeliveryFailure');
        }
        if (!result.ok) {
          recordDeliveries('notification', n.channel, { failed: 1 });
          log.warn('notification refused by the provider', { key: n.idempotencyKey, error: result.error });
          return { delivered: false, duplicate: inserted === 0 };
        }
      }
      const marked = await deps.db.notificationOutbox.updateMany({ where: { idempotencyKey: n.idempotencyKey, sentAt: null }, data: { sentAt: new Date() } });
      recordDeliveries('notification', n.channel, { sent: marked.count }); // marked once, so counted once
      log.info('notification sent', { key: n.idempotencyKey, kind: n.kind, via: to ? provider?.name : 'outbox', duplicate: inserted === 0 });
      return { delivered: true, duplicate: inserted === 0 };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
