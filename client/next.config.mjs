import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { contentSecurityPolicy } from './lib/csp.js';

const root = path.dirname(fileURLToPath(import.meta.url));

// The Content-Security-Policy (built in lib/csp.js). What the site loads: its
// own scripts, styles and images (Next's /_next/static, Bootstrap's CSS, whose
// form controls draw data: SVG images), its own API (/api/...), and, only on
// an order's page when NEXT_PUBLIC_STRIPE_KEY is set, Stripe.js and its card
// iframes (Stripe's documented sources: js.stripe.com and its subdomains for
// the script and the frames, hooks.stripe.com for 3-D Secure, api.stripe.com
// for the token). No page may be framed (clickjacking), no plugin loaded, no
// <base> or form sent elsewhere.
//
// No inline script runs without the nonce of its request: proxy.js makes a
// fresh one for every page request and puts it in that page's policy
// (script-src 'self' 'nonce-…' and Stripe's hosts, no 'unsafe-inline'), and
// pages/_document.js passes it to <Head> and <NextScript>, so the inline
// bootstrap a Turbopack production build puts in every page, and every other
// <script> Next writes, carry it. The policy set here, on every response, has
// no nonce: it is what Next's static files keep (the proxy does not run for
// /_next/static), and for pages the proxy's policy replaces it. Pages are
// never prerendered (every page has getServerSideProps, and _error.js makes
// the 404 and 500 pages render per request), so every page has a request and
// a nonce. Scripts from any other origin stay refused, and connect-src keeps
// a script from sending data elsewhere. No 'strict-dynamic': the scripts that
// are added at run time come from allowed origins (Next's chunks from 'self',
// Stripe.js from js.stripe.com), so the host list is kept and enforced.
// Styles allow 'unsafe-inline' for the style attributes React and Stripe's
// Elements set. `next dev` needs eval for its hot reload, so only
// development adds 'unsafe-eval'.
const securityHeaders = [
  { key: 'Content-Security-Policy', value: contentSecurityPolicy() },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
];

/** @type {import('next').NextConfig} */
const nextConfig = {
  // The image runs .next/standalone/server.js; `next start` keeps working locally.
  output: 'standalone',
  reactStrictMode: true,
  poweredByHeader: false,
  // The repository root holds other projects; pin tracing and Turbopack to this folder.
  outputFileTracingRoot: root,
  // test/headers.test.mjs builds into a folder of its own (NEXT_DIST_DIR), so a
  // running `npm start` or devstack keeps its .next.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  turbopack: { root },
  // Every response of the site (pages and Next's own files) carries them; on pages
  // proxy.js replaces the Content-Security-Policy with one holding the request's nonce.
  async headers() {
    return [{ source: '/:path*', headers: securityHeaders }];
  },
};

export default nextConfig;
