// End-to-end: the marketplace views of issue 19 — the home list newest first with search,
// sort and paging; a seller's own tickets with their state; a title for every page.
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
  sellTicket,
  unique,
  waitForPath,
  suiteBrowser,
} from './support.mjs';

const TEST_TIMEOUT_MS = 150000;

let browser;

// Waits until the rows' titles (the cells, or the parts of them, the selector finds) are
// exactly these, in this order.
async function waitForRows(page, selector, titles) {
  await page.waitForFunction(
    ({ selector, expected }) => [...document.querySelectorAll(selector)].map((el) => el.textContent).join('\n') === expected,
    { selector, expected: titles.join('\n') },
  );
}
const ROW_TITLES = '[data-testid="tickets"] tbody tr td:first-child';
const MY_TICKET_TITLES = '[data-testid="my-tickets"] tbody tr td:first-child';
const ORDER_TITLES = '[data-testid="orders"] tbody tr [data-testid="order-title"]';

// Waits until the home list shows exactly these titles, in this order.
const waitForTitles = (page, titles) => waitForRows(page, ROW_TITLES, titles);

async function waitForQuery(page, name, value) {
  await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get(name) === value);
}

// Clicks a paging link and waits for the page it leads to.
async function follow(page, testId) {
  const from = page.url();
  await page.getByTestId(testId).click();
  await page.waitForURL((url) => url.href !== from);
}

async function stateOnMine(page, ticketId) {
  await page.goto('/tickets/mine');
  const row = page.locator(`[data-testid="my-tickets"] tr[data-ticket-id="${ticketId}"]`);
  return (await row.count()) > 0 ? row.getAttribute('data-state') : null;
}

async function ticketIdOnMine(page, title) {
  await page.goto('/tickets/mine');
  const row = page.locator('[data-testid="my-tickets"] tbody tr').filter({ has: page.getByRole('cell', { name: title, exact: true }) });
  assert.equal(await row.count(), 1, `"${title}" on /tickets/mine`);
  return row.getAttribute('data-ticket-id');
}

// The buyer opens the ticket, clicks Purchase and lands on the new order.
async function purchase(page, ticketId) {
  await page.goto(`/tickets/${ticketId}`);
  await page.getByRole('button', { name: 'Purchase' }).click();
  await page.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
  await page.getByTestId('countdown').waitFor();
  return pathOf(page).split('/').pop();
}

async function currentNavLinks(page) {
  return page.locator('nav.navbar [aria-current="page"]').allInnerTexts();
}

