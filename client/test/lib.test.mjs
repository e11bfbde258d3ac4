// Unit tests of the pages' helpers: paging links, order states and their words, the
// sign-in page's reasons, Stripe.js's deadline. No platform, no browser.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pageLinks } from '../lib/api.js';
import { afterSigninPath, formatDateTime, signinReason } from '../lib/format.js';
import { listQuery, pagerProps } from '../lib/listing.js';
import { formatCountdown, isFinal, orderState, orderStateMessage } from '../lib/orders.js';
import { stripeWithin } from '../lib/stripe.js';

describe('pageLinks', () => {
  test('reads prev and next, in any order, either absent', () => {
    assert.deepEqual(pageLinks('</api/tickets?limit=2&cursor=a>; rel="prev", </api/tickets?limit=2&cursor=b>; rel="next"'), {
      prev: '/api/tickets?limit=2&cursor=a',
      next: '/api/tickets?limit=2&cursor=b',
    });
    assert.deepEqual(pageLinks('</x?cursor=b>; rel=next'), { next: '/x?cursor=b' });
    assert.deepEqual(pageLinks('</x?before=a>; rel="prev"'), { prev: '/x?before=a' });
    assert.deepEqual(pageLinks(''), {});
    assert.deepEqual(pageLinks(undefined), {});
  });
});

describe('listQuery and pagerProps', () => {
  test('the page asks newest first and passes the API its own parameters', () => {
    const q = listQuery({ q: ' Gig ', sort: 'bogus', limit: '1', cursor: 'abc', before: 'x', utm: 'y', arr: ['a', 'b'] });
    const params = new URL(q.apiPath, 'http://x').searchParams;
    assert.equal(new URL(q.apiPath, 'http://x').pathname, '/api/tickets');
    assert.equal(params.get('sort'), 'newest');
    assert.equal(params.get('q'), 'Gig');
    assert.equal(params.get('limit'), '1');
    assert.equal(params.get('cursor'), 'abc');
    assert.equal(params.get('before'), 'x');
    assert.equal(params.get('arr'), null, 'a repeated parameter is not passed on');
    assert.equal(q.positioned, true);
  });

  test('fixed parameters cannot be overridden, defaults can', () => {
    const q = listQuery({ mine: 'false', limit: '5' }, { fixed: { mine: 'true' }, defaults: { limit: '20' } });
    const params = new URL(q.apiPath, 'http://x').searchParams;
    assert.equal(params.get('mine'), 'true');
    assert.equal(params.get('limit'), '5');
    const orders = listQuery({ q: 'ignored' }, { api: '/api/orders', defaults: { limit: '20' }, search: false });
    assert.equal(orders.apiPath, '/api/orders?sort=newest&limit=20');
    assert.equal(orders.positioned, false);
  });

  test('the API links become the page links, without what the page adds itself', () => {
    const query = listQuery({ limit: '1', cursor: 'b', sort: 'oldest' }, { fixed: { mine: 'true' } });
    const headers = {
      link: '</api/tickets?limit=1&mine=true&sort=oldest&cursor=YWJj>; rel="prev", </api/tickets?limit=1&mine=true&sort=oldest&cursor=c>; rel="next"',
    };
    assert.deepEqual(pagerProps('/tickets/mine', query, headers, { drop: ['mine'] }), {
      firstPage: '/tickets/mine?sort=oldest',
      prevPage: '/tickets/mine?limit=1&sort=oldest&cursor=YWJj',
      nextPage: '/tickets/mine?limit=1&sort=oldest&cursor=c',
      isFirstPage: false,
    });
  });

  test('the first page is the one with no page before it', () => {
    const next = { link: '</api/tickets?limit=1&cursor=c>; rel="next"' };
    const first = pagerProps('/', listQuery({ limit: '1' }), next);
    assert.equal(first.isFirstPage, true);
    assert.equal(first.prevPage, null);
    // Reached by Previous: a (backward) cursor, and still the first page.
    assert.equal(pagerProps('/', listQuery({ limit: '1', cursor: 'YmFi' }), next).isFirstPage, true);
    // An empty page a cursor led to still offers First.
    assert.equal(pagerProps('/', listQuery({ limit: '1', cursor: 'c' }), {}, { empty: true }).isFirstPage, false);
    assert.equal(pagerProps('/', listQuery({}), {}, { empty: true }).isFirstPage, true);
  });
});

