// The commander console end to end in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) against the full in-process stack: real Temporal, real PostgreSQL, the express
// app listening on a local port. A new user's path: sign in with a key, declare a SEV2 (double
// click), watch the checks arrive by live refresh, hand command to a deputy, see a step escalate,
// complete a step, post a public update and find it on /status, resolve.
import type { Locator } from 'playwright-core';
import type { IncidentState, RunbookSnapshot, Severity } from '../../domain/incident';
import { loadUntilVisible, openBrowser, requireChromium, seeText as browserSeeText, type OpenBrowser } from '../helpers/browser';
import { eventually, startStack, type Stack } from '../helpers/stack';

const SCREENSHOT = '/tmp/console-incident.png';
const LIST_SCREENSHOT = '/tmp/console-incidents.png';
const FAILURE_SCREENSHOT = '/tmp/console-failure.png';

function runbook(severity: Severity): RunbookSnapshot {
  return {
    severity,
    version: 'console-test+1',
    steps: [
      { id: 'database', kind: 'auto', title: 'Database reachable', check: 'database' },
      { id: 'late-bookings', kind: 'auto', title: 'Bookings started on time', check: 'bookings_not_started' },
      { id: 'page-oncall', kind: 'manual', title: 'Page the on-call engineer', instructions: 'Call the on-call phone.', role: 'operations', timeLimitMs: 2_000 },
      { id: 'first-update', kind: 'manual', title: 'Post the first public update', instructions: 'Say what is affected and when we update next.', role: 'communications' },
      { id: 'verify-unlock', kind: 'manual', title: 'Confirm customers can unlock cars', instructions: 'Unlock one car in each city.', role: 'operations', timeLimitMs: 3_600_000 },
    ],
  };
}

let stack: Stack | undefined;
let browser: OpenBrowser | undefined;

beforeAll(async () => {
  requireChromium(); // before the stack: without the browser this suite fails at once and says what to do
  stack = await startStack({
    name: 'console',
    runbooks: new Map((['SEV1', 'SEV2', 'SEV3', 'SEV4'] as const).map((s) => [s, runbook(s)])),
  });
  browser = await openBrowser(stack);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
}, 60_000);

/** Wait until the locator's text contains `text` (the page refreshes itself; we never reload). */
const seeText = (locator: Locator, text: string | RegExp, timeout?: number) => browserSeeText(locator, text, timeout, FAILURE_SCREENSHOT);

