// The campaign console end to end in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) against the full in-process stack: real Temporal, real PostgreSQL, the express
// app listening on a local port. An operator's path: sign in, fill the form, preview it, have it refused, lose an
// answer, reload, double-click and submit the same form again -> exactly one campaign, which completes
// with every user sent once and the bounced address listed; then a rate-limited campaign is paused,
// slowed, resumed and cancelled from its page, with the counts final.
import type { Locator, Page } from 'playwright-core';
import type { BatchingProvider } from '../../activities/campaigns';
import { createOutboxProvider } from '../../providers/outbox';
import type { OutgoingMessage, SendResult } from '../../providers/types';
import { openBrowser, requireChromium, seeText as browserSeeText, type OpenBrowser } from '../helpers/browser';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack';

const FORM_SCREENSHOT = '/tmp/console-campaigns.png';
const SCREENSHOT = '/tmp/console-campaign.png';
const COMPLETED_SCREENSHOT = '/tmp/console-campaign-completed.png';
const RUNNING_SCREENSHOT = '/tmp/console-campaign-running.png';
const CONFLICT_SCREENSHOT = '/tmp/console-campaigns-conflict.png';
const FAILURE_SCREENSHOT = '/tmp/console-campaign-failure.png';
const BOUNCE = 'bounce@example.test';

/** The outbox, except one address that the "provider" refuses for good (a 5xx mailbox error). */
function bouncingOutbox(stackRef: () => Stack): BatchingProvider {
  let inner: BatchingProvider | undefined;
  return {
    name: 'bouncing-outbox',
    async send(m: OutgoingMessage): Promise<SendResult> {
      if (m.to === BOUNCE) return { ok: false, permanent: true, error: '550 mailbox unavailable' };
      inner ??= createOutboxProvider(stackRef().workerDb);
      return inner.send(m);
    },
  };
}

let stack: Stack | undefined;
let browser: OpenBrowser | undefined;
let page: Page;
let base = '';
/** The page's uncaught and console errors (the browser's "Failed to load resource" lines left out: the refusals below are deliberate). */
let pageErrors: string[] = [];
/** Every POST /v1/campaigns the page sent, with its Idempotency-Key. */
const creates: Array<string | undefined> = [];