describe(`marketplace views at ${BASE_URL}`, () => {
  suiteBrowser((b) => {
    browser = b;
  });

  test('the list is newest first, so a new ticket is on page 1; search and sort work with paging', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page } = await newUser(browser, 'seller');
    const tag = unique('Gig');
    const [alpha, beta, gamma] = ['alpha', 'beta', 'gamma'].map((word) => `${tag} ${word}`);
    await sellTicket(page, alpha, '10');
    await sellTicket(page, beta, '20');
    await sellTicket(page, gamma, '30');

    // After "Sell" the seller is on page 1, and the newest ticket is there, first.
    assert.equal(pathOf(page), '/');
    const firstRow = page.locator('[data-testid="tickets"] tbody tr').first();
    assert.equal(await firstRow.locator('td').first().innerText(), gamma);
    assert.equal(await page.getByLabel('Sort').inputValue(), 'newest');
    assert.equal(await page.title(), 'Tickets · GitTix');

    // Search (a title substring, any case).
    await page.getByLabel('Search titles').fill(tag.toUpperCase());
    await page.getByRole('button', { name: 'Search' }).click();
    await waitForQuery(page, 'q', tag.toUpperCase());
    await waitForTitles(page, [gamma, beta, alpha]);
    await capturePage(page, '30-home-search');

    // Sort: oldest first keeps the search.
    await page.getByLabel('Sort').selectOption('oldest');
    await waitForQuery(page, 'sort', 'oldest');
    await waitForTitles(page, [alpha, beta, gamma]);
    assert.equal(await page.getByLabel('Search titles').inputValue(), tag.toUpperCase());
    assert.equal(new URL(page.url()).searchParams.get('q'), tag.toUpperCase());

    // Paging (one a page) keeps the search and the sort: Next, Previous, and First goes
    // back to page 1.
    await page.goto(`/?q=${encodeURIComponent(tag)}&sort=oldest&limit=1`);
    await waitForTitles(page, [alpha]);
    assert.equal(await page.getByTestId('first-page').count(), 0);
    assert.equal(await page.getByTestId('prev-page').count(), 0);
    await follow(page, 'next-page');
    await waitForTitles(page, [beta]);
    let params = new URL(page.url()).searchParams;
    assert.equal(params.get('q'), tag);
    assert.equal(params.get('sort'), 'oldest');
    await capturePage(page, '31-home-page-2');
    await follow(page, 'next-page');
    await waitForTitles(page, [gamma]);
    await follow(page, 'prev-page');
    await waitForTitles(page, [beta]);
    params = new URL(page.url()).searchParams;
    assert.equal(params.get('q'), tag);
    assert.equal(params.get('sort'), 'oldest');
    await follow(page, 'prev-page');
    await waitForTitles(page, [alpha]);
    assert.equal(await page.getByTestId('prev-page').count(), 0, 'no Previous on the first page');
    assert.equal(await page.getByTestId('first-page').count(), 0, 'no First on the first page');
    await follow(page, 'next-page');
    await waitForTitles(page, [beta]);
    await follow(page, 'first-page');
    params = new URL(page.url()).searchParams;
    assert.equal(params.get('q'), tag);
    assert.equal(params.get('sort'), 'oldest');
    assert.equal(params.get('cursor'), null);
    await waitForTitles(page, [alpha, beta, gamma]);

    // Newest first again, from the select, on the first page.
    await page.getByLabel('Sort').selectOption('newest');
    await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('sort') === null);
    await waitForTitles(page, [gamma, beta, alpha]);

    // Nothing matches.
    await page.getByLabel('Search titles').fill(unique('nothing-like-this'));
    await page.getByLabel('Search titles').press('Enter');
    await page.getByTestId('no-tickets').getByText('No tickets for sale match').waitFor();
    await capturePage(page, '32-home-no-match');
  });

  test("a seller's own tickets with their state; signed-out visitors sign in first", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page: seller, email } = await newUser(browser, 'seller');
    const tag = unique('Show');
    const [onSale, toSell, toReserve] = ['stalls', 'circle', 'box'].map((word) => `${tag} ${word}`);
    await sellTicket(seller, onSale, '15');
    await sellTicket(seller, toSell, '22.5');
    await sellTicket(seller, toReserve, '99');

    await navLink(seller, 'My Tickets').click();
    await waitForPath(seller, '/tickets/mine');
    await seller.getByRole('heading', { name: 'My Tickets' }).waitFor();
    assert.deepEqual(await currentNavLinks(seller), ['My Tickets']);
    assert.equal(await seller.title(), 'My Tickets · GitTix');
    const ids = {};
    for (const title of [onSale, toSell, toReserve]) ids[title] = await ticketIdOnMine(seller, title);
    // Newest first, each for sale with its price.
    const titles = await seller.locator('[data-testid="my-tickets"] tbody tr td:first-child').allInnerTexts();
    assert.deepEqual(titles.slice(0, 3), [toReserve, toSell, onSale]);
    const saleRow = seller.locator(`tr[data-ticket-id="${ids[onSale]}"]`);
    assert.match(await saleRow.innerText(), /For sale/);
    assert.match(await saleRow.innerText(), /\$15\.00/);

    // A buyer buys and pays for one: sold.
    const { page: buyer } = await newUser(browser, 'buyer');
    await purchase(buyer, ids[toSell]);
    await buyer.getByRole('button', { name: 'Pay $22.50', exact: true }).click();
    await buyer.locator('[data-testid="order"][data-state="paid"]').waitFor({ timeout: EVENTUAL_MS });
    await eventually(async () => (await stateOnMine(seller, ids[toSell])) === 'sold', {
      what: `ticket "${toSell}" to show as sold on /tickets/mine`,
    });

    // ... and orders another without paying: reserved while the order is open (the
    // window is short, so this wait is bounded by half of it).
    await purchase(buyer, ids[toReserve]);
    await eventually(async () => (await stateOnMine(seller, ids[toReserve])) === 'reserved', {
      timeoutMs: (EXPIRATION_SECONDS * 1000) / 2,
      what: `ticket "${toReserve}" to show as reserved`,
    });
    const row = (title) => seller.locator(`tr[data-ticket-id="${ids[title]}"]`);
    assert.match(await row(toReserve).innerText(), /Reserved/);
    assert.match(await row(toReserve).innerText(), /\$99\.00/);
    assert.match(await row(toSell).innerText(), /Sold/);
    assert.match(await row(toSell).innerText(), /\$22\.50/);
    assert.match(await row(onSale).innerText(), /For sale/);

    // The buyer cancels at once, within the order's short window (the screenshot and
    // accessibility checks of the seller's page, which stays as it was loaded, take
    // seconds on a busy machine and come after): for sale again.
    await buyer.getByRole('button', { name: 'Cancel order' }).click();
    await buyer.locator('[data-testid="order"][data-status="cancelled"]').waitFor();
    await capturePage(seller, '33-my-tickets');
    await eventually(async () => (await stateOnMine(seller, ids[toReserve])) === 'for-sale', {
      what: `ticket "${toReserve}" to be for sale again`,
    });
    // The public list never shows the sold one.
    assert.equal(await findTicketRow(seller, toSell), null);

    // Both lists page with Previous and Next: the seller's three tickets and the buyer's
    // two orders, one a page, newest first.
    await seller.goto('/tickets/mine?limit=1');
    await waitForRows(seller, MY_TICKET_TITLES, [toReserve]);
    await follow(seller, 'next-page');
    await waitForRows(seller, MY_TICKET_TITLES, [toSell]);
    await follow(seller, 'next-page');
    await waitForRows(seller, MY_TICKET_TITLES, [onSale]);
    await follow(seller, 'prev-page');
    await waitForRows(seller, MY_TICKET_TITLES, [toSell]);
    assert.equal(new URL(seller.url()).searchParams.get('mine'), null, 'the page adds mine=true by itself');
    await follow(seller, 'first-page');
    await waitForPath(seller, '/tickets/mine');

    await buyer.goto('/orders?limit=1');
    await waitForRows(buyer, ORDER_TITLES, [toReserve]);
    assert.equal(await buyer.getByTestId('prev-page').count(), 0);
    await follow(buyer, 'next-page');
    await waitForRows(buyer, ORDER_TITLES, [toSell]);
    await capturePage(buyer, '35-orders-page-2');
    await follow(buyer, 'prev-page');
    await waitForRows(buyer, ORDER_TITLES, [toReserve]);
    assert.equal(await buyer.getByTestId('first-page').count(), 0, 'no First on the first page');

    // Signed out: the page asks to sign in, then comes back.
    await navLink(seller, 'Sign Out').click();
    await navLink(seller, 'Sign In').waitFor();
    assert.equal(await navLink(seller, 'My Tickets').count(), 0);
    await seller.goto('/tickets/mine');
    await waitForPath(seller, '/auth/signin');
    assert.equal(new URL(seller.url()).searchParams.get('next'), '/tickets/mine');
    await seller.getByLabel('Email Address').fill(email);
    await seller.getByLabel('Password').fill('secret123');
    await seller.getByRole('button', { name: 'Sign In' }).click();
    await waitForPath(seller, '/tickets/mine');
    await seller.getByRole('heading', { name: 'My Tickets' }).waitFor();
  });

  test('every page has a title of its own, and the nav marks the current page', { timeout: TEST_TIMEOUT_MS }, async () => {
    const visitor = await newPage(browser);
    const titles = new Map();
    async function titleOf(page, path) {
      await page.goto(path);
      await page.waitForFunction(() => window.next && window.next.router && window.next.router.isReady);
      const title = await page.title();
      titles.set(path, title);
      return title;
    }

    assert.equal(await titleOf(visitor, '/auth/signup'), 'Sign Up · GitTix');
    assert.deepEqual(await currentNavLinks(visitor), ['Sign Up']);
    assert.equal(await titleOf(visitor, '/auth/signin'), 'Sign In · GitTix');
    assert.deepEqual(await currentNavLinks(visitor), ['Sign In']);
    assert.equal(await titleOf(visitor, '/no-such-page'), 'Page not found · GitTix');

    const { page: seller } = await newUser(browser, 'seller');
    const ticketTitle = unique('Recital', ' ');
    await sellTicket(seller, ticketTitle, '8');
    const ticketId = await ticketIdOnMine(seller, ticketTitle);
    assert.equal(await titleOf(seller, '/'), 'Tickets · GitTix');
    assert.deepEqual(await currentNavLinks(seller), ['GitTix']);
    assert.equal(await titleOf(seller, '/tickets/new'), 'Sell a Ticket · GitTix');
    assert.deepEqual(await currentNavLinks(seller), ['Sell Tickets']);
    assert.equal(await titleOf(seller, '/tickets/mine'), 'My Tickets · GitTix');
    assert.equal(await titleOf(seller, `/tickets/${ticketId}`), `${ticketTitle} · Ticket · GitTix`);
    assert.deepEqual(await currentNavLinks(seller), []);
    assert.equal(await titleOf(seller, `/tickets/${ticketId}/edit`), `Edit ${ticketTitle} · GitTix`);

    const { page: buyer } = await newUser(browser, 'buyer');
    const orderId = await purchase(buyer, ticketId);
    titles.set(`/orders/${orderId}`, await buyer.title());
    assert.equal(titles.get(`/orders/${orderId}`), `Order for ${ticketTitle} · GitTix`);
    assert.equal(await titleOf(buyer, '/orders'), 'My Orders · GitTix');
    assert.deepEqual(await currentNavLinks(buyer), ['My Orders']);

    // A client-side navigation changes the title too.
    await navLink(buyer, 'Sell Tickets').click();
    await waitForPath(buyer, '/tickets/new');
    await buyer.waitForFunction(() => document.title === 'Sell a Ticket · GitTix');
    assert.deepEqual(await currentNavLinks(buyer), ['Sell Tickets']);
    await capturePage(buyer, '34-nav-current');

    const all = [...titles.values()];
    assert.equal(new Set(all).size, all.length, `titles repeat: ${JSON.stringify([...titles])}`);
    for (const title of all) assert.match(title, / · GitTix$/);
  });
});
