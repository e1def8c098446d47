// An explicit campaign audience: how large it may be and how the campaign row refers to it. The ids
// themselves live in the campaign_audience table, never in a workflow payload (Temporal refuses a
// payload over 2 MB; 100,000 ids of 40 characters are about 4 MB). Pure, workflow-safe.
import type { Audience } from './campaign';

/**
 * The most user ids one explicit audience may name. Larger audiences are the whole user base in
 * practice (`{all: true}`); a million rows still insert in one transaction within seconds.
 */
export const MAX_AUDIENCE_IDS = 1_000_000;

/**
 * POST /v1/campaigns' body limit: MAX_AUDIENCE_IDS ids at their longest (64 characters, 67 bytes as
 * a JSON array element) plus the template and the other fields.
 */
export const CAMPAIGN_BODY_LIMIT = '72mb';

/** What the campaign row keeps of its audience: all users, or how many distinct ids its table holds. */
export type StoredAudience = { all: true } | { listed: number };

/** The request's ids without repeats, in the order of their first appearance (each is sent once). */
export function distinctUserIds(audience: Audience): string[] {
  return 'all' in audience ? [] : [...new Set(audience.userIds)];
}

export function isWholeUserBase(stored: unknown): boolean {
  return typeof stored === 'object' && stored !== null && (stored as { all?: unknown }).all === true;
}
