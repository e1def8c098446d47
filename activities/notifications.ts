// Notification activities, run by the `notifications` worker on its own task queue so a backlog or a
// provider outage here can never hold up a booking transition. Until real providers arrive, a message
// is "sent" by writing it to the outbox; the idempotency key makes a retried attempt a no-op.
import { log } from '@temporalio/activity';
import type { Db } from '../db/client';

export interface NotificationRequest {
  idempotencyKey: string;
  kind: string;
  channel: 'outbox';
  /** A customer id, or `operations` for the operations team. */
  recipient: string;
  bookingId?: string;
  payload: Record<string, string | number | boolean | null>;
}

export function createNotificationActivities(deps: { db: Db }) {
  return {
    async sendNotification(n: NotificationRequest): Promise<{ delivered: boolean; duplicate: boolean }> {
      const inserted = await deps.db.$executeRaw`
        INSERT INTO "notification_outbox" ("idempotency_key", "channel", "recipient", "kind", "booking_id", "payload")
        VALUES (${n.idempotencyKey}, ${n.channel}, ${n.recipient}, ${n.kind}, ${n.bookingId ?? null}, ${JSON.stringify(n.payload)}::jsonb)
        ON CONFLICT ("idempotency_key") DO NOTHING`;
      log.info('notification queued', { key: n.idempotencyKey, kind: n.kind, duplicate: inserted === 0 });
      return { delivered: true, duplicate: inserted === 0 };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
