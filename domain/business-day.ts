// The business day in a configured IANA time zone, as a half-open UTC range [start, end). Pure (Intl
// only): the dashboard applies the time zone when reading, so the summary rows are written in UTC and a
// change of KEEL_BUSINESS_TIME_ZONE needs no rebuild.

/** Revenue is summarised per 15 minutes of UTC: every IANA offset in use is a multiple of 15 minutes
 *  (Nepal +05:45, Chatham +12:45, Newfoundland -03:30), so a business day is a whole range of buckets. */
export const REVENUE_BUCKET_MS = 15 * 60_000;

export function revenueBucket(at: Date): Date {
  return new Date(Math.floor(at.getTime() / REVENUE_BUCKET_MS) * REVENUE_BUCKET_MS);
}

export function isValidTimeZone(tz: string): boolean {
  if (!tz || tz.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

function localParts(ms: number, tz: string): { y: number; m: number; d: number; h: number; min: number; s: number } {
  const p = Object.fromEntries(formatter(tz).formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day), h: Number(p.hour), min: Number(p.minute), s: Number(p.second) };
}

/** Local date `YYYY-MM-DD` of an instant in the time zone. */
export function localDate(at: Date, tz: string): string {
  const { y, m, d } = localParts(at.getTime(), tz);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** UTC offset (ms, east positive) of the zone at an instant. */
function offsetAt(ms: number, tz: string): number {
  const p = localParts(ms, tz);
  const asUtc = Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The first instant of a local date: local midnight, or the first existing minute after it when a
 *  daylight-saving jump skips midnight (some zones switch at 00:00). */
function startOfLocalDate(date: string, tz: string): number {
  const [y, m, d] = date.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  // Two rounds of "wall time minus the offset in force" settle on midnight when it exists.
  let t = wall - offsetAt(wall, tz);
  t = wall - offsetAt(t, tz);
  // Midnight skipped (the guess lands on the previous day) or a later instant of the same day: step
  // in 15-minute increments to the first instant that belongs to the date.
  const step = REVENUE_BUCKET_MS;
  while (localDate(new Date(t), tz) < date) t += step;
  while (localDate(new Date(t - step), tz) === date) t -= step;
  return t;
}

export interface BusinessDay {
  /** Local date, YYYY-MM-DD. */
  date: string;
  timeZone: string;
  /** First instant of the day (inclusive) and of the next day (exclusive), UTC. */
  start: Date;
  end: Date;
}

export function businessDay(now: Date, timeZone: string): BusinessDay {
  const date = localDate(now, timeZone);
  const start = startOfLocalDate(date, timeZone);
  // The next local date: 36 h after the start is around noon of the next day, whatever DST does.
  const next = localDate(new Date(start + 36 * 3600_000), timeZone);
  const end = startOfLocalDate(next, timeZone);
  return { date, timeZone, start: new Date(start), end: new Date(end) };
}
