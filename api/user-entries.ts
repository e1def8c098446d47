// A user batch's entries, validated one by one: every bad entry of a batch is reported in one 400
// (index, userId, field, message; the list capped, with the total count), so an upload is fixed in
// one round. Field rules: emails, E.164 phones (separators removed), IANA time zones and BCP 47
// locales stored in their canonical form, no control characters in free text.
import { z } from 'zod';
import type { UserInput } from '../db/user-store';
import { ApiError } from './errors';
import { businessId } from './validation';

export const MAX_USERS_PER_BATCH = 10_000;
/** How many problems a 400 lists; the total is always given. */
export const MAX_LISTED_ERRORS = 100;

// Control characters are exactly what this refuses.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const noControl = (s: string) => !CONTROL.test(s);

const zoneCache = new Map<string, string | null>();
/** The canonical IANA name (Intl's own check, as quiet hours use it), or null when the zone is unknown. */
export function canonicalTimeZone(zone: string): string | null {
  let hit = zoneCache.get(zone);
  if (hit === undefined) {
    try {
      hit = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      hit = null;
    }
    if (zoneCache.size < 10_000) zoneCache.set(zone, hit);
  }
  return hit;
}

const timezone = z
  .string()
  .max(64, 'must be at most 64 characters')
  .transform((s, ctx) => {
    const zone = canonicalTimeZone(s);
    if (!zone) {
      ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone such as Europe/Paris or America/New_York' });
      return z.NEVER;
    }
    return zone;
  });

const locale = z
  .string()
  .max(20, 'must be at most 20 characters')
  .transform((s, ctx) => {
    try {
      const [canonical] = Intl.getCanonicalLocales(s);
      if (canonical && canonical.length <= 20) return canonical;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'must be a BCP 47 language tag such as en, fr-FR or pt-BR' });
    return z.NEVER;
  });

/** E.164 after removing the usual separators: "+33 6 12-34-56-78" is stored as +33612345678. */
const phone = z
  .string()
  .max(32, 'must be at most 32 characters')
  .transform((s, ctx) => {
    const compact = s.replace(/[\s().-]/g, '');
    if (/^\+[1-9]\d{6,14}$/.test(compact)) return compact;
    ctx.addIssue({ code: 'custom', message: 'must be an international number in E.164 form, e.g. +33612345678' });
    return z.NEVER;
  });

export const UserEntry = z.strictObject({
  userId: businessId,
  email: z.email('must be an email address').max(254, 'must be at most 254 characters').nullable().optional(),
  phone: phone.nullable().optional(),
  pushToken: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters')
    .refine(noControl, 'must not contain control characters').nullable().optional(),
  firstName: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters')
    .refine(noControl, 'must not contain control characters').nullable().optional(),
  timezone: timezone.nullable().optional(),
  locale: locale.nullable().optional(),
  optedOut: z.boolean().optional(),
});

export interface EntryProblem {
  /** Path as in every other 400 of the API, e.g. users.3.email. */
  field: string;
  index: number;
  userId: string | null;
  message: string;
}

/** Validates every entry and returns the valid ones, or throws one 400 naming all bad entries. */
export function validateUsers(entries: unknown[]): UserInput[] {
  const problems: EntryProblem[] = [];
  const invalid = new Set<number>();
  const users: UserInput[] = [];
  const firstIndex = new Map<string, number>();
  entries.forEach((entry, index) => {
    const rawId = (entry as { userId?: unknown } | null)?.userId;
    const userId = typeof rawId === 'string' ? rawId.slice(0, 100) : null;
    const add = (field: string, message: string) => {
      problems.push({ field: `users.${index}${field ? `.${field}` : ''}`, index, userId, message });
      invalid.add(index);
    };
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      add('', 'must be an object such as {"userId": "u-1", "email": "a@example.com"}');
      return;
    }
    const result = UserEntry.safeParse(entry);
    if (!result.success) {
      for (const i of result.error.issues) {
        const keys = (i as { keys?: string[] }).keys;
        if (i.path.length) add(i.path.join('.'), i.message);
        else if (keys?.length) for (const k of keys) add(k.slice(0, 100), 'unknown field');
        else add('', i.message);
      }
    } else {
      users.push(result.data);
    }
    if (userId !== null && businessId.safeParse(userId).success) {
      const first = firstIndex.get(userId);
      if (first === undefined) firstIndex.set(userId, index);
      else add('userId', `duplicate: userId ${userId} already appears at index ${first}; send each user once per batch`);
    }
  });
  if (problems.length === 0) return users;
  problems.sort((a, b) => a.index - b.index);
  const listed = problems.slice(0, MAX_LISTED_ERRORS);
  const first = listed[0];
  throw new ApiError(
    400,
    'VALIDATION_FAILED',
    `${invalid.size} of ${entries.length} users are invalid; nothing was written. First: ${first.field}${first.userId ? ` (userId ${first.userId})` : ''}: ${first.message}`,
    { fields: listed, errorCount: problems.length, invalidEntries: invalid.size, truncated: problems.length > listed.length },
  );
}
