// KEEL_WATCHDOG_DRILL (set by `npm run drill`): the incident the watchdog opens for stuck work is marked
// as a drill, so a game day never looks like a real outage; unset, it is a real incident.
import { createBooking as insertBooking } from '../../db/booking-store';
import { loadEnv } from '../../config/env';
import { WATCHDOG_DEDUPE_KEY } from '../../domain/watchdog';
import { loadRunbooks } from '../../runbooks/load';
import { TemporalGateway } from '../../services/temporal';
import { runWatchdog, watchdogSettingsFromEnv } from '../../services/watchdog';
import { bookingBody, startStack, TEST_COMPONENTS, type Stack } from '../helpers/stack';

let stack: Stack;
beforeAll(async () => {
  // No workers: the stuck booking below is a row whose workflow never started.
  stack = await startStack({ name: 'watchdog-drill', workers: [] });
});
afterAll(() => stack?.stop());

test('the setting is off unless KEEL_WATCHDOG_DRILL is set', () => {
  expect(watchdogSettingsFromEnv(loadEnv({})).drill).toBe(false);
  expect(watchdogSettingsFromEnv(loadEnv({ KEEL_WATCHDOG_DRILL: 'true' })).drill).toBe(true);
});

test('with the drill setting, the stuck-work incident the watchdog opens is a drill; without it, a real one', async () => {
  // A booking due a minute ago whose workflow never started: booking_not_started.
  const body = bookingBody({}, -60_000);
  await insertBooking(stack.db, { ...body, startsAt: new Date(body.startsAt), endsAt: new Date(body.endsAt) }, { actor: 'service:test' }, `booking-${body.bookingId}`);
  const temporal = new TemporalGateway({ client: stack.client, taskQueuePrefix: stack.prefix });
  const run = (drill: boolean, runId: string) =>
    runWatchdog({ db: stack.db, temporal, settings: { incidents: { runbooks: loadRunbooks(), components: TEST_COMPONENTS }, watchdog: { graceMs: 0, drill } } }, runId);

  const drill = await run(true, 'drill-marker-1');
  expect(drill.counts.booking_not_started).toBeGreaterThanOrEqual(1);
  expect(await stack.db.incident.findUniqueOrThrow({ where: { id: drill.incidentId! } })).toMatchObject({ drill: true, dedupeKey: WATCHDOG_DEDUPE_KEY });

  // The drill's incident ends (its workflow terminated: the key is released), then a run without the setting.
  await stack.client.workflow.getHandle(`incident-${drill.incidentId}`).terminate('test: drill over');
  const real = await run(false, 'drill-marker-2');
  expect(real.incidentId).not.toBe(drill.incidentId);
  expect(await stack.db.incident.findUniqueOrThrow({ where: { id: real.incidentId! } })).toMatchObject({ drill: false });
}, 120_000);
