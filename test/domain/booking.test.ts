// Pure lifecycle rules: which transition the clock fires next, which reminders are due, and why a
// request is refused.
import { canTransition, dueTransitions, nextTimedTransition, pendingReminders, refusal, statusByClock, BOOKING_STATUSES } from '../../domain/booking';
import { parseDurationList, parseDurationMs } from '../../config/durations';
import { loadEnv } from '../../config/env';

const MIN = 60_000;

describe('nextTimedTransition', () => {
  const base = { startsAt: 100 * MIN, endsAt: 200 * MIN, noShowGraceMs: 30 * MIN };
  test('CONFIRMED starts at startsAt', () => {
    expect(nextTimedTransition({ ...base, status: 'CONFIRMED' })).toEqual({ to: 'ONGOING', action: 'start', at: 100 * MIN });
  });
  test('ONGOING and never connected: no-show after the grace period', () => {
    expect(nextTimedTransition({ ...base, status: 'ONGOING' })).toEqual({ to: 'NO_SHOW', action: 'no_show', at: 130 * MIN });
  });
  test('a booking shorter than the grace period is a no-show at its end, not overdue', () => {
    expect(nextTimedTransition({ ...base, endsAt: 110 * MIN, status: 'ONGOING' })?.at).toBe(110 * MIN);
  });
  test('ONGOING and connected: overdue at endsAt', () => {
    expect(nextTimedTransition({ ...base, status: 'ONGOING', connectedAt: 101 * MIN })).toEqual({ to: 'OVERDUE', action: 'overdue', at: 200 * MIN });
  });
  test.each(['OVERDUE', 'COMPLETED', 'CANCELLED', 'NO_SHOW'] as const)('%s has no timed transition', (status) => {
    expect(nextTimedTransition({ ...base, status })).toBeUndefined();
  });
});

describe('dueTransitions and statusByClock (what a request is judged against)', () => {
  const base = { startsAt: 100 * MIN, endsAt: 200 * MIN, noShowGraceMs: 30 * MIN };
  test('before startsAt nothing is due; at startsAt exactly the start is', () => {
    expect(dueTransitions({ ...base, status: 'CONFIRMED' }, 100 * MIN - 1)).toEqual([]);
    expect(dueTransitions({ ...base, status: 'CONFIRMED' }, 100 * MIN)).toEqual([{ to: 'ONGOING', action: 'start', at: 100 * MIN }]);
    expect(statusByClock({ ...base, status: 'CONFIRMED' }, 100 * MIN)).toBe('ONGOING');
  });
  test('past the grace period unconnected: start then no-show, in order', () => {
    expect(dueTransitions({ ...base, status: 'CONFIRMED' }, 131 * MIN).map((t) => t.action)).toEqual(['start', 'no_show']);
    expect(statusByClock({ ...base, status: 'CONFIRMED' }, 131 * MIN)).toBe('NO_SHOW');
  });
  test('connected and past the end: overdue; a finished booking stays as it is', () => {
    expect(statusByClock({ ...base, status: 'ONGOING', connectedAt: 101 * MIN }, 201 * MIN)).toBe('OVERDUE');
    for (const status of ['COMPLETED', 'CANCELLED', 'NO_SHOW', 'OVERDUE'] as const) expect(statusByClock({ ...base, status }, 999 * MIN)).toBe(status);
  });
});

describe('pendingReminders', () => {
  const b = {
    status: 'CONFIRMED' as const, startsAt: 100 * MIN, endsAt: 200 * MIN, createdAt: 0, endsAtSetAt: 0,
    beforeStartMs: [60 * MIN, 15 * MIN], beforeEndMs: [60 * MIN, 15 * MIN], sent: new Set<string>(),
  };
  test('before start and before end, in time order', () => {
    expect(pendingReminders(b).map((r) => [r.kind, r.at / MIN])).toEqual([
      ['before_start', 40], ['before_start', 85], ['before_end', 140], ['before_end', 185],
    ]);
  });
  test('a reminder whose time had passed when the booking was made is dropped, not sent late', () => {
    expect(pendingReminders({ ...b, createdAt: 50 * MIN }).map((r) => r.at / MIN)).toEqual([85, 140, 185]);
  });
  test('sent reminders are not repeated; an extension re-keys the end reminders', () => {
    const first = pendingReminders(b);
    const sent = new Set(first.slice(0, 3).map((r) => r.key));
    expect(pendingReminders({ ...b, sent }).map((r) => r.at / MIN)).toEqual([185]);
    const extended = pendingReminders({ ...b, status: 'ONGOING', endsAt: 260 * MIN, endsAtSetAt: 150 * MIN, sent });
    expect(extended.map((r) => [r.kind, r.at / MIN])).toEqual([['before_end', 200], ['before_end', 245]]);
  });
  test('no start reminders once running; none at all when finished', () => {
    expect(pendingReminders({ ...b, status: 'ONGOING' }).every((r) => r.kind === 'before_end')).toBe(true);
    expect(pendingReminders({ ...b, status: 'OVERDUE' })).toEqual([]);
  });
});

describe('refusal and the transition graph', () => {
  test('connect only while ONGOING or OVERDUE', () => {
    for (const s of BOOKING_STATUSES) expect(refusal('connect', s) === null).toBe(s === 'ONGOING' || s === 'OVERDUE');
  });
  test('cancel only before start; extend only while CONFIRMED or ONGOING', () => {
    for (const s of BOOKING_STATUSES) {
      expect(refusal('cancel', s) === null).toBe(s === 'CONFIRMED');
      expect(refusal('extend', s) === null).toBe(s === 'CONFIRMED' || s === 'ONGOING');
    }
  });
  test('edges', () => {
    expect(canTransition('CONFIRMED', 'ONGOING')).toBe(true);
    expect(canTransition('OVERDUE', 'COMPLETED')).toBe(true);
    expect(canTransition('CONFIRMED', 'COMPLETED')).toBe(false);
    expect(canTransition('COMPLETED', 'ONGOING')).toBe(false);
  });
});

describe('configuration', () => {
  test('durations', () => {
    expect(parseDurationMs('30m')).toBe(30 * MIN);
    expect(parseDurationMs('1.5s')).toBe(1500);
    expect(parseDurationMs('250')).toBe(250);
    expect(parseDurationList('60m, 15m')).toEqual([60 * MIN, 15 * MIN]);
    expect(() => parseDurationMs('soon')).toThrow(/invalid duration/);
  });
  test('defaults work with an empty environment; bad values are named', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({ PORT: 3000, TEMPORAL_PORT: 7233, TEMPORAL_UI_PORT: 8233, KEEL_NO_SHOW_GRACE: 30 * MIN });
    expect(env.KEEL_REMINDERS_BEFORE_START).toEqual([60 * MIN, 15 * MIN]);
    expect(() => loadEnv({ PORT: 'eighty', KEEL_NO_SHOW_GRACE: 'later' })).toThrow(/PORT[\s\S]*KEEL_NO_SHOW_GRACE/);
  });
});
