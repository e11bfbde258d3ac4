// The security headers of next.config.mjs: every page gets them, and the
// policy allows what the site loads (itself, Stripe) and nothing else.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nextConfig from '../next.config.mjs';

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

describe('security headers', () => {
  test('on every path', async () => {
    const h = await siteHeaders();
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.equal(h['referrer-policy'], 'strict-origin-when-cross-origin');
    assert.ok(h['content-security-policy'], 'no Content-Security-Policy');
  });

  test('the policy', async () => {
    const csp = parsePolicy((await siteHeaders())['content-security-policy']);
    const cases = [
      ['default-src', ["'self'"]],
      ['frame-ancestors', ["'none'"]],
      ['object-src', ["'none'"]],
      ['base-uri', ["'self'"]],
      ['form-action', ["'self'"]],
    ];
    for (const [directive, want] of cases) assert.deepEqual(csp[directive], want, directive);

    // Its own scripts and Stripe.js; the inline bootstrap of the pages router.
    for (const src of ["'self'", "'unsafe-inline'", 'https://js.stripe.com']) {
      assert.ok(csp['script-src'].includes(src), `script-src lacks ${src}`);
    }
    // Stripe's card iframes and token call; the API is same-origin.
    for (const src of ['https://js.stripe.com', 'https://hooks.stripe.com']) {
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
  });
});
