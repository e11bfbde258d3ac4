// End-to-end: the whole platform behind the gateway (E2E_BASE_URL), driven through
// Debian's Chromium. Every run uses new users and uniquely named tickets.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertPlatformReachable,
  BASE_URL,
  EVENTUAL_MS,
  EXPIRATION_SECONDS,
  eventually,
  findTicketRow,
  launchBrowser,
  navLink,
  newPage,
  newUser,
  pathOf,
  peekCspViolations,
  screenshot,
  sellTicket,
  signIn,
  signUp,
  takeCspViolations,
  ticketListed,
  unique,
  waitForPath,
} from './support.mjs';

const TEST_TIMEOUT_MS = 150000;

let browser;

// Opens the ticket from the list, clicks Purchase and returns the new order's id.
async function purchase(page, title) {
  const row = await findTicketRow(page, title);
  assert.ok(row, `ticket "${title}" should be listed on /`);
  await row.getByRole('link', { name: 'View' }).click();
  await page.waitForURL((url) => url.pathname.startsWith('/tickets/'));
  await page.getByRole('button', { name: 'Purchase' }).click();
  await page.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
  return pathOf(page).split('/').pop();
}

async function orderStatusOnList(page, orderId) {
  await page.goto('/orders');
  const row = page.locator(`tr[data-order-id="${orderId}"]`);
  return (await row.count()) > 0 ? row.getAttribute('data-status') : null;
}

