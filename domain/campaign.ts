// Campaign rules shared by the API, the workflow and the activities. Pure, workflow-safe.

export const CHANNELS = ['email', 'sms', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

export const CAMPAIGN_STATUSES = ['SCHEDULED', 'RUNNING', 'PAUSED', 'COMPLETED', 'CANCELLED', 'FAILED'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** The most codes one promo pool holds (one upload). */
export const MAX_CODES_PER_POOL = 200_000;

/** Liquid text (domain/template.ts holds the engine: it is not workflow-safe, this file is). */
export interface CampaignTemplate {
  subject?: string;
  body: string;
}

export type Audience = { all: true } | { userIds: string[] };

export function workflowIdForCampaign(idempotencyKey: string): string {
  return `campaign-${idempotencyKey}`;
}

/** The address a channel sends to, or undefined when the user has none (the delivery is skipped). */
export function addressFor(channel: Channel, u: { email?: string | null; phone?: string | null; pushToken?: string | null }) {
  return (channel === 'email' ? u.email : channel === 'sms' ? u.phone : u.pushToken) ?? undefined;
}

/** Per-delivery idempotency key, carried to the provider: the same delivery is the same message. */
export function deliveryKey(campaignId: string, userId: string): string {
  return `campaign:${campaignId}:${userId}`;
}

export interface QuietHours {
  /** Local hour (0-23) at which quiet time starts, e.g. 21. */
  startHour: number;
  /** Local hour at which it ends, e.g. 8. */
  endHour: number;
}

/**
 * If `at` falls in the recipient's local quiet hours, the first moment after them (UTC); otherwise
 * undefined. Unknown or invalid time zones are treated as UTC.
 */
export function quietUntil(at: Date, timeZone: string | null | undefined, q: QuietHours): Date | undefined {
  let zone = timeZone || 'UTC';
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(at);
  } catch {
    zone = 'UTC';
    parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(at);
  }
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  const quiet = q.startHour > q.endHour ? hour >= q.startHour || hour < q.endHour : hour >= q.startHour && hour < q.endHour;
  if (!quiet) return undefined;
  const hoursLeft = (q.endHour - hour + 24) % 24 || 24;
  return new Date(at.getTime() + hoursLeft * 3_600_000 - minute * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds());
}
