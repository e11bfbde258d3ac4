// End-to-end: how the site feels to use (issue 19) — every action shows it is under way,
// a page change shows a progress cue, the navigation folds into a menu on a phone, and
// an address that leads nowhere gets a page that says so.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL,
  capturePage,
  checkAccessibility,
  navLink,
  newPage,
  newUser,
  pathOf,
  screenshot,
  signUp,
  unique,
  VIEWPORTS,
  waitForPath,
  suiteBrowser,
} from './support.mjs';

const TEST_TIMEOUT_MS = 150000;
const MIN_TARGET_PX = 44;

let browser;

// Runs act() while the page's requests that match (method and path, or a path prefix
// ending in '/') are held, then check() while they still are, and lets them go. The
// action is pending for as long as its request is held, so check() sees it so.
async function whileHeld(page, { method = 'GET', path }, act, check) {
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  const handling = [];
  const matches = (url) => (path.endsWith('/') ? url.pathname.startsWith(path) : url.pathname === path);
  const handler = (route) => {
    if (route.request().method() !== method) return route.fallback();
    const handled = held.then(() => route.continue()).catch(() => {
      // The page gave the request up meanwhile (it navigated): nothing to let go.
    });
    handling.push(handled);
    return handled;
  };
  await page.route(matches, handler);
  try {
    await act();
    await check();
  } finally {
    release();
    // Every held request goes on before the route is removed (removing it first would
    // let Playwright continue them itself).
    await Promise.all(handling);
    await page.unroute(matches, handler);
  }
}

// The busy button: disabled, aria-busy, a spinner and its pending label.
async function assertPendingButton(page, label) {
  const button = page.locator('button[aria-busy="true"]', { hasText: label });
  await button.waitFor();
  assert.equal(await button.isDisabled(), true, `"${label}" is disabled while pending`);
  assert.equal(await button.locator('.spinner-border').count(), 1, `"${label}" has a spinner`);
}

// The navigation cue: the bar along the top, and <main> busy.
async function assertNavigating(page) {
  await page.locator('[data-testid="route-progress"].active').waitFor();
  assert.equal(await page.locator('main').getAttribute('aria-busy'), 'true');
}

async function assertNavigated(page) {
  await page.locator('main[aria-busy="false"]').waitFor();
  assert.equal(await page.locator('[data-testid="route-progress"].active').count(), 0);
}

// Every element the selector finds that is shown is at least 44x44 px.
async function assertTouchTargets(page, selector) {
  const small = await page.locator(selector).evaluateAll(
    (elements, min) =>
      elements
        .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
        .map((el) => ({ el, box: el.getBoundingClientRect() }))
        .filter(({ box }) => box.width < min || box.height < min)
        .map(({ el, box }) => `${el.tagName.toLowerCase()} "${(el.textContent || el.getAttribute('aria-label') || el.id).trim()}" ${Math.round(box.width)}x${Math.round(box.height)}`),
    MIN_TARGET_PX,
  );
  assert.deepEqual(small, [], `targets under ${MIN_TARGET_PX}x${MIN_TARGET_PX} px`);
}

