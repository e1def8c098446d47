// Headless Chromium for the end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core,
// against a stack's express app listening on a local port.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { eventually, type Stack } from './stack';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
/** Where seeText puts its screenshot when a test names no other place. */
export const FAILURE_SCREENSHOT = '/tmp/console-failure.png';

/** Never skipped: without the browser a suite fails and says what to do. Call it before starting the stack. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium); .ci/run must install it too`);
  }
}

export interface OpenBrowser {
  /** http://127.0.0.1:<port> of the listening app. */
  base: string;
  context: BrowserContext;
  /** The context's first tab, watched for errors. */
  page: Page;
  /** Uncaught errors and console errors of `page` (the browser's "Failed to load resource" lines for 4xx answers are left out). */
  pageErrors: string[];
  /** Close the browser, remove its profile and stop listening; the stack is the caller's to stop. */
  close(): Promise<void>;
}

/** Listen with `stack.app` on 127.0.0.1 and open Chromium with a fresh profile on it. */
export async function openBrowser(stack: Stack): Promise<OpenBrowser> {
  requireChromium();
  let server: Server | undefined;
  let context: BrowserContext | undefined;
  let userDataDir: string | undefined;
  const close = async (): Promise<void> => {
    await context?.close().catch(() => undefined);
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    }
  };
  try {
    const listening = stack.app.listen(0, '127.0.0.1');
    server = listening;
    await new Promise<void>((resolve, reject) => {
      listening.once('listening', resolve);
      listening.once('error', reject);
    });
    const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'keel-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1360, height: 900 },
      timezoneId: 'UTC',
      locale: 'en-GB',
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      // The browser logs every 4xx answer and aborted request ("Failed to load resource"); tests make some on purpose.
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text());
    });
    return { base, context, page, pageErrors, close };
  } catch (err) {
    await close(); // what was opened before the failure; the caller has nothing to close
    throw err;
  }
}

/**
 * Wait until the locator's text contains `text` (the page refreshes itself; we never reload to see it).
 * On failure, say what the page showed instead: its error boxes, and a screenshot at `screenshotPath`.
 */
export async function seeText(locator: Locator, text: string | RegExp, timeout = 15_000, screenshotPath = FAILURE_SCREENSHOT): Promise<void> {
  try {
    await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout });
  } catch (err) {
    const page = locator.page();
    const errors = await page.locator('.form-error:visible, .banner.error:visible').allTextContents().catch(() => []);
    await page.screenshot({ path: screenshotPath, fullPage: true }).catch(() => undefined);
    throw new Error(`${(err as Error).message}\npage errors shown: ${JSON.stringify(errors)}\nscreenshot: ${screenshotPath}`, { cause: err });
  }
}

/**
 * Load `url` until `locator` is visible: for a page that does not refresh itself and may lag a write
 * (the status page is rendered once per change, found by a version poll each second).
 */
export async function loadUntilVisible(page: Page, url: string, locator: Locator, timeout = 15_000, screenshotPath = FAILURE_SCREENSHOT): Promise<void> {
  try {
    await eventually(async () => {
      await page.goto(url);
      return locator.first().isVisible();
    }, timeout, 250);
  } catch (err) {
    await page.screenshot({ path: screenshotPath, fullPage: true }).catch(() => undefined);
    throw new Error(`${url} did not show ${String(locator)}: ${(err as Error).message}\nscreenshot: ${screenshotPath}`, { cause: err });
  }
}
