// One interface for every way a message leaves Keel. A provider is chosen per channel by configuration
// (providers/index.ts). Every call carries the delivery's idempotency key: a provider (or the system
// behind it) that sees the same key twice must deliver once.
import type { Channel } from '../domain/campaign';

export interface OutgoingMessage {
  idempotencyKey: string;
  channel: Channel;
  /** Email address, phone number or push token. */
  to: string;
  subject?: string;
  body: string;
}

export type SendResult =
  | { ok: true; providerMessageId?: string }
  /** permanent: retrying cannot help (invalid address, a 4xx); the delivery is marked failed. */
  | { ok: false; permanent: boolean; error: string };

export interface Provider {
  readonly name: string;
  send(message: OutgoingMessage): Promise<SendResult>;
  close?(): Promise<void>;
}