describe(`using the site at ${BASE_URL}`, () => {
  suiteBrowser((b) => {
    browser = b;
  });

  test('every action shows it is pending, and a page change shows a progress cue', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Sign up.
    const seller = await newPage(browser);
    await seller.goto('/auth/signup');
    await seller.getByLabel('Email Address').fill(`${unique('seller')}@e2e.test`);
    await seller.getByLabel('Password').fill('secret123');
    await whileHeld(
      seller,
      { method: 'POST', path: '/api/users/signup' },
      () => seller.getByRole('button', { name: 'Sign Up' }).click(),
      () => assertPendingButton(seller, 'Signing up…'),
    );
    await waitForPath(seller, '/');
    await navLink(seller, 'Sign Out').waitFor();

    // Sell, twice (the buyer pays for one and cancels the other).
    const [first, second] = [unique('Pending', ' '), unique('Pending', ' ')];
    await seller.goto('/tickets/new');
    await seller.getByLabel('Title').fill(first);
    await seller.getByLabel('Price').fill('20');
    await whileHeld(
      seller,
      { method: 'POST', path: '/api/tickets' },
      () => seller.getByRole('button', { name: 'Submit' }).click(),
      () => assertPendingButton(seller, 'Submitting…'),
    );
    await waitForPath(seller, '/');
    await seller.goto('/tickets/new');
    await seller.getByLabel('Title').fill(second);
    await seller.getByLabel('Price').fill('30');
    await seller.getByRole('button', { name: 'Submit' }).click();
    await waitForPath(seller, '/');

    // Search: the button is busy and the page shows it is loading the results.
    await seller.getByLabel('Search titles').fill(first);
    await whileHeld(
      seller,
      { path: '/_next/data/' },
      () => seller.getByRole('button', { name: 'Search' }).click(),
      async () => {
        await assertPendingButton(seller, 'Searching…');
        await assertNavigating(seller);
      },
    );
    await assertNavigated(seller);
    await seller.locator('[data-testid="tickets"] tbody tr').first().getByRole('link', { name: 'View' }).click();
    await seller.waitForURL((url) => url.pathname.startsWith('/tickets/'));
    const firstId = pathOf(seller).split('/').pop();

    // Edit.
    await seller.getByRole('link', { name: 'Edit' }).click();
    await waitForPath(seller, `/tickets/${firstId}/edit`);
    await seller.getByLabel('Price').fill('21');
    await whileHeld(
      seller,
      { method: 'PUT', path: `/api/tickets/${firstId}` },
      () => seller.getByRole('button', { name: 'Save' }).click(),
      () => assertPendingButton(seller, 'Saving…'),
    );
    await waitForPath(seller, `/tickets/${firstId}`);

    // Any page change by a link: the bar and <main aria-busy> until the page is there.
    await whileHeld(
      seller,
      { path: '/_next/data/' },
      () => navLink(seller, 'My Tickets').click(),
      () => assertNavigating(seller),
    );
    await waitForPath(seller, '/tickets/mine');
    await assertNavigated(seller);
    const secondId = await seller
      .locator('[data-testid="my-tickets"] tbody tr')
      .filter({ has: seller.getByRole('cell', { name: second, exact: true }) })
      .getAttribute('data-ticket-id');

    // Sign in.
    const buyer = await newPage(browser);
    const buyerEmail = `${unique('buyer')}@e2e.test`;
    await signUp(buyer, buyerEmail);
    await navLink(buyer, 'Sign Out').click();
    await navLink(buyer, 'Sign In').waitFor();
    await buyer.goto('/auth/signin');
    await buyer.getByLabel('Email Address').fill(buyerEmail);
    await buyer.getByLabel('Password').fill('secret123');
    await whileHeld(
      buyer,
      { method: 'POST', path: '/api/users/signin' },
      () => buyer.getByLabel('Password').press('Enter'),
      () => assertPendingButton(buyer, 'Signing in…'),
    );
    await waitForPath(buyer, '/');
    await navLink(buyer, 'Sign Out').waitFor();

    // Purchase, then pay.
    await buyer.goto(`/tickets/${firstId}`);
    await whileHeld(
      buyer,
      { method: 'POST', path: '/api/orders' },
      () => buyer.getByRole('button', { name: 'Purchase' }).click(),
      () => assertPendingButton(buyer, 'Reserving your ticket…'),
    );
    await buyer.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
    await whileHeld(
      buyer,
      { method: 'POST', path: '/api/payments' },
      () => buyer.getByRole('button', { name: 'Pay $21.00', exact: true }).click(),
      async () => {
        await assertPendingButton(buyer, 'Paying…');
        // The other action of the order waits meanwhile.
        assert.equal(await buyer.getByRole('button', { name: 'Cancel order' }).isDisabled(), true);
      },
    );
    await buyer.getByTestId('order-status-message').getByText(/Payment received|Paid/).waitFor();

    // Purchase, then cancel.
    await buyer.goto(`/tickets/${secondId}`);
    await buyer.getByRole('button', { name: 'Purchase' }).click();
    await buyer.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
    const orderId = pathOf(buyer).split('/').pop();
    await whileHeld(
      buyer,
      { method: 'DELETE', path: `/api/orders/${orderId}` },
      () => buyer.getByRole('button', { name: 'Cancel order' }).click(),
      async () => {
        await assertPendingButton(buyer, 'Cancelling…');
        assert.equal(await buyer.getByRole('button', { name: 'Pay $30.00', exact: true }).isDisabled(), true);
      },
    );
    await buyer.locator('[data-testid="order"][data-state="cancelled"]').waitFor();
  });

  test('on a phone the navigation folds behind a Menu button, with targets a finger hits; the desktop is unchanged', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page } = await newUser(browser, 'phone');
    await page.setViewportSize(VIEWPORTS.mobile);
    await page.goto('/');
    const toggle = page.getByRole('button', { name: 'Menu' });
    await toggle.waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await toggle.getAttribute('aria-controls'), 'main-nav');
    assert.equal(await page.locator('#main-nav').count(), 1);
    assert.equal(await navLink(page, 'My Orders').isVisible(), false, 'folded: the links are hidden');
    await assertTouchTargets(page, 'nav.navbar a, nav.navbar button, main a.btn, main button, main input, main select, main .touch-link');

    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    for (const name of ['Sell Tickets', 'My Tickets', 'My Orders', 'Sign Out']) await navLink(page, name).waitFor();
    await assertTouchTargets(page, 'nav.navbar a, nav.navbar button');
    await checkAccessibility(page, 'the open menu on a phone');
    await screenshot(page, '36-nav-menu-mobile');

    // Escape folds it and gives the focus back to the button.
    await page.keyboard.press('Escape');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'main-nav-toggle');

    // Following a link folds it too.
    await toggle.click();
    await navLink(page, 'My Orders').click();
    await waitForPath(page, '/orders');
    await page.getByRole('heading', { name: 'My Orders' }).waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await navLink(page, 'My Orders').isVisible(), false);

    // The desktop: no Menu button, every link in the bar.
    await page.setViewportSize(VIEWPORTS.desktop);
    assert.equal(await toggle.isVisible(), false);
    for (const name of ['Sell Tickets', 'My Tickets', 'My Orders', 'Sign Out']) {
      assert.equal(await navLink(page, name).isVisible(), true, name);
    }
  });

  test('an unknown address, order or ticket gets a 404 page that says so and where to go', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page } = await newUser(browser, 'lost');
    const missingId = '0123456789abcdef01234567';

    let res = await page.goto('/no-such-page');
    assert.equal(res.status(), 404);
    assert.equal(await page.title(), 'Page not found · GitTix');
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    // Signed in there as everywhere.
    await navLink(page, 'Sign Out').waitFor();
    await capturePage(page, '40-not-found');

    res = await page.goto(`/orders/${missingId}`);
    assert.equal(res.status(), 404);
    assert.equal(await page.title(), 'Order not found · GitTix');
    await page.getByRole('heading', { name: 'Order not found' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'See my orders' }).getAttribute('href'), '/orders');
    await capturePage(page, '41-order-not-found');
    assert.equal((await page.goto('/orders/not-an-id')).status(), 404);
    await page.getByRole('heading', { name: 'Order not found' }).waitFor();

    for (const path of [`/tickets/${missingId}`, `/tickets/${missingId}/edit`, '/tickets/not-an-id']) {
      res = await page.goto(path);
      assert.equal(res.status(), 404, path);
      assert.equal(await page.title(), 'Ticket not found · GitTix', path);
      await page.getByRole('heading', { name: 'Ticket not found' }).waitFor();
    }
    await capturePage(page, '42-ticket-not-found');

    // The way out works.
    await page.goto('/no-such-page');
    await page.getByRole('link', { name: 'Browse tickets for sale' }).click();
    await waitForPath(page, '/');
    await page.getByRole('heading', { name: 'Tickets' }).waitFor();
  });
});