beforeAll(async () => {
  requireChromium(); // before the stack: without the browser this suite fails at once and says what to do
  stack = await startStack({ name: 'campaign-console', providers: { email: bouncingOutbox(() => stack!) } });
  browser = await openBrowser(stack);
  ({ base, page, pageErrors } = browser);
  page.on('request', (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/v1/campaigns') creates.push(req.headers()['idempotency-key']);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
}, 60_000);

/** Wait until the locator's text matches (the page refreshes itself; we never reload to see it). */
const seeText = (locator: Locator, text: string | RegExp, timeout?: number) => browserSeeText(locator, text, timeout, FAILURE_SCREENSHOT);

const count = async (testId: string) => Number((await page.getByTestId(testId).textContent())!.replace(/\D/g, ''));
const status = (s: string) => seeText(page.getByTestId('campaign-status'), new RegExp(`^${s}$`), 30_000);
const enabled = async () => {
  const out: Record<string, boolean> = {};
  for (const b of ['pause', 'resume', 'cancel', 'retry-failed', 'rate-submit']) out[b] = await page.getByTestId(b).isEnabled();
  return out;
};

async function seedUsers(prefix: string, n: number, extra: Array<{ id: string; email: string; firstName: string; timezone: string }> = []): Promise<string[]> {
  const users = Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${String(i).padStart(3, '0')}`, email: `${prefix}-${i}@example.test`, firstName: `Ann${i}`, timezone: 'UTC',
  }));
  await stack!.db.user.createMany({ data: [...users, ...extra] });
  return users.map((u) => u.id);
}

test('a previewed, refused, lost, reloaded, double-clicked and re-submitted form creates exactly one campaign, which completes', async () => {
  const s = stack!;
  await seedUsers('cc1', 50, [{ id: 'cc1-bounce', email: BOUNCE, firstName: 'Bo', timezone: 'UTC' }]);
  const poolId = 'console-pool';
  await s.db.promoPool.create({ data: { id: poolId, name: poolId, idempotencyKey: poolId, requestHash: 'x'.repeat(64), size: 60 } });
  await s.db.promoCode.createMany({ data: Array.from({ length: 60 }, (_, i) => ({ poolId, code: `SPRING-${String(i).padStart(3, '0')}` })) });

  // A lost answer: the API creates the campaign, the browser sees the connection reset.
  let mode: 'pass' | 'lose' | 'hold' = 'pass';
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/v1/campaigns', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const response = await route.fetch();
    if (mode === 'lose') return route.abort('connectionreset');
    if (mode === 'hold') await held;
    return route.fulfill({ response });
  });

  try {
    // Sign in; the form already holds the key it made when it opened.
    await page.goto(`${base}/console/campaigns`);
    await page.getByTestId('key-input').fill(s.keys.operator);
    await page.getByTestId('key-submit').click();
    await page.getByTestId('campaign-form').waitFor();
    const key = await page.getByTestId('campaign-key').inputValue();
    expect(key).toMatch(/^console-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await page.getByTestId('campaign-key').getAttribute('readonly')).not.toBeNull();

    await page.getByTestId('campaign-name').fill('Spring promo');
    await page.getByTestId('campaign-channel').selectOption('email');
    await page.getByTestId('campaign-subject').fill('Hi {{firstName}}');
    await page.getByTestId('campaign-body').fill('Your code: {{promoCode}}');
    await page.getByTestId('audience-all').check();
    await page.getByTestId('campaign-pool').fill('no-such-pool');
    await page.screenshot({ path: FORM_SCREENSHOT, fullPage: true });

    // 0. Preview: sample values, then as one user; a template the API refuses shows its reason. Nothing is created.
    await page.getByTestId('campaign-preview').click();
    await seeText(page.getByTestId('preview-subject'), /^Hi Alex$/);
    await seeText(page.getByTestId('preview-body'), /^Your code: PROMO-PREVIEW$/);
    await page.getByTestId('preview-user').fill('cc1-007');
    await page.getByTestId('preview-user').press('Enter'); // previews; does not submit the campaign
    await seeText(page.getByTestId('preview-subject'), /^Hi Ann7$/);
    await page.getByTestId('campaign-body').fill('Your code: {{promoCode}}\n{{ lastName }}');
    await page.getByTestId('campaign-preview').click();
    await seeText(page.getByTestId('preview-error'), /unknown variable "lastName".*\(line 2, column 4\)/);
    expect(await page.getByTestId('preview-result').isVisible()).toBe(false);
    await page.getByTestId('campaign-body').fill('Your code: {{promoCode}}');
    await page.getByTestId('campaign-preview').click();
    await seeText(page.getByTestId('preview-body'), /^Your code: PROMO-PREVIEW$/);
    expect(await page.getByTestId('preview-error').isVisible()).toBe(false);
    expect(creates).toEqual([]);
    expect(await s.db.campaign.count()).toBe(0);
    expect(await s.db.promoCode.count({ where: { poolId, assignedAt: { not: null } } })).toBe(0);

    // 1. Refused before anything is sent; the error sits next to the form, the key stays.
    await page.getByTestId('campaign-submit').click();
    await seeText(page.getByTestId('campaign-error'), /unknown promo pool no-such-pool/);
    expect(await page.getByTestId('campaign-submit').isEnabled()).toBe(true);
    expect(await page.getByTestId('campaign-key').inputValue()).toBe(key);
    expect(await s.db.campaign.count()).toBe(0);

    // 2. Fixed and sent, but the answer is lost: the campaign exists, the page shows a network error.
    await page.getByTestId('campaign-pool').fill(poolId);
    mode = 'lose';
    await page.getByTestId('campaign-submit').click();
    await seeText(page.getByTestId('campaign-error'), /could not reach the API/);
    expect(await s.db.campaign.count()).toBe(1);
    mode = 'pass';

    // 3. Reload: the same form comes back, with the same key.
    await page.reload();
    await page.getByTestId('campaign-form').waitFor();
    expect(await page.getByTestId('campaign-key').inputValue()).toBe(key);
    expect(await page.getByTestId('campaign-name').inputValue()).toBe('Spring promo');
    expect(await page.getByTestId('campaign-pool').inputValue()).toBe(poolId);

    // 4. Changed, the same key is refused (409) with a way out; changed back, it goes through.
    await page.getByTestId('campaign-name').fill('Spring promo (edited)');
    await page.getByTestId('campaign-submit').click();
    await seeText(page.getByTestId('campaign-error'), /already exists with a different request/);
    expect(await page.getByTestId('conflict-link').getAttribute('href')).toBe(`/console/campaigns/${key}`);
    await page.screenshot({ path: CONFLICT_SCREENSHOT, fullPage: true });
    await page.getByTestId('campaign-name').fill('Spring promo');

    // 5. A double click, then two more submits of the same form while the answer is held back.
    mode = 'hold';
    const before = creates.length;
    await page.getByTestId('campaign-submit').dblclick();
    const stillDisabled = await page.evaluate<boolean>(`(() => {
      const form = document.getElementById('campaign-form');
      form.requestSubmit();
      form.requestSubmit();
      return document.querySelector('[data-testid="campaign-submit"]').disabled;
    })()`); // a string: tsconfig has no DOM lib
    expect(stillDisabled).toBe(true);
    await eventually(async () => creates.length > before);
    await sleep(500);
    expect(creates.length - before).toBe(1);
    release();
    await page.waitForURL(`${base}/console/campaigns/${key}`, { timeout: 20_000 });
  } finally {
    release();
    await page.unroute('**/v1/campaigns');
  }

  // Every request carried the form's one key: one campaign.
  const key = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
  expect(creates.length).toBe(4); // refused, lost, conflict, the double click (the rest never left the page)
  expect(new Set(creates)).toEqual(new Set([key]));
  expect(await s.db.campaign.count()).toBe(1);

  // The campaign page: progress to COMPLETED, 50 sent, the bounced address listed with its error.
  await seeText(page.getByTestId('campaign-name'), 'Spring promo');
  await status('COMPLETED');
  await seeText(page.getByTestId('count-sent'), /^50$/);
  await seeText(page.getByTestId('count-failed'), /^1$/);
  expect(await count('count-total')).toBe(51);
  expect(await count('count-pending')).toBe(0);
  await seeText(page.getByTestId('progress-pct'), '100 %');
  await seeText(page.getByTestId('failed-row'), 'cc1-bounce');
  await seeText(page.getByTestId('failed-row'), '550 mailbox unavailable');
  await seeText(page.getByTestId('fact-finished'), /\d\d:\d\d/);
  expect(await enabled()).toEqual({ pause: false, resume: false, cancel: false, 'retry-failed': true, 'rate-submit': false });
  await page.screenshot({ path: COMPLETED_SCREENSHOT, fullPage: true });

  // Exactly once: 50 messages, 50 distinct codes.
  const sent = await s.db.delivery.findMany({ where: { campaignId: key, status: 'SENT' } });
  expect(sent).toHaveLength(50);
  expect(new Set(sent.map((d) => d.promoCode)).size).toBe(50);
  expect(await s.db.outboxMessage.count({ where: { idempotencyKey: { startsWith: `campaign:${key}:` } } })).toBe(50);

  // Retry failed: only the bounced delivery is tried again (and bounces again); nothing else is sent.
  await page.getByTestId('retry-failed').click();
  await eventually(async () => {
    const d = await s.db.delivery.findFirst({ where: { campaignId: key, userId: 'cc1-bounce' } });
    const c = await s.db.campaign.findUnique({ where: { id: key } });
    return d && d.attempts >= 2 && d.status === 'FAILED' && c?.status === 'COMPLETED';
  }, 30_000);
  await status('COMPLETED');
  await seeText(page.getByTestId('count-failed'), /^1$/);
  await seeText(page.getByTestId('count-sent'), /^50$/);
  expect(await s.db.outboxMessage.count({ where: { idempotencyKey: { startsWith: `campaign:${key}:` } } })).toBe(50);
  expect(await s.db.campaign.count()).toBe(1);
  expect(pageErrors).toEqual([]);
}, 180_000);

test('a rate-limited campaign is paused, slowed, resumed and cancelled from its page, with the counts final', async () => {
  const s = stack!;
  // At 5/s the audience lasts 40 s: room for the steps up to the pause on a busy machine (with 50 it
  // lasted 10 s, and a slow run could finish before the pause and fail on the counts, not the behaviour).
  const AUDIENCE = 200;
  const ids = await seedUsers('cc2', AUDIENCE);
  // Back to the form (from the back/forward cache or loaded again): that form's campaign exists, so a new form.
  await page.goBack();
  expect(new URL(page.url()).pathname).toBe('/console/campaigns');
  await page.getByTestId('campaign-form').waitFor();
  expect(await page.getByTestId('campaign-submit').isEnabled()).toBe(true);
  const firstKey = (await s.db.campaign.findFirstOrThrow()).id;
  const key = await page.getByTestId('campaign-key').inputValue();
  expect(key).not.toBe(firstKey); // a new form, a new key
  expect(await page.getByTestId('campaign-name').inputValue()).toBe('');

  await page.getByTestId('campaign-name').fill('Rate limited');
  await page.getByTestId('campaign-body').fill('Hello {{firstName}}');
  await page.getByTestId('audience-list').check();
  await page.getByTestId('audience-user-ids').fill(ids.join('\n'));
  await page.getByTestId('campaign-rate').fill('5');
  await page.getByTestId('campaign-submit').click();
  await page.waitForURL(`${base}/console/campaigns/${key}`, { timeout: 20_000 });

  // Live progress while it runs at 5/s.
  await status('RUNNING');
  await seeText(page.getByTestId('fact-rate'), '5 per second');
  await seeText(page.getByTestId('count-sent'), /^[1-9]\d*$/);
  expect(await count('count-total')).toBe(AUDIENCE);
  expect(await enabled()).toEqual({ pause: true, resume: false, cancel: true, 'retry-failed': false, 'rate-submit': true });
  await seeText(page.getByTestId('fact-eta'), /^about \d/);
  await page.screenshot({ path: RUNNING_SCREENSHOT, fullPage: true });

  // Pause: nothing more is sent.
  await page.getByTestId('pause').click();
  await status('PAUSED');
  expect(await enabled()).toEqual({ pause: false, resume: true, cancel: true, 'retry-failed': false, 'rate-submit': true });
  const pausedAt = (await s.db.campaign.findUniqueOrThrow({ where: { id: key } })).sent;
  expect(pausedAt).toBeLessThan(AUDIENCE);
  await sleep(2000);
  expect((await s.db.campaign.findUniqueOrThrow({ where: { id: key } })).sent).toBe(pausedAt);
  expect(await count('count-sent')).toBe(pausedAt);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Slow it down while paused, then resume: it continues where it stopped.
  await page.getByTestId('rate-input').fill('1');
  await page.getByTestId('rate-submit').click();
  await seeText(page.getByTestId('fact-rate'), '1 per second');
  expect((await s.db.campaign.findUniqueOrThrow({ where: { id: key } })).ratePerSecond).toBe(1);
  await page.getByTestId('resume').click();
  await status('RUNNING');
  await eventually(async () => (await count('count-sent')) > pausedAt, 15_000);

  // Cancel asks first: dismissed, nothing happens; accepted, the campaign ends.
  const cancels: string[] = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url().endsWith('/cancel')) cancels.push(req.url());
  });
  page.once('dialog', (d) => void d.dismiss());
  await page.getByTestId('cancel').click();
  await sleep(300);
  expect(cancels).toHaveLength(0);
  await status('RUNNING');
  page.once('dialog', (d) => void d.accept());
  await page.getByTestId('cancel').click();
  await status('CANCELLED');
  expect(cancels).toHaveLength(1);
  expect(await enabled()).toEqual({ pause: false, resume: false, cancel: false, 'retry-failed': false, 'rate-submit': false });

  // Final: the same counts now and two seconds later, on the page, from the API and in the database.
  const final = (await s.api('viewer').get(`/v1/campaigns/${key}`).expect(200)).body;
  expect(final.status).toBe('CANCELLED');
  expect(final.sent).toBeGreaterThan(pausedAt);
  expect(final.sent).toBeLessThan(AUDIENCE);
  expect(final.pending).toBe(AUDIENCE - final.sent - final.failed - final.skipped);
  await sleep(2000);
  expect((await s.api('viewer').get(`/v1/campaigns/${key}`).expect(200)).body).toMatchObject({ sent: final.sent, failed: final.failed, pending: final.pending });
  await seeText(page.getByTestId('count-sent'), new RegExp(`^${final.sent}$`));
  expect(await count('count-pending')).toBe(final.pending);
  expect(await s.db.delivery.count({ where: { campaignId: key, status: 'SENT' } })).toBe(final.sent);
  expect(await s.db.outboxMessage.count({ where: { idempotencyKey: { startsWith: `campaign:${key}:` } } })).toBe(final.sent);
  expect(await s.db.campaign.count()).toBe(2);
  expect(pageErrors).toEqual([]);
}, 180_000);
