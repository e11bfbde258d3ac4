// The security headers: next.config.mjs gives every response the headers and a
// Content-Security-Policy without a nonce (what Next's static files keep), and
// proxy.js gives every page a policy with a fresh nonce, which pages/_document.js puts
// on the page's scripts. The policy allows what the site loads (itself, Stripe) and
// nothing else; no inline script runs without the nonce.
//
// The first tests read the configuration; the others run the production build
// (test/site.mjs: built into test/.next when a source changed, served by `next start`
// in front of a fake API), and the last ones load its pages in Chromium when
// /usr/bin/chromium (CHROMIUM_PATH) is there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import nextConfig from '../next.config.mjs';
import { contentSecurityPolicy, isValidNonce, newNonce } from '../lib/csp.js';
import { buildSite, FAKE, startFakeApi, startSite } from './site.mjs';
import { checkAccessibility, launchBrowser, watchCspViolations } from '../e2e/support.mjs';

// The headers of the rule for every path (`/:path*` matches every page and
// Next's own files), by lower-case name.
async function siteHeaders() {
  const rules = await nextConfig.headers();
  const all = rules.filter((r) => r.source === '/:path*');
  assert.equal(all.length, 1, 'want one rule for /:path*');
  return Object.fromEntries(all[0].headers.map((h) => [h.key.toLowerCase(), h.value]));
}

// The policy as { directive: [sources] }.
function parsePolicy(value) {
  const policy = {};
  for (const part of value.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) {
      assert.equal(policy[name], undefined, `directive ${name} given twice`);
      policy[name] = sources;
    }
  }
  return policy;
}

// The nonces of a policy's script-src.
function scriptNonces(policy) {
  return policy['script-src'].filter((src) => src.startsWith("'nonce-")).map((src) => src.slice(7, -1));
}

// The policy without its nonce sources, to compare with the configuration's.
function withoutNonces(policy) {
  return { ...policy, 'script-src': policy['script-src'].filter((src) => !src.startsWith("'nonce-")) };
}

function checkPolicy(csp) {
  const cases = [
    ['default-src', ["'self'"]],
    ['frame-ancestors', ["'none'"]],
    ['object-src', ["'none'"]],
    ['base-uri', ["'self'"]],
    ['form-action', ["'self'"]],
  ];
  for (const [directive, want] of cases) assert.deepEqual(csp[directive], want, directive);

  // Its own scripts and Stripe.js; no inline script without a nonce.
  for (const src of ["'self'", 'https://js.stripe.com', 'https://*.js.stripe.com']) {
    assert.ok(csp['script-src'].includes(src), `script-src lacks ${src}`);
  }
  for (const src of ["'unsafe-inline'", "'unsafe-hashes'", "'strict-dynamic'"]) {
    assert.ok(!csp['script-src'].includes(src), `script-src allows ${src}`);
  }
  assert.equal(csp['script-src-elem'], undefined, 'script-src-elem would override script-src');
  assert.equal(csp['script-src-attr'], undefined, 'script-src-attr would override script-src');
  // Stripe's card iframes and token call; the API is same-origin.
  for (const src of ['https://js.stripe.com', 'https://*.js.stripe.com', 'https://hooks.stripe.com']) {
    assert.ok(csp['frame-src'].includes(src), `frame-src lacks ${src}`);
  }
  assert.deepEqual(csp['connect-src'], ["'self'", 'https://api.stripe.com']);
  // Bootstrap's form controls are data: SVGs.
  assert.ok(csp['img-src'].includes('data:'), 'img-src lacks data:');

  // Nothing from anywhere: no wildcard source, no plain http, no eval in production.
  for (const [directive, sources] of Object.entries(csp)) {
    for (const src of sources) {
      assert.ok(src !== '*' && !src.startsWith('http:') && src !== 'https:', `${directive} allows ${src}`);
    }
  }
  assert.ok(!csp['script-src'].includes("'unsafe-eval'"), "script-src allows 'unsafe-eval' outside development");
}

