// End-to-end: the whole platform behind the gateway (E2E_BASE_URL), driven through
// Debian's Chromium. Every run uses new users and uniquely named tickets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE_URL,
  capturePage,
  EVENTUAL_MS,
  EXPIRATION_SECONDS,
  eventually,
  findTicketRow,
  navLink,
  newPage,
  newUser,
  pathOf,
  peekCspViolations,
  sellTicket,
  signIn,
  signUp,
  takeCspViolations,
  ticketListed,
  unique,
  waitForPath,
  suiteBrowser,
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

// The order page (already open) shows this state, as its data-state says.
const orderIn = (page, state) => page.locator(`[data-testid="order"][data-state="${state}"]`);

// Marks the document, so a later check can tell the page changed without a reload.
async function markDocument(page) {
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
}
async function sameDocument(page) {
  return page.evaluate(() => window.__sameDocument === true);
}

describe(`ticketing client at ${BASE_URL}`, () => {
  suiteBrowser((b) => {
    browser = b;
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
    await capturePage(seller, '02-signup');
    await signUp(seller, `${unique('seller')}@e2e.test`);

    const title = unique('Concert', ' ');
    await seller.goto('/tickets/new');
    await seller.getByLabel('Title').fill(title);
    await seller.getByLabel('Price').fill('25.5');
    await seller.getByLabel('Title').click(); // leaving the field formats the price
    assert.equal(await seller.getByLabel('Price').inputValue(), '25.50');
    await capturePage(seller, '04-ticket-new');
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
    await capturePage(buyer, '03-signin');
    await signIn(buyer, buyerEmail);

    const row = await findTicketRow(buyer, title);
    assert.ok(row, 'the buyer sees the ticket on /');
    assert.match(await row.innerText(), /\$25\.50/);
    await capturePage(buyer, '01-landing');

    await row.getByRole('link', { name: 'View' }).click();
    await buyer.waitForURL((url) => url.pathname.startsWith('/tickets/'));
    assert.equal(await buyer.getByTestId('ticket-title').innerText(), title);
    assert.match(await buyer.getByTestId('ticket-price').innerText(), /\$25\.50/);
    // A way back to the list.
    assert.equal(await buyer.getByTestId('back-to-list').getAttribute('href'), '/');
    await capturePage(buyer, '05-ticket-details');

    await buyer.getByRole('button', { name: 'Purchase' }).click();
    await buyer.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
    const orderId = pathOf(buyer).split('/').pop();
    assert.match(await buyer.getByTestId('countdown').innerText(), /^Time left to pay: \d{2}:\d{2}$/);
    // No Stripe key on this platform: the page says it is a test payment.
    const note = await buyer.getByTestId('test-mode').innerText();
    assert.match(note, /Test mode/);
    assert.match(note, /test card token/);

    // Paying: the page itself turns paid (it polls the order), no reload, no other page.
    await markDocument(buyer);
    await buyer.getByRole('button', { name: 'Pay $25.50', exact: true }).click();
    await orderIn(buyer, 'paid').waitFor({ timeout: EVENTUAL_MS });
    assert.equal(pathOf(buyer), `/orders/${orderId}`);
    assert.ok(await sameDocument(buyer), 'the order page reloaded');
    assert.equal(await buyer.getByTestId('order-status-message').innerText(), 'Paid. Enjoy the event!');
    assert.equal(await buyer.getByTestId('order').getAttribute('data-status'), 'complete');
    assert.equal(await buyer.getByRole('button', { name: /^Pay/ }).count(), 0);
    assert.equal(await buyer.getByTestId('countdown').count(), 0);
    await capturePage(buyer, '12-order-complete');

    // The list says the same, with the order's date.
    assert.equal(await orderStatusOnList(buyer, orderId), 'complete');
    const listed = buyer.locator(`tr[data-order-id="${orderId}"]`);
    assert.equal(await listed.getAttribute('data-state'), 'paid');
    assert.match(await listed.innerText(), /Paid/);
    assert.equal(await listed.locator('time').count(), 1, 'the created date, and no expiry for a paid order');
    await capturePage(buyer, '07-orders');

    await eventually(async () => !(await ticketListed(buyer, title)), {
      what: `ticket "${title}" to leave the list`,
    });
  });

  test('an unpaid order expires on its page, is cancelled for it, and its ticket goes back on sale', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page: seller } = await newUser(browser, 'seller');
    const title = unique('Matinee', ' ');
    await sellTicket(seller, title, '12');

    const { page: buyer } = await newUser(browser, 'buyer');
    const orderId = await purchase(buyer, title);
    await buyer.getByTestId('countdown').waitFor();
    await markDocument(buyer);

    // The list (another tab of the same browser) shows the open order with its times.
    const list = await buyer.context().newPage();
    await list.goto('/orders');
    const listed = list.locator(`tr[data-order-id="${orderId}"]`);
    const listedState = await listed.getAttribute('data-state');
    assert.ok(['open', 'expired'].includes(listedState), listedState);
    if (listedState === 'open') assert.match(await listed.getByTestId('expires').innerText(), /^Pay by /);
    assert.ok((await listed.locator('time').count()) >= 1, 'the created date');
    await list.close();

    await capturePage(buyer, '06-order');

    // At expiresAt the page says the time is up, by itself.
    await orderIn(buyer, 'expired').waitFor({ timeout: (EXPIRATION_SECONDS + 10) * 1000 });
    assert.match(await buyer.getByTestId('order-status-message').innerText(), /not paid in time/);
    assert.equal(await buyer.getByRole('button', { name: /^Pay/ }).count(), 0);
    assert.equal(await buyer.getByTestId('countdown').count(), 0);
    await capturePage(buyer, '08-order-expired');

    // The expiration job fires at expiresAt plus the grace period (possibly a few
    // seconds late), then the order is cancelled for it and the ticket released; the
    // page, still the same document, says so.
    const releaseMs = EVENTUAL_MS + 10000;
    await buyer.locator('[data-testid="order"][data-status="cancelled"]').waitFor({ timeout: releaseMs });
    assert.ok(await sameDocument(buyer), 'the order page reloaded');
    assert.equal(await buyer.getByTestId('order').getAttribute('data-cancel-reason'), 'expired');
    assert.equal(await buyer.getByTestId('order').getAttribute('data-state'), 'expired');
    assert.match(await buyer.getByTestId('order-status-message').innerText(), /^This order expired: it was not paid in time/);
    await capturePage(buyer, '14-order-expired-cancelled');

    await eventually(() => ticketListed(seller, title), {
      timeoutMs: releaseMs,
      what: `ticket "${title}" to return to the list`,
    });
    assert.equal(await orderStatusOnList(buyer, orderId), 'cancelled');
    assert.equal(await buyer.locator(`tr[data-order-id="${orderId}"]`).getAttribute('data-state'), 'expired');
  });

  test('API errors are shown under their fields, focus goes to the first, and Enter submits', { timeout: TEST_TIMEOUT_MS }, async () => {
    const page = await newPage(browser);
    const focused = () => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.getAttribute('role')));

    // An error of no field (wrong credentials): the alert, which takes the focus.
    await page.goto('/auth/signin');
    await page.getByLabel('Email Address').fill(`${unique('nobody')}@e2e.test`);
    await page.getByLabel('Password').fill('secret123');
    await page.getByLabel('Password').press('Enter');
    await page.getByTestId('errors').getByText('Invalid credentials').waitFor();
    await page.waitForFunction(() => document.activeElement && document.activeElement.getAttribute('role') === 'alert');
    assert.equal(await page.getByLabel('Email Address').getAttribute('aria-invalid'), null);

    await page.goto('/auth/signup');
    await page.getByLabel('Email Address').fill('not-an-email');
    await page.getByLabel('Password').fill('pw');
    await page.getByLabel('Password').press('Enter');
    await page.getByTestId('email-error').getByText('Email must be valid').waitFor();
    await page.getByTestId('password-error').getByText('Password must be between 4 and 20 characters').waitFor();
    for (const [label, id] of [['Email Address', 'email'], ['Password', 'password']]) {
      const input = page.getByLabel(label);
      assert.equal(await input.getAttribute('aria-invalid'), 'true', label);
      assert.equal(await input.getAttribute('aria-describedby'), `${id}-error`, label);
    }
    assert.equal(await page.getByTestId('errors').count(), 0, 'field errors are not repeated in the alert');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'email');
    assert.equal(pathOf(page), '/auth/signup');
    await capturePage(page, '09-signup-error');

    // Fixing the email leaves the password as the first invalid field.
    await page.getByLabel('Email Address').fill(`${unique('seller')}@e2e.test`);
    await page.getByLabel('Email Address').press('Enter');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'password');
    assert.equal(await page.getByLabel('Email Address').getAttribute('aria-invalid'), null);
    assert.equal(await page.getByTestId('email-error').count(), 0);
    assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
    // With a valid password, Enter signs up.
    await page.getByLabel('Password').fill('secret123');
    await page.getByLabel('Password').press('Enter');
    await waitForPath(page, '/');
    await navLink(page, 'Sign Out').waitFor();

    await page.goto('/tickets/new');
    await page.getByLabel('Title').fill('   ');
    await page.getByLabel('Price').fill('0');
    await page.getByLabel('Price').press('Enter');
    await page.getByTestId('title-error').getByText('Title is required').waitFor();
    await page.getByTestId('price-error').getByText('Price must be greater than 0').waitFor();
    assert.equal(await page.getByLabel('Price').getAttribute('aria-describedby'), 'price-error');
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'title');
    assert.equal(await focused(), 'title');
    assert.equal(pathOf(page), '/tickets/new');
    await capturePage(page, '10-ticket-new-error');
  });

  test('protected pages send a signed-out visitor to sign in, saying why, and back after; signed in, the forms step aside', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page, email } = await newUser(browser, 'visitor');
    await navLink(page, 'Sign Out').click();
    await navLink(page, 'Sign In').waitFor();

    for (const [protectedPath, reason] of [
      ['/tickets/new', 'Sign in to sell a ticket'],
      ['/tickets/mine', 'Sign in to see your tickets'],
      ['/orders/0123456789abcdef01234567', 'Sign in to see this order'],
      ['/orders', 'Sign in to see your orders'],
    ]) {
      await page.goto(protectedPath);
      await waitForPath(page, '/auth/signin');
      assert.equal(new URL(page.url()).searchParams.get('next'), protectedPath);
      assert.equal(await page.getByTestId('signin-reason').innerText(), reason);
    }
    // The sign-up link keeps the way back.
    assert.equal(await page.getByRole('link', { name: 'Sign up', exact: true }).getAttribute('href'), '/auth/signup?next=%2Forders');

    await page.getByLabel('Email Address').fill(email);
    await page.getByLabel('Password').fill('secret123');
    await page.getByRole('button', { name: 'Sign In' }).click();
    await waitForPath(page, '/orders');
    await page.getByRole('heading', { name: 'My Orders' }).waitFor();

    // Signed in, the sign-in and sign-up pages send on to where they would have led.
    await page.goto('/auth/signin');
    await waitForPath(page, '/');
    await page.goto('/auth/signup?next=%2Ftickets%2Fmine');
    await waitForPath(page, '/tickets/mine');
    await page.getByRole('heading', { name: 'My Tickets' }).waitFor();
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
    await capturePage(seller, '11-ticket-edit');
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
    await orderIn(buyer, 'cancelled').waitFor();
    assert.equal(await buyer.getByTestId('order-status-message').innerText(), 'You cancelled this order. The ticket is back on sale.');
    assert.equal(await buyer.getByTestId('order').getAttribute('data-cancel-reason'), 'buyer');
    assert.equal(await buyer.getByRole('button', { name: /^Pay/ }).count(), 0);
    await capturePage(buyer, '13-order-cancelled');
    assert.equal(await orderStatusOnList(buyer, orderId), 'cancelled');
    const listed = buyer.locator(`tr[data-order-id="${orderId}"]`);
    assert.equal(await listed.getAttribute('data-state'), 'cancelled');
    assert.match(await listed.innerText(), /Cancelled/);

    await eventually(() => ticketListed(seller, edited), {
      what: `ticket "${edited}" to return to the list after the cancellation`,
    });
  });
});