describe('order states', () => {
  const now = Date.parse('2030-01-01T12:00:00.000Z');
  const order = (fields) => ({ id: 'o', version: 0, expiresAt: '2030-01-01T12:00:10.000Z', ticket: { title: 't', price: 1 }, ...fields });

  test('open until expiresAt, then expired until the platform cancels it', () => {
    assert.equal(orderState(order({ status: 'created' }), now), 'open');
    assert.equal(orderState(order({ status: 'awaiting:payment' }), now + 9999), 'open');
    assert.equal(orderState(order({ status: 'created' }), now + 10000), 'expired');
    assert.match(orderStateMessage(order({ status: 'created' }), now + 10000), /not paid in time/);
  });

  test('final states have words of their own', () => {
    const cases = [
      [{ status: 'complete' }, 'paid', /^Paid\. Enjoy the event!$/],
      [{ status: 'cancelled', cancelReason: 'buyer' }, 'cancelled', /^You cancelled this order/],
      [{ status: 'cancelled', cancelReason: 'expired' }, 'expired', /^This order expired: it was not paid in time/],
      // An order cancelled before the API said why.
      [{ status: 'cancelled' }, 'cancelled', /^This order was cancelled\.$/],
    ];
    const messages = new Set();
    for (const [fields, state, message] of cases) {
      const o = order(fields);
      assert.equal(orderState(o, now), state, JSON.stringify(fields));
      assert.match(orderStateMessage(o, now), message);
      assert.ok(isFinal(o));
      messages.add(orderStateMessage(o, now));
    }
    assert.equal(messages.size, cases.length);
    assert.equal(orderStateMessage(order({ status: 'created' }), now), '');
  });

  test('the countdown is mm:ss, rounded up to the second', () => {
    assert.equal(formatCountdown(15 * 60 * 1000), '15:00');
    assert.equal(formatCountdown(15 * 60 * 1000 - 1), '15:00');
    assert.equal(formatCountdown(14 * 60 * 1000 + 59 * 1000), '14:59');
    assert.equal(formatCountdown(9000), '00:09');
    assert.equal(formatCountdown(1), '00:01');
    assert.equal(formatCountdown(0), '00:00');
    assert.equal(formatCountdown(-5), '00:00');
    assert.equal(formatCountdown(75 * 60 * 1000), '75:00');
  });

  test('dates say UTC on the server, nothing for a missing one', () => {
    assert.equal(formatDateTime('2030-01-01T12:00:00.000Z', 'UTC'), 'Jan 1, 2030, 12:00 PM UTC');
    assert.equal(formatDateTime(undefined, 'UTC'), '');
    assert.equal(formatDateTime('not a date', 'UTC'), '');
  });
});

describe('sign-in reasons', () => {
  test('each protected page says why, others a general word, home nothing', () => {
    const cases = [
      ['/orders', 'Sign in to see your orders'],
      ['/orders?limit=20', 'Sign in to see your orders'],
      ['/orders/abc', 'Sign in to see this order'],
      ['/tickets/new', 'Sign in to sell a ticket'],
      ['/tickets/mine', 'Sign in to see your tickets'],
      ['/tickets/abc/edit', 'Sign in to edit your ticket'],
      ['/tickets/abc', 'Sign in to buy this ticket'],
      ['/somewhere', 'Please sign in to continue'],
      ['/', null],
      [undefined, null],
      ['https://evil.example/orders', null],
    ];
    for (const [next, want] of cases) assert.equal(signinReason(next), want, String(next));
  });

  test('a signed-in visitor goes on to next, never to another site or back to /auth', () => {
    assert.equal(afterSigninPath('/orders'), '/orders');
    assert.equal(afterSigninPath('/auth/signin'), '/');
    assert.equal(afterSigninPath('//evil.example'), '/');
    assert.equal(afterSigninPath(undefined), '/');
  });
});

describe('stripeWithin', () => {
  test('resolves to the Stripe object', async () => {
    const stripe = {};
    assert.equal(await stripeWithin(Promise.resolve(stripe), 1000), stripe);
  });
  test('rejects when loading fails, resolves to null, or takes too long', async () => {
    await assert.rejects(stripeWithin(Promise.reject(new Error('Failed to load Stripe.js')), 1000), /Failed to load/);
    await assert.rejects(stripeWithin(Promise.resolve(null), 1000), /not available/);
    await assert.rejects(stripeWithin(new Promise(() => {}), 20), /did not load within 20 ms/);
  });
});