describe('security headers (configuration)', () => {
  test('on every path', async () => {
    const h = await siteHeaders();
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['referrer-policy'], 'strict-origin-when-cross-origin');
    assert.ok(h['content-security-policy'], 'no Content-Security-Policy');
  });

  test('the policy of every response has no nonce and allows no inline script', async () => {
    const csp = parsePolicy((await siteHeaders())['content-security-policy']);
    checkPolicy(csp);
    assert.deepEqual(scriptNonces(csp), []);
  });

  test('a page policy is the same policy with the nonce in script-src', async () => {
    const nonce = newNonce();
    const page = parsePolicy(contentSecurityPolicy({ nonce, dev: false }));
    checkPolicy(page);
    assert.deepEqual(scriptNonces(page), [nonce]);
    assert.deepEqual(withoutNonces(page), parsePolicy((await siteHeaders())['content-security-policy']));
  });

  test('only development allows eval', () => {
    assert.ok(parsePolicy(contentSecurityPolicy({ dev: true }))['script-src'].includes("'unsafe-eval'"));
    assert.ok(!parsePolicy(contentSecurityPolicy({ dev: false }))['script-src'].includes("'unsafe-eval'"));
  });

  test('nonces are 128 random bits, base64, and a malformed one is refused', () => {
    const nonces = new Set(Array.from({ length: 1000 }, newNonce));
    assert.equal(nonces.size, 1000);
    for (const nonce of nonces) {
      assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
      assert.ok(isValidNonce(nonce));
    }
    for (const bad of ['', 'short', `${newNonce()}' 'unsafe-inline`, `${newNonce()};`, 'a b c d e f g h i j', undefined]) {
      assert.ok(!isValidNonce(bad), `accepted ${JSON.stringify(bad)}`);
    }
    assert.throws(() => contentSecurityPolicy({ nonce: "x' 'unsafe-inline" }), /invalid CSP nonce/);
  });
});

// Every page of the site, as a signed-in user of the fake API sees it, and the forms
// only an anonymous visitor gets (a signed-in one is sent on).
const PAGES = [
  '/',
  '/auth/signout',
  '/tickets/new',
  '/tickets/mine',
  `/tickets/${FAKE.ticketId}`,
  `/tickets/${FAKE.ticketId}/edit`,
  '/orders',
  `/orders/${FAKE.orderId}`,
  '/no-such-page',
];
const ANONYMOUS_PAGES = ['/auth/signin', '/auth/signup'];
const NOT_FOUND = new Set(['/no-such-page']);

// A page's response: status, its Content-Security-Policy headers (every one sent, from
// the raw headers), the other headers and the HTML.
async function load(site, path, headers = {}) {
  const cookie = ANONYMOUS_PAGES.includes(path) ? {} : { Cookie: 'session=x' };
  const res = await fetch(`${site.url}${path}`, { headers: { ...cookie, ...headers }, redirect: 'manual' });
  const html = await res.text();
  const policies = [];
  res.headers.forEach((value, name) => {
    if (name === 'content-security-policy') policies.push(value);
  });
  // fetch joins repeated headers with ", ", which no policy of ours contains.
  const csp = policies.flatMap((value) => value.split(/,\s*(?=default-src)/));
  return { status: res.status, csp, headers: res.headers, html };
}