describe(`ticketing client at ${BASE_URL}`, () => {
  before(async () => {
    await assertPlatformReachable();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  // A test fails on any Content-Security-Policy violation in any of its pages: the
  // policy must allow everything the site does, and the site must do nothing inline.
  afterEach(() => {
    const violations = takeCspViolations();
    assert.deepEqual(violations, [], `Content-Security-Policy violations:\n${JSON.stringify(violations, null, 2)}`);
  });

  test('pages carry a per-request script nonce, and an injected inline script is refused', { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await newPage(browser);
    const nonces = [];
    for (const path of ['/', '/auth/signin']) {
      const res = await page.goto(path);
      const policy = res.headers()['content-security-policy'] || '';
      const scriptSrc = (policy.split(';').map((d) => d.trim()).find((d) => d.startsWith('script-src ')) || '').split(/\s+/);
      assert.ok(!scriptSrc.includes("'unsafe-inline'"), `${path}: script-src allows 'unsafe-inline': ${policy}`);
      const nonce = scriptSrc.find((src) => src.startsWith("'nonce-"));
      assert.ok(nonce, `${path}: no nonce in script-src: ${policy}`);
      nonces.push(nonce);
      // Next's client ran: its scripts were allowed.
      await page.waitForFunction(() => window.next && window.next.router && window.next.router.isReady);
    }
    assert.notEqual(nonces[0], nonces[1], 'two page loads got the same nonce');

    // The watch works: a script injected without the nonce neither runs nor goes unseen.
    await page.evaluate(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__injected = true';
      document.head.append(script);
    });
    await eventually(async () => peekCspViolations().length > 0, { timeoutMs: 5000, what: 'the violation report' });
    assert.equal(await page.evaluate(() => window.__injected), undefined);
    const violations = takeCspViolations();
    assert.ok(violations.some((v) => v.directive === 'script-src-elem' && v.blocked === 'inline'), JSON.stringify(violations));
  });

  test('a user sells a ticket, another buys and pays, and the ticket leaves the list', { timeout: TEST_TIMEOUT_MS }, async () => {
    const seller = await newPage(browser);
    await seller.goto('/');
    await navLink(seller, 'Sign Up').waitFor();
    await seller.goto('/auth/signup');
    await screenshot(seller, '02-signup');
    await signUp(seller, `${unique('seller')}@e2e.test`);

    const title = unique('Concert', ' ');
    await seller.goto('/tickets/new');
    await seller.getByLabel('Title').fill(title);
    await seller.getByLabel('Price').fill('25.5');
    await seller.getByLabel('Title').click(); // leaving the field formats the price
    assert.equal(await seller.getByLabel('Price').inputValue(), '25.50');
    await screenshot(seller, '04-ticket-new');
    await seller.getByRole('button', { name: 'Submit' }).click();
    await waitForPath(seller, '/');
    assert.ok(await findTicketRow(seller, title), 'the seller sees the new ticket on /');

    // The buyer signs up, signs out and signs back in, in a browser of their own.
    const buyerEmail = `${unique('buyer')}@e2e.test`;
    const buyer = await newPage(browser);
    await signUp(buyer, buyerEmail);
    await navLink(buyer, 'Sign Out').click();
    await navLink(buyer, 'Sign In').waitFor();
    assert.equal(pathOf(buyer), '/');
    await buyer.goto('/auth/signin');
    await buyer.getByLabel('Email Address').fill(buyerEmail);
    await screenshot(buyer, '03-signin');
    await signIn(buyer, buyerEmail);

    const row = await findTicketRow(buyer, title);
    assert.ok(row, 'the buyer sees the ticket on /');
    assert.match(await row.innerText(), /\$25\.50/);
    await screenshot(buyer, '01-landing');

    await row.getByRole('link', { name: 'View' }).click();
    await buyer.waitForURL((url) => url.pathname.startsWith('/tickets/'));
    assert.equal(await buyer.getByTestId('ticket-title').innerText(), title);
    assert.match(await buyer.getByTestId('ticket-price').innerText(), /\$25\.50/);
    await screenshot(buyer, '05-ticket-details');

    await buyer.getByRole('button', { name: 'Purchase' }).click();
    await buyer.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
    const orderId = pathOf(buyer).split('/').pop();
    assert.match(await buyer.getByTestId('countdown').innerText(), /Time left to pay: \d+ seconds/);
    await screenshot(buyer, '06-order');

    await buyer.getByRole('button', { name: 'Pay', exact: true }).click();
    await waitForPath(buyer, '/orders');

    // payment.created → order complete travels through events.
    await eventually(async () => (await orderStatusOnList(buyer, orderId)) === 'complete', {
      what: `order ${orderId} to be complete on /orders`,
    });
    await screenshot(buyer, '07-orders');

    await buyer.goto(`/orders/${orderId}`);
    assert.equal(await buyer.getByTestId('order').getAttribute('data-status'), 'complete');
    assert.equal(await buyer.getByRole('button', { name: 'Pay', exact: true }).count(), 0);
    assert.equal(await buyer.getByTestId('countdown').count(), 0);
    await screenshot(buyer, '12-order-complete');

    await eventually(async () => !(await ticketListed(buyer, title)), {
      what: `ticket "${title}" to leave the list`,
    });
  });

  test('an unpaid order expires and its ticket goes back on sale', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page: seller } = await newUser(browser, 'seller');
    const title = unique('Matinee', ' ');
    await sellTicket(seller, title, '12');

    const { page: buyer } = await newUser(browser, 'buyer');
    const orderId = await purchase(buyer, title);
    await buyer.getByTestId('countdown').waitFor();

    await buyer.getByTestId('order-expired').waitFor({ timeout: (EXPIRATION_SECONDS + 10) * 1000 });
    assert.equal(await buyer.getByTestId('order-expired').innerText(), 'Order Expired');
    assert.equal(await buyer.getByRole('button', { name: 'Pay', exact: true }).count(), 0);
    await screenshot(buyer, '08-order-expired');

    // The expiration job fires at expiresAt (possibly a few seconds late), then
    // expiration.complete → order.cancelled → the ticket is released.
    const releaseMs = EVENTUAL_MS + 10000;
    await eventually(() => ticketListed(seller, title), {
      timeoutMs: releaseMs,
      what: `ticket "${title}" to return to the list`,
    });
    await eventually(async () => (await orderStatusOnList(buyer, orderId)) === 'cancelled', {
      timeoutMs: releaseMs,
      what: `order ${orderId} to be cancelled`,
    });
  });

  test('validation errors are shown as messages', { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await newPage(browser);
    await page.goto('/auth/signup');
    await page.getByLabel('Email Address').fill('not-an-email');
    await page.getByLabel('Password').fill('pw');
    await page.getByRole('button', { name: 'Sign Up' }).click();
    const errors = page.getByTestId('errors');
    await errors.getByText('Email must be valid').waitFor();
    await errors.getByText('Password must be between 4 and 20 characters').waitFor();
    assert.equal(pathOf(page), '/auth/signup');
    await screenshot(page, '09-signup-error');

    await signUp(page, `${unique('seller')}@e2e.test`);
    await page.goto('/tickets/new');
    await page.getByLabel('Title').fill('   ');
    await page.getByLabel('Price').fill('0');
    await page.getByRole('button', { name: 'Submit' }).click();
    await errors.getByText('Title is required').waitFor();
    await errors.getByText('Price must be greater than 0').waitFor();
    assert.equal(pathOf(page), '/tickets/new');
    await screenshot(page, '10-ticket-new-error');
  });

  test('protected pages send a signed-out visitor to sign in, and back after', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page, email } = await newUser(browser, 'visitor');
    await navLink(page, 'Sign Out').click();
    await navLink(page, 'Sign In').waitFor();

    for (const protectedPath of ['/tickets/new', '/tickets/mine', '/orders']) {
      await page.goto(protectedPath);
      await waitForPath(page, '/auth/signin');
      assert.equal(new URL(page.url()).searchParams.get('next'), protectedPath);
    }

    await page.getByLabel('Email Address').fill(email);
    await page.getByLabel('Password').fill('secret123');
    await page.getByRole('button', { name: 'Sign In' }).click();
    await waitForPath(page, '/orders');
    await page.getByRole('heading', { name: 'My Orders' }).waitFor();
  });

  test('the owner edits a ticket; a buyer cancels an order and the ticket is released', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page: seller } = await newUser(browser, 'seller');
    const title = unique('Opera', ' ');
    await sellTicket(seller, title, '40');

    const row = await findTicketRow(seller, title);
    await row.getByRole('link', { name: 'View' }).click();
    await seller.waitForURL((url) => url.pathname.startsWith('/tickets/'));
    const ticketPath = pathOf(seller);
    assert.equal(await seller.getByRole('button', { name: 'Purchase' }).count(), 0, 'no Purchase for the owner');
    await seller.getByRole('link', { name: 'Edit' }).click();
    await waitForPath(seller, `${ticketPath}/edit`);
    const edited = `${title} (balcony)`;
    await seller.getByLabel('Title').fill(edited);
    await seller.getByLabel('Price').fill('45.25');
    await screenshot(seller, '11-ticket-edit');
    await seller.getByRole('button', { name: 'Save' }).click();
    await waitForPath(seller, ticketPath);
    await seller.getByTestId('ticket-title').getByText(edited).waitFor();
    assert.match(await seller.getByTestId('ticket-price').innerText(), /\$45\.25/);

    const { page: buyer } = await newUser(browser, 'buyer');
    const orderId = await purchase(buyer, edited);
    await buyer.getByTestId('countdown').waitFor();

    // While reserved, the owner is not offered the edit form. The order must still be
    // open afterwards to be cancelled, so this wait is bounded by half the window.
    await eventually(
      async () => {
        await seller.goto(ticketPath);
        return (await seller.getByText('This ticket is reserved.').count()) > 0;
      },
      { timeoutMs: (EXPIRATION_SECONDS * 1000) / 2, what: 'the ticket to show as reserved' },
    );
    assert.equal(await seller.getByRole('link', { name: 'Edit' }).count(), 0);

    await buyer.getByRole('button', { name: 'Cancel order' }).click();
    await buyer.locator('[data-testid="order"][data-status="cancelled"]').waitFor();
    await buyer.getByText('This order was cancelled.').waitFor();
    assert.equal(await buyer.getByRole('button', { name: 'Pay', exact: true }).count(), 0);
    await screenshot(buyer, '13-order-cancelled');
    assert.equal(await orderStatusOnList(buyer, orderId), 'cancelled');

    await eventually(() => ticketListed(seller, edited), {
      what: `ticket "${edited}" to return to the list after the cancellation`,
    });
  });
});
