// The Content-Security-Policy of the site, in one place for next.config.mjs (the
// policy of every response, no nonce) and proxy.js (each page's own policy, with the
// nonce of that request). See the comment in next.config.mjs for what it allows and why.

// The request header by which proxy.js hands the nonce to pages/_document.js.
export const NONCE_HEADER = 'x-nonce';

// What a nonce may look like: base64 (standard or URL-safe alphabet), as CSP's
// `'nonce-…'` source allows and Next's own header parser reads it.
const NONCE_PATTERN = /^[A-Za-z0-9+/_-]{16,}={0,2}$/;

// Stripe.js and the frames it opens (Stripe's documented sources).
const STRIPE_SCRIPTS = ['https://js.stripe.com', 'https://*.js.stripe.com'];
const STRIPE_FRAMES = [...STRIPE_SCRIPTS, 'https://hooks.stripe.com'];

function isDevelopment() {
  return process.env.NODE_ENV === 'development';
}

// The policy as one header value. With a nonce, inline scripts carrying it run
// (Next's inline bootstrap and every <script> _document writes); without one, no
// inline script runs at all. `dev` adds 'unsafe-eval', which `next dev` needs.
export function contentSecurityPolicy({ nonce, dev = isDevelopment() } = {}) {
  if (nonce !== undefined && !isValidNonce(nonce)) throw new Error('invalid CSP nonce');
  const scripts = ["'self'", ...(nonce ? [`'nonce-${nonce}'`] : []), ...STRIPE_SCRIPTS];
  if (dev) scripts.push("'unsafe-eval'");
  return [
    "default-src 'self'",
    `script-src ${scripts.join(' ')}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https://*.stripe.com",
    "font-src 'self'",
    "connect-src 'self' https://api.stripe.com",
    `frame-src ${STRIPE_FRAMES.join(' ')}`,
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
  ].join('; ');
}

// A fresh nonce: 128 random bits from the platform's CSPRNG, base64 (24 characters).
export function newNonce() {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

export function isValidNonce(value) {
  return typeof value === 'string' && NONCE_PATTERN.test(value);
}