test('a commander declares, runs and resolves an incident from the console', async () => {
  const s = stack!;
  // pageErrors leaves out the browser's "Failed to load resource" lines: the refusals below are deliberate.
  const { base, context, page, pageErrors } = browser!;
  const declarePosts: string[] = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/v1/incidents') declarePosts.push(req.url());
  });

  // The key prompt: a wrong key is refused with a clear message, the commander key gets in.
  await page.goto(`${base}/console/incidents`);
  await page.getByTestId('key-input').fill('not-a-real-key-0123456789');
  await page.getByTestId('key-submit').click();
  await seeText(page.getByTestId('signin-message'), /refused this key/);
  await page.getByTestId('key-input').fill(s.keys.commander);
  await page.getByTestId('key-submit').click();
  await page.getByTestId('declare-form').waitFor();
  await seeText(page.getByTestId('list-empty'), 'No open incidents.');

  // Declare a SEV2 with a double click on the submit button: one request, one incident.
  await page.getByTestId('declare-title').fill('Cars do not unlock in Lyon');
  await page.getByTestId('declare-severity').selectOption('SEV2');
  await page.getByTestId('declare-component-car-unlock').check();
  await page.getByTestId('declare-summary').fill('Customers report the app spinning on unlock.');
  await page.getByTestId('declare-submit').dblclick();
  await page.waitForURL(/\/console\/incidents\/inc-[0-9a-f-]+$/, { timeout: 20_000 });
  const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
  expect(declarePosts).toHaveLength(1);
  expect(await s.db.incident.count()).toBe(1);
  const row = await s.db.incident.findUniqueOrThrow({ where: { id } });
  expect(row.dedupeKey).toMatch(/^console-/); // the key made when the form opened

  // The incident page: header, then the automated checks' results arriving by live refresh.
  await seeText(page.getByTestId('incident-title'), 'Cars do not unlock in Lyon');
  await seeText(page.getByTestId('incident-severity'), 'SEV2');
  await seeText(page.getByTestId('incident-status'), 'OPEN');
  const step = (stepId: string) => page.getByTestId(`step-${stepId}`);
  await seeText(step('database').getByTestId('step-state'), 'ok', 30_000);
  await seeText(step('late-bookings').getByTestId('step-state'), 'ok', 30_000);
  await seeText(step('database').getByTestId('step-result'), /checked/);
  await seeText(step('verify-unlock').getByTestId('step-due'), /^due /);

  // Live refresh of a change made elsewhere (another responder, through the API).
  await s.api('operator').post(`/v1/incidents/${id}/notes`, { text: 'Lyon gateway logs show TLS errors' }).expect(200);
  await seeText(page.getByTestId('timeline-entry'), 'Lyon gateway logs show TLS errors', 10_000);

  // Chain of command: alice commands, bob is deputy, command is handed to bob.
  const assign = async (role: string, holder: string) => {
    await page.getByTestId('role-select').selectOption(role);
    await page.getByTestId('role-holder-input').fill(holder);
    await page.getByTestId('role-submit').click();
    await seeText(page.getByTestId(`role-${role}`).getByTestId('role-holder'), holder);
  };
  await assign('commander', 'alice');
  await assign('deputy', 'bob');
  await assign('commander', 'bob');
  await seeText(page.getByTestId('timeline-entry'), 'commander handed off from alice to bob');

  // The 2 s limit on paging on-call passes: the step shows as escalated.
  await seeText(step('page-oncall').getByTestId('step-escalated'), /escalated/, 20_000);
  await seeText(page.getByTestId('timeline-entry'), /Escalated/);

  // An API refusal is shown next to the form that caused it (a blank reason to skip).
  await step('verify-unlock').getByTestId('step-reason').fill('   ');
  await step('verify-unlock').getByTestId('step-skip').click();
  await seeText(step('verify-unlock').getByTestId('step-error'), /reason: must not be empty/);

  // Complete a manual step, with a note.
  await step('first-update').getByTestId('step-note').fill('posted on the status page');
  await step('first-update').getByTestId('step-complete').click();
  await seeText(step('first-update').getByTestId('step-state'), 'done');
  await seeText(step('first-update').getByTestId('step-done'), /posted on the status page/);
  expect(await step('first-update').getByTestId('step-complete').isVisible()).toBe(false);

  // A public update with car-unlock = major outage ...
  await page.getByTestId('update-message').fill('Some customers in Lyon cannot unlock cars. Next update in 30 minutes.');
  await page.getByTestId('update-component-car-unlock').selectOption('major_outage');
  await page.getByTestId('update-submit').click();
  await seeText(page.getByTestId('public-update'), 'Some customers in Lyon cannot unlock cars.');
  await seeText(page.getByTestId('public-update'), 'Major outage');

  // ... is on the public status page, within about a second (it is re-rendered when its version poll
  // sees the change, so the first load may still be the previous page).
  const status = await context.newPage();
  await loadUntilVisible(status, `${base}/status`, status.locator('ul.components li').filter({ hasText: 'car-unlock' }).filter({ hasText: 'Major outage' }));
  await seeText(status.locator('ul.components li').filter({ hasText: 'car-unlock' }), 'Major outage');
  await seeText(status.locator('body'), 'Some customers in Lyon cannot unlock cars. Next update in 30 minutes.');
  await status.close();

  // Resolve.
  await page.getByTestId('resolve-summary').fill('Expired certificate on the Lyon unlock gateway; renewed.');
  await page.getByTestId('resolve-submit').click();
  await seeText(page.getByTestId('incident-status'), 'RESOLVED');
  await page.getByTestId('close-form').waitFor(); // the retrospective form appears once resolved
  const state: IncidentState = (await s.api('viewer').get(`/v1/incidents/${id}`).expect(200)).body;
  expect(state.status).toBe('RESOLVED');
  expect(state.roles.commander?.holder).toBe('bob');

  // The post-mortem, fetched with the key.
  await page.getByTestId('postmortem-link').click();
  await seeText(page.getByTestId('postmortem'), /## Timeline/);
  await seeText(page.getByTestId('postmortem'), 'commander handed off from alice to bob');

  await page.getByTestId('incident-title').scrollIntoViewIfNeeded();
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // The list: a resolved incident is not open; the toggle shows it.
  await page.getByTestId('all-incidents').click();
  await seeText(page.getByTestId('list-empty'), 'No open incidents.');
  await page.getByTestId('show-all').check();
  await seeText(page.getByTestId('incident-row'), 'Cars do not unlock in Lyon');
  await seeText(page.getByTestId('incident-row'), 'RESOLVED');
  await page.screenshot({ path: LIST_SCREENSHOT, fullPage: true });

  // Sign out: the key leaves the tab and the prompt comes back.
  await page.getByTestId('sign-out').click();
  await seeText(page.getByTestId('signin-message'), /Signed out/);
  expect(await page.evaluate<string[]>('Object.keys(window.sessionStorage)')).toEqual([]); // a string: tsconfig has no DOM lib
  expect(pageErrors).toEqual([]);

  // Still one incident, however the double click landed.
  await eventually(async () => (await s.db.incident.count()) === 1);
}, 180_000);
