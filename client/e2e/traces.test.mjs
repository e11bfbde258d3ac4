// One purchase in the browser, then its trace in the platform's trace viewer: every
// request of the purchase carries one W3C traceparent (as a tracing front end or a
// load tool would send), so sign-up, sale, order, payment and the events they set off
// (reservation, expiration scheduling, completion) are one trace across the five
// services. Run by scripts/e2e.sh, which passes the viewer's address (devstack.json's
// components.traces); skipped without it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  BASE_URL,
  EVENTUAL_MS,
  assertPlatformReachable,
  eventually,
  launchBrowser,
  screenshot,
  signUp,
  unique,
  waitForPath,
  watchCspViolations,
} from './support.mjs';

const TRACES_URL = process.env.E2E_TRACES_URL ? `http://${process.env.E2E_TRACES_URL.replace(/^http:\/\//, '')}` : '';
// Jaeger may still be building on a fresh machine (minutes): the viewer holds the
// spans meanwhile, and the test waits for it.
const TRACE_WAIT_MS = Number(process.env.E2E_TRACE_WAIT_MS || 15 * 60 * 1000);
const SERVICES = ['auth', 'tickets', 'orders', 'payments', 'expiration'];

describe('one purchase is one trace', { skip: TRACES_URL ? false : 'E2E_TRACES_URL is not set' }, () => {
  let browser;
  before(async () => {
    await assertPlatformReachable();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test('the trace viewer shows the purchase across the five services', { timeout: TRACE_WAIT_MS + 120000 }, async () => {
    const traceId = randomBytes(16).toString('hex');
    const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
    const traced = async () => {
      const context = await browser.newContext({
        baseURL: BASE_URL,
        viewport: { width: 1100, height: 760 },
        extraHTTPHeaders: { traceparent },
      });
      await watchCspViolations(context);
      const page = await context.newPage();
      page.setDefaultTimeout(15000);
      return page;
    };

    const seller = await traced();
    await signUp(seller, `${unique('traced-seller')}@e2e.test`);
    const title = unique('Traced', ' ');
    await seller.goto('/tickets/new');
    await seller.getByLabel('Title').fill(title);
    await seller.getByLabel('Price').fill('12');
    await seller.getByRole('button', { name: 'Submit' }).click();
    await waitForPath(seller, '/');
    let ticketId;
    await eventually(async () => {
      const res = await seller.request.get('/api/tickets');
      ticketId = (await res.json()).find((t) => t.title === title)?.id;
      return Boolean(ticketId);
    }, { what: `ticket "${title}" listed` });

    const buyer = await traced();
    await signUp(buyer, `${unique('traced-buyer')}@e2e.test`);
    await buyer.goto(`/tickets/${ticketId}`);
    await buyer.getByRole('button', { name: 'Purchase' }).click();
    await buyer.waitForURL((url) => /^\/orders\/[^/]+$/.test(url.pathname));
    const orderId = new URL(buyer.url()).pathname.split('/').pop();
    await buyer.getByRole('button', { name: /^Pay \$/ }).click();
    // The order page itself turns paid once the payment's events are handled.
    await buyer.locator('[data-testid="order"][data-state="paid"]').waitFor({ timeout: EVENTUAL_MS });
    await eventually(async () => {
      const res = await buyer.request.get(`/api/orders/${orderId}`);
      return res.ok() && (await res.json()).status === 'complete';
    }, { what: `order ${orderId} complete` });

    // The viewer: wait until Jaeger holds the trace with every service and the
    // purchase's steps in it (spans arrive in batches, a step's after its service's
    // first: the condition is all of them at once).
    const OPERATIONS = ['POST /api/payments', 'handle order.created', 'publish payment.created'];
    const viewer = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    let summary = '';
    let missing = [];
    await eventually(async () => {
      const res = await viewer.goto(`${TRACES_URL}/trace/${traceId}`);
      if (!res || !res.ok()) return false;
      const el = viewer.locator('#summary');
      if (!(await el.waitFor({ timeout: 5000 }).then(() => true, () => false))) return false;
      summary = (await el.textContent()).trim();
      const content = await viewer.content();
      missing = [...SERVICES.filter((s) => !summary.includes(s)), ...OPERATIONS.filter((op) => !content.includes(op))];
      return missing.length === 0;
    }, { timeoutMs: TRACE_WAIT_MS, what: `trace ${traceId} with ${SERVICES.join(', ')} and ${OPERATIONS.join(', ')} in the viewer at ${TRACES_URL}` });
    assert.deepEqual(missing, [], `the trace lacks ${missing.join(', ')} (summary "${summary}")`);
    await screenshot(viewer, '20-purchase-trace');
  });
});
