// Shared pieces of the end-to-end suite: the browser, users, and waits on conditions.
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.E2E_BASE_URL || 'http://localhost:8080').replace(/\/$/, '');
export const EXPIRATION_SECONDS = Number(process.env.E2E_EXPIRATION_SECONDS || 10);
export const SCREENSHOT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');

// Asynchronous steps (payment → order complete, expiration → ticket back on sale) are
// given this long before a test fails.
export const EVENTUAL_MS = 20000;
const POLL_INTERVAL_MS = 500;

const RUN_ID = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
let counter = 0;

// A name no earlier run used: `Concert mww4wr2l8388-2`, or for emails `buyer-mww4wr2l8388-3`.
export function unique(prefix, separator = '-') {
  counter += 1;
  return `${prefix}${separator}${RUN_ID}-${counter}`;
}

// Fails fast with a clear message when nothing answers at BASE_URL, instead of every
// scenario timing out on its first page.
export async function assertPlatformReachable() {
  const url = `${BASE_URL}/api/users/currentuser`;
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10000) });
  } catch (err) {
    throw new Error(`The platform is not reachable at ${BASE_URL} (${err.cause?.code || err.cause?.message || err.message}); start it (make up) or set E2E_BASE_URL`);
  }
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: is the platform behind the gateway at ${BASE_URL}?`);
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

// Every Content-Security-Policy violation in a browser context (any page or frame of
// it), as the browser reports it: the `securitypolicyviolation` event of each document,
// and the console's "Refused to …" errors. Playwright's own scripts (the init script,
// evaluate) are exempt from the policy, so they can listen where the page's own inline
// scripts could not. Returns the array the violations are pushed to.
export async function watchCspViolations(context, violations = []) {
  await context.exposeBinding('__reportCspViolation', ({ frame }, violation) => {
    violations.push({ ...violation, frame: frame ? frame.url() : undefined });
  });
  await context.addInitScript(() => {
    document.addEventListener(
      'securitypolicyviolation',
      (event) => {
        window.__reportCspViolation({
          directive: event.effectiveDirective,
          blocked: event.blockedURI,
          sample: event.sample,
          source: event.sourceFile ? `${event.sourceFile}:${event.lineNumber}` : undefined,
          page: document.location.href,
        });
      },
      true,
    );
  });
  context.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      violations.push({ console: message.text(), page: message.page() ? message.page().url() : undefined });
    }
  });
  return violations;
}

// The violations of every context newPage made since the last call; the suite fails a
// test that caused any (suiteBrowser's afterEach).
const cspViolations = [];
export function takeCspViolations() {
  return cspViolations.splice(0);
}
export function peekCspViolations() {
  return [...cspViolations];
}

// The frame of every suite that drives the site: before its tests, checks that the
// platform answers and launches the browser, handed to use; after them, closes it. After
// each test it fails the test on any Content-Security-Policy violation in any of its
// pages: the policy must allow everything the site does, and the site must do nothing
// inline.
export function suiteBrowser(use) {
  let browser;
  before(async () => {
    await assertPlatformReachable();
    browser = await launchBrowser();
    use(browser);
  });
  after(async () => {
    await browser?.close();
  });
  afterEach(() => {
    const violations = takeCspViolations();
    assert.deepEqual(violations, [], `Content-Security-Policy violations:\n${JSON.stringify(violations, null, 2)}`);
  });
}

// A fresh browser profile (its own cookies) with one page.
export async function newPage(browser) {
  // Reduced motion: no CSS transitions (Bootstrap drops them), so colours are settled
  // whenever the accessibility check measures them.
  const context = await browser.newContext({ baseURL: BASE_URL, viewport: { width: 1100, height: 760 }, reducedMotion: 'reduce' });
  await watchCspViolations(context, cspViolations);
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.setDefaultNavigationTimeout(20000);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

// The two sizes every page is shown at: a laptop and a phone.
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  mobile: { width: 390, height: 844 },
};

// axe-core's browser build. Playwright's evaluate runs it in the page despite the
// Content-Security-Policy (the page's own inline scripts could not), so the check needs
// no change to the site's policy.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const BLOCKING_IMPACTS = new Set(['serious', 'critical']);

// Runs axe-core on the page as it is and fails on any violation of impact serious or
// critical, listing each rule with the elements it found.
export async function checkAccessibility(page, label) {
  // What axe measures must not depend on where the last click left the mouse: it goes to
  // the window's top right corner, over nothing but the nav bar's padding (no hover).
  const viewport = page.viewportSize();
  if (viewport) await page.mouse.move(viewport.width - 1, 0);
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SOURCE);
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const blocking = violations
    .filter((v) => BLOCKING_IMPACTS.has(v.impact))
    .map((v) => ({ rule: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  assert.deepEqual(blocking, [], `${label} (${page.url()}): accessibility violations:\n${JSON.stringify(blocking, null, 2)}`);
}

// The page at both sizes, a laptop's and a phone's: at each, the accessibility check
// (checkAccessibility), no sideways scrolling of the page (a wide table scrolls within
// itself), and a screenshot (`<name>-desktop.png`, `<name>-mobile.png`). The page keeps
// its own size afterwards.
export async function capturePage(page, name) {
  const before = page.viewportSize();
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    await checkAccessibility(page, `${name} at ${size}`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= viewport.width, `${name} at ${size}: the page is ${width} px wide in a ${viewport.width} px window`);
    await screenshot(page, `${name}-${size}`);
  }
  if (before) await page.setViewportSize(before);
}

export function pathOf(page) {
  return new URL(page.url()).pathname;
}

export async function waitForPath(page, pathname) {
  await page.waitForURL((url) => url.pathname === pathname);
}

export const navLink = (page, name) => page.locator('nav.navbar').getByRole('link', { name, exact: true });

export async function signUp(page, email, password = 'secret123') {
  await page.goto('/auth/signup');
  await page.getByLabel('Email Address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign Up' }).click();
  await waitForPath(page, '/');
  await navLink(page, 'Sign Out').waitFor();
}

export async function signIn(page, email, password = 'secret123') {
  await page.goto('/auth/signin');
  await page.getByLabel('Email Address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await waitForPath(page, '/');
  await navLink(page, 'Sign Out').waitFor();
}

export async function newUser(browser, label) {
  const page = await newPage(browser);
  const email = `${unique(label)}@e2e.test`;
  await signUp(page, email);
  return { page, email };
}

export async function sellTicket(page, title, price) {
  await page.goto('/tickets/new');
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('Price').fill(String(price));
  await page.getByRole('button', { name: 'Submit' }).click();
  await waitForPath(page, '/');
}

// The landing page lists unreserved tickets newest first, in pages; a ticket from this
// run may be past the first page once later ones were listed.
export async function findTicketRow(page, title) {
  await page.goto('/');
  for (;;) {
    const row = page
      .locator('[data-testid="tickets"] tbody tr')
      .filter({ has: page.getByRole('cell', { name: title, exact: true }) });
    if ((await row.count()) > 0) return row.first();
    const next = page.getByTestId('next-page');
    if ((await next.count()) === 0) return null;
    await Promise.all([page.waitForURL((url) => url.href !== page.url()), next.click()]);
  }
}

// Repeats check() (which loads whatever page it needs) until it returns true; fails
// after timeoutMs. Used where the platform changes state asynchronously through events.
export async function eventually(check, { timeoutMs = EVENTUAL_MS, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    // A short pause between polls so a busy platform is not hammered.
    await delay(POLL_INTERVAL_MS);
  }
}

export async function ticketListed(page, title) {
  return (await findTicketRow(page, title)) !== null;
}
