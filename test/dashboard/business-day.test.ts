// The business day as a UTC range, in ordinary and daylight-saving days and in zones whose offset is
// not a whole hour: every boundary must fall on a 15-minute revenue bucket.
import { businessDay, isValidTimeZone, localDate, REVENUE_BUCKET_MS, revenueBucket } from '../../domain/business-day';
import { loadEnv } from '../../config/env';

describe('businessDay', () => {
  test('an ordinary Paris day is 24 h from local midnight (UTC+1 in winter, UTC+2 in summer)', () => {
    expect(businessDay(new Date('2026-01-15T12:00:00Z'), 'Europe/Paris')).toEqual({
      date: '2026-01-15', timeZone: 'Europe/Paris', start: new Date('2026-01-14T23:00:00Z'), end: new Date('2026-01-15T23:00:00Z'),
    });
    const summer = businessDay(new Date('2026-07-01T21:59:59.999Z'), 'Europe/Paris');
    expect(summer).toMatchObject({ date: '2026-07-01', start: new Date('2026-06-30T22:00:00Z'), end: new Date('2026-07-01T22:00:00Z') });
  });

  test('the local midnight is the boundary, not the UTC one', () => {
    // 23:30 UTC on Jan 15 is already Jan 16 in Paris.
    expect(businessDay(new Date('2026-01-15T23:30:00Z'), 'Europe/Paris').date).toBe('2026-01-16');
    expect(businessDay(new Date('2026-01-15T22:59:59.999Z'), 'Europe/Paris').date).toBe('2026-01-15');
    expect(businessDay(new Date('2026-01-15T23:00:00Z'), 'Europe/Paris').date).toBe('2026-01-16');
    expect(businessDay(new Date('2026-01-16T04:00:00Z'), 'America/New_York').date).toBe('2026-01-15');
  });

  test('daylight-saving days are 23 and 25 hours long', () => {
    const spring = businessDay(new Date('2026-03-29T12:00:00Z'), 'Europe/Paris');
    expect(spring.start.toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(spring.end.getTime() - spring.start.getTime()).toBe(23 * 3600_000);
    const autumn = businessDay(new Date('2026-10-25T12:00:00Z'), 'Europe/Paris');
    expect(autumn.start.toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(autumn.end.getTime() - autumn.start.getTime()).toBe(25 * 3600_000);
  });

  test('a zone that skips midnight starts its day at the first existing minute', () => {
    // America/Havana springs forward at 00:00 -> 01:00 (2026-03-08).
    const d = businessDay(new Date('2026-03-08T15:00:00Z'), 'America/Havana');
    expect(d.date).toBe('2026-03-08');
    expect(localDate(d.start, 'America/Havana')).toBe('2026-03-08');
    expect(localDate(new Date(d.start.getTime() - 1), 'America/Havana')).toBe('2026-03-07');
    expect(d.end.getTime() - d.start.getTime()).toBe(23 * 3600_000);
  });

  test.each(['Asia/Kathmandu', 'Australia/Eucla', 'America/St_Johns', 'Asia/Kolkata', 'Pacific/Chatham', 'UTC', 'Pacific/Kiritimati'])(
    '%s: the day contains now and both ends fall on a 15-minute bucket',
    (tz) => {
      for (let i = 0; i < 48; i++) {
        const now = new Date(Date.UTC(2026, 0, 1) + i * 7.5 * 24 * 3600_000 + i * 37 * 60_000);
        const d = businessDay(now, tz);
        expect(d.start.getTime()).toBeLessThanOrEqual(now.getTime());
        expect(d.end.getTime()).toBeGreaterThan(now.getTime());
        expect(d.start.getTime() % REVENUE_BUCKET_MS).toBe(0);
        expect(d.end.getTime() % REVENUE_BUCKET_MS).toBe(0);
        expect(localDate(d.start, tz)).toBe(d.date);
        expect(localDate(new Date(d.end.getTime() - 1), tz)).toBe(d.date);
        expect(localDate(d.end, tz) > d.date).toBe(true);
      }
    },
  );

  test('revenue buckets are 15-minute UTC floors', () => {
    expect(revenueBucket(new Date('2026-01-15T10:14:59.999Z')).toISOString()).toBe('2026-01-15T10:00:00.000Z');
    expect(revenueBucket(new Date('2026-01-15T10:15:00.000Z')).toISOString()).toBe('2026-01-15T10:15:00.000Z');
  });
});

describe('KEEL_BUSINESS_TIME_ZONE', () => {
  test('defaults to Europe/Paris, takes an IANA name, refuses anything else', () => {
    expect(loadEnv({}).KEEL_BUSINESS_TIME_ZONE).toBe('Europe/Paris');
    expect(loadEnv({ KEEL_BUSINESS_TIME_ZONE: 'America/New_York' }).KEEL_BUSINESS_TIME_ZONE).toBe('America/New_York');
    expect(() => loadEnv({ KEEL_BUSINESS_TIME_ZONE: 'Mars/Olympus_Mons' })).toThrow(/KEEL_BUSINESS_TIME_ZONE: must be an IANA time zone/);
    expect(isValidTimeZone('')).toBe(false);
    expect(isValidTimeZone('Europe/Paris; DROP TABLE bookings')).toBe(false);
  });
});
