// Notification activities, run by the `notifications` worker on its own task queue so a backlog or a
// provider outage here can never hold up a booking transition. Booking reminders and alerts take the
// same delivery path as campaigns: every message is recorded in notification_outbox (one row per
// idempotency key, whatever the number of attempts) and, when the recipient is a known user with an
// address on the channel, handed to that channel's provider with the same idempotency key.
// Operations alerts (domain/notifications.ts) go by e-mail to the configured operations addresses
// only; the users table is never consulted for them.
import { ApplicationFailure, log } from '@temporalio/activity';
import type { Db } from '../db/client';
import { addressFor, type Channel } from '../domain/campaign';
import { isOperationsAlert } from '../domain/notifications';
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
    case 'booking.overdue.operations':
      return { subject: `Overdue: booking ${n.bookingId}`, body: `Booking ${n.bookingId} (car ${p.carId}) ended at ${p.endsAt} and the car has not been returned.` };
    case 'incident.escalation':
      return {
        subject: `${p.drill ? '[DRILL] ' : ''}Escalation: ${p.incidentId} ${p.severity}`,
        body: `Step "${p.step}" of incident ${p.incidentId} is past its time limit. For: ${p.notify ?? 'the incident commander'}.`,
      };
    default:
      return { subject: n.kind, body: JSON.stringify(p) };
  }
}

export interface NotificationDeps {
  db: Db;
  providers?: Partial<Record<Channel, Provider>>;
  /** Channel of customer messages (default email). */
  channel?: Channel;
  /** Where operations alerts go (KEEL_OPS_ALERT_EMAILS); none: they are kept in the outbox only. */
  operationsAddresses?: readonly string[];
}

export function createNotificationActivities(deps: NotificationDeps) {
  const channel = deps.channel ?? 'email';
  const opsAddresses = deps.operationsAddresses ?? [];

  /** Who receives it, on which channel: never a users-table lookup for an operations alert. */
  async function destinations(n: NotificationRequest): Promise<{ via: Channel; to: string[]; text: { subject: string; body: string } }> {
    if (isOperationsAlert(n)) {
      const kind = n.kind === 'booking.overdue' ? 'booking.overdue.operations' : n.kind;
      // The recipient named by the workflow (a role holder) is said in the text, not used as an address.
      return { via: 'email', to: [...opsAddresses], text: notificationText({ ...n, kind, payload: { ...n.payload, notify: n.recipient } }) };
    }
    const user = deps.providers?.[channel] ? await deps.db.user.findUnique({ where: { id: n.recipient } }) : null;
    const to = user ? addressFor(channel, user) : undefined;
    return { via: channel, to: to ? [to] : [], text: notificationText(n) };
  }

  return {
    async sendNotification(n: NotificationRequest): Promise<{ delivered: boolean; duplicate: boolean }> {
      const inserted = await deps.db.$executeRaw`
        INSERT INTO "notification_outbox" ("idempotency_key", "channel", "recipient", "kind", "booking_id", "payload")
        VALUES (${n.idempotencyKey}, ${n.channel}, ${n.recipient}, ${n.kind}, ${n.bookingId ?? null}, ${JSON.stringify(n.payload)}::jsonb)
        ON CONFLICT ("idempotency_key") DO NOTHING`;
      const { via, to, text } = await destinations(n);
      const provider = deps.providers?.[via];
      if (provider && to.length) {
        for (const [i, address] of to.entries()) {
          // One key per address: a retry after a partial send re-sends only what the provider has not seen.
          const idempotencyKey = to.length > 1 ? `${n.idempotencyKey}:${i}` : n.idempotencyKey;
          const result = await provider.send({ idempotencyKey, channel: via, to: address, ...text });
          if (!result.ok && !result.permanent) {
            throw ApplicationFailure.retryable(`provider ${provider.name}: ${result.error}`, 'TransientDeliveryFailure');
          }
          if (!result.ok) {
            recordDeliveries('notification', n.channel, { failed: 1 });
            log.warn('notification refused by the provider', { key: idempotencyKey, error: result.error });
            if (to.length === 1) return { delivered: false, duplicate: inserted === 0 };
          }
        }
      } else if (isOperationsAlert(n) && !opsAddresses.length) {
        log.warn('operations alert kept in the outbox only: KEEL_OPS_ALERT_EMAILS is not set', { key: n.idempotencyKey, kind: n.kind });
      }
      const marked = await deps.db.notificationOutbox.updateMany({ where: { idempotencyKey: n.idempotencyKey, sentAt: null }, data: { sentAt: new Date() } });
      recordDeliveries('notification', n.channel, { sent: marked.count }); // marked once, so counted once
      log.info('notification sent', { key: n.idempotencyKey, kind: n.kind, via: to.length ? provider?.name : 'outbox', duplicate: inserted === 0 });
      return { delivered: true, duplicate: inserted === 0 };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