// Every <script …> start tag and its nonce attribute.
function scriptTags(html) {
  return [...html.matchAll(/<script\b[^>]*>/gi)].map(([tag]) => ({ tag, nonce: (/\snonce="([^"]*)"/.exec(tag) || [])[1] }));
}

describe('the built site', { timeout: 600000 }, () => {
  let api;
  let site;

  before(async () => {
    await buildSite();
    api = await startFakeApi();
    // A Stripe key, so the order page loads Stripe.js (in the browser tests below).
    site = await startSite({ API_BASE_URL: api.url, NEXT_PUBLIC_STRIPE_KEY: 'pk_test_csp' });
  });

  after(async () => {
    await site?.stop();
    await api?.close();
  });

  test('a page: one policy, its script-src has a nonce and no unsafe-inline, the rest as configured', async () => {
    const page = await load(site, '/');
    assert.equal(page.status, 200);
    assert.equal(page.csp.length, 1, `want one Content-Security-Policy, got ${JSON.stringify(page.csp)}`);
    const csp = parsePolicy(page.csp[0]);
    checkPolicy(csp);
    const nonces = scriptNonces(csp);
    assert.equal(nonces.length, 1, `want one nonce in ${csp['script-src']}`);
    assert.ok(isValidNonce(nonces[0]));
    assert.deepEqual(withoutNonces(csp), parsePolicy((await siteHeaders())['content-security-policy']));
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
    assert.equal(page.headers.get('x-nonce'), null, 'the nonce header is for the page, not the browser');
  });

  test('two requests get different nonces', async () => {
    const seen = new Set();
    for (let i = 0; i < 5; i += 1) {
      const { csp } = await load(site, '/');
      const [nonce] = scriptNonces(parsePolicy(csp[0]));
      assert.ok(!seen.has(nonce), `nonce ${nonce} served twice`);
      seen.add(nonce);
    }
  });

  test("every page's scripts carry the nonce of its header; nothing else inline", async () => {
    for (const path of [...PAGES, ...ANONYMOUS_PAGES]) {
      const page = await load(site, path);
      assert.equal(page.status, NOT_FOUND.has(path) ? 404 : 200, path);
      assert.equal(page.csp.length, 1, path);
      const [nonce] = scriptNonces(parsePolicy(page.csp[0]));
      const scripts = scriptTags(page.html);
      assert.ok(scripts.length >= 3, `${path}: too few scripts (${scripts.length})`);
      // The inline bootstrap of the page's chunks is among them.
      assert.ok(scripts.some(({ tag }) => !/\ssrc=/.test(tag) && !/type="application\/json"/.test(tag)), `${path}: no inline script`);
      for (const { tag, nonce: attr } of scripts) assert.equal(attr, nonce, `${path}: ${tag}`);
      // No inline event handler or javascript: URL anywhere in the markup.
      for (const [tag] of page.html.matchAll(/<[a-z][^>]*>/gi)) {
        assert.doesNotMatch(tag, /\son[a-z]+\s*=/i, `${path}: inline event handler in ${tag}`);
        assert.doesNotMatch(tag, /=\s*"\s*javascript:/i, `${path}: javascript: URL in ${tag}`);
      }
    }
  });

  test('a signed-in visitor of the sign-in and sign-up forms is sent on', async () => {
    for (const [path, to] of [
      ['/auth/signin', '/'],
      ['/auth/signin?next=%2Forders', '/orders'],
      ['/auth/signup?next=%2Fauth%2Fsignin', '/'],
      ['/auth/signup?next=%2F%2Fevil.example', '/'],
    ]) {
      const res = await fetch(`${site.url}${path}`, { headers: { Cookie: 'session=x' }, redirect: 'manual' });
      assert.equal(res.status, 307, path);
      assert.equal(new URL(res.headers.get('location'), site.url).pathname, to, path);
      await res.arrayBuffer();
    }
  });

  test('a nonce or policy sent by the client is replaced', async () => {
    const forged = newNonce();
    const page = await load(site, '/', {
      'X-Nonce': forged,
      'Content-Security-Policy': `script-src 'nonce-${forged}'`,
    });
    assert.equal(page.csp.length, 1);
    const [nonce] = scriptNonces(parsePolicy(page.csp[0]));
    assert.notEqual(nonce, forged);
    for (const { nonce: attr } of scriptTags(page.html)) assert.equal(attr, nonce);
    assert.ok(!page.html.includes(forged), 'the forged nonce is in the page');
  });

  test('static files under /_next/static keep the configured headers', async () => {
    const { html } = await load(site, '/');
    const src = scriptTags(html)
      .map(({ tag }) => (/\ssrc="([^"]+)"/.exec(tag) || [])[1])
      .find((s) => s && s.startsWith('/_next/static/'));
    assert.ok(src, 'no /_next/static script on /');
    const res = await fetch(`${site.url}${src}`);
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    const configured = await siteHeaders();
    assert.equal(res.headers.get('content-security-policy'), configured['content-security-policy']);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
  });

  const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  describe('in Chromium', { skip: !existsSync(chromium) && `no browser at ${chromium}` }, () => {
    let browser;
    before(async () => {
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
    });

    // A context with the session cookie, Stripe's origin served by a stand-in (no
    // internet here; the policy is applied all the same, a refused request never
    // reaches the route), and its violations.
    // `stripe` is what js.stripe.com does: 'stand-in' (serves the stand-in), 'blocked'
    // (every request fails, as offline or behind a blocker), 'empty' (a script that
    // defines no Stripe) or 'silent' (never answers).
    async function newContext({ stripe = 'stand-in' } = {}) {
      const context = await browser.newContext({ baseURL: site.url, reducedMotion: 'reduce' });
      await context.addCookies([{ name: 'session', value: 'x', url: site.url }]);
      const violations = await watchCspViolations(context);
      const stripeRequests = [];
      await context.route('https://js.stripe.com/**', (route) => {
        const url = route.request().url();
        stripeRequests.push(url);
        if (stripe === 'blocked') return route.abort('blockedbyclient');
        if (stripe === 'silent') return undefined;
        if (/\/stripe\.js(\?|$)/.test(url)) {
          const body = stripe === 'empty' ? 'window.__emptyStripe = true;' : STRIPE_JS_STAND_IN;
          return route.fulfill({ contentType: 'application/javascript', body });
        }
        return route.fulfill({ contentType: 'text/html', body: '<!doctype html><p id="card">card frame</p>' });
      });
      const page = await context.newPage();
      page.setDefaultTimeout(15000);
      return { context, page, violations, stripeRequests };
    }

    // Hydrated: Next's client ran (its scripts were allowed) and the router is ready.
    async function hydrated(page) {
      await page.waitForFunction(() => window.next && window.next.router && window.next.router.isReady);
    }

    test('every page runs its scripts with no violation', async () => {
      const { context, page, violations } = await newContext();
      try {
        for (const path of PAGES.filter((p) => p !== '/auth/signout')) {
          await page.goto(path);
          await hydrated(page);
          assert.deepEqual(violations, [], path);
        }
        await context.clearCookies();
        for (const path of ANONYMOUS_PAGES) {
          await page.goto(path);
          await hydrated(page);
          assert.equal(new URL(page.url()).pathname, path);
          assert.deepEqual(violations, [], path);
        }
        await context.addCookies([{ name: 'session', value: 'x', url: site.url }]);
        // A client-side navigation loads the next page's chunks at run time.
        await page.goto('/');
        await hydrated(page);
        await page.getByRole('link', { name: 'Sell a ticket' }).click();
        await page.waitForURL('**/tickets/new');
        await page.getByLabel('Title').waitFor();
        assert.deepEqual(violations, []);
      } finally {
        await context.close();
      }
    });

    test('the order page loads Stripe.js and its card frame with the Stripe key set', async () => {
      const { context, page, violations, stripeRequests } = await newContext();
      try {
        await page.goto(`/orders/${FAKE.orderId}`);
        await hydrated(page);
        // Enabled once Stripe.js ran and react-stripe-js accepted its Stripe object.
        await page.locator('button[type="submit"]:not([disabled])', { hasText: 'Pay' }).waitFor();
        assert.equal(await page.evaluate(() => window.__stripeStandIn), true);
        const frame = page.frameLocator('iframe[src^="https://js.stripe.com/"]');
        await frame.locator('#card').waitFor();
        assert.ok(stripeRequests.some((url) => /\/stripe\.js/.test(url)), `Stripe.js not requested: ${stripeRequests}`);
        // The amount on the button, and a test key says test mode and the test card.
        assert.equal((await page.locator('button[type="submit"]').innerText()).trim(), 'Pay $25.50');
        const note = await page.getByTestId('test-mode').innerText();
        assert.match(note, /Test mode/);
        assert.match(note, /4242 4242 4242 4242/);
        await checkAccessibility(page, 'the order page with the card form');
        assert.deepEqual(violations, []);
      } finally {
        await context.close();
      }
    });

    // Stripe.js cannot be had: loadStripe rejects (the request fails, or the script
    // defines no Stripe), or it never settles (a request that never answers, after the
    // card form's deadline of 10 s). The buyer is told, with a way to retry, instead of
    // an empty box and a button that never enables.
    for (const [stripe, what] of [
      ['blocked', 'blocked'],
      ['empty', 'loads without Stripe in it'],
      ['silent', 'never answers'],
    ]) {
      test(`Stripe.js ${what}: the order page says the card form could not load`, async () => {
        const { context, page, violations, stripeRequests } = await newContext({ stripe });
        try {
          await page.goto(`/orders/${FAKE.orderId}`);
          await hydrated(page);
          const unavailable = page.getByTestId('card-form-unavailable');
          await unavailable.waitFor({ timeout: 20000 });
          assert.match(await unavailable.innerText(), /Could not load the card form/);
          assert.match(await unavailable.innerText(), /offline|extension/);
          await unavailable.getByRole('button', { name: 'Reload the page' }).waitFor();
          assert.equal(await page.locator('button[type="submit"]').count(), 0, 'no Pay button that cannot work');
          assert.equal(await page.getByTestId('card-form-loading').count(), 0);
          assert.ok(stripeRequests.length > 0, 'Stripe.js was asked for');
          await checkAccessibility(page, `the order page when Stripe.js ${what}`);
          assert.deepEqual(violations, []);
        } finally {
          await context.close();
        }
      });
    }

    test('an injected inline script or event handler is refused, and reported', async () => {
      const { context, page, violations } = await newContext();
      try {
        await page.goto('/');
        await hydrated(page);
        await page.evaluate(() => {
          const script = document.createElement('script');
          script.textContent = 'window.__injected = true';
          document.head.append(script);
          document.body.insertAdjacentHTML('beforeend', '<img alt="" src="data:," onerror="window.__handler = true">');
        });
        await waitFor(() => violations.filter((v) => v.directive).length >= 2);
        assert.equal(await page.evaluate(() => window.__injected), undefined);
        assert.equal(await page.evaluate(() => window.__handler), undefined);
        const directives = violations.filter((v) => v.directive).map((v) => v.directive).sort();
        assert.deepEqual(directives, ['script-src-attr', 'script-src-elem']);
      } finally {
        await context.close();
      }
    });
  });
});

async function waitFor(check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Stands in for https://js.stripe.com/<release>/stripe.js: a Stripe object with what
// react-stripe-js checks for, whose card element mounts an iframe from js.stripe.com.
const STRIPE_JS_STAND_IN = `(() => {
  function element() {
    const handlers = {};
    return {
      mount(target) {
        const node = typeof target === 'string' ? document.querySelector(target) : target;
        const frame = document.createElement('iframe');
        frame.src = 'https://js.stripe.com/v3/elements-inner-card.html';
        frame.title = 'Card';
        node.appendChild(frame);
        setTimeout(() => (handlers.ready || []).forEach((cb) => cb({ elementType: 'card' })), 0);
      },
      on(event, cb) { (handlers[event] = handlers[event] || []).push(cb); return this; },
      off() { return this; },
      update() {}, destroy() {}, unmount() {}, focus() {}, blur() {}, clear() {},
    };
  }
  function Stripe() {
    const created = {};
    return {
      elements() {
        return {
          create(type) { return (created[type] = element()); },
          getElement(type) { return created[type] || null; },
          update() {},
        };
      },
      createToken() { return Promise.resolve({ token: { id: 'tok_stand_in' } }); },
      createPaymentMethod() {}, confirmCardPayment() {},
      _registerWrapper() {}, registerAppInfo() {},
    };
  }
  Stripe.version = 'endive';
  window.Stripe = Stripe;
  window.__stripeStandIn = true;
})();`;
