import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(fileURLToPath(import.meta.url));

// The Content-Security-Policy of every page. What the site loads: its own
// scripts, styles and images (Next's /_next/static, Bootstrap's CSS, whose
// form controls draw data: SVG images), its own API (/api/...), and, only on
// an order's page when NEXT_PUBLIC_STRIPE_KEY is set, Stripe.js and its card
// iframes (Stripe's documented sources: js.stripe.com and its subdomains for
// the script and the frames, hooks.stripe.com for 3-D Secure, api.stripe.com
// for the token). No page may be framed (clickjacking), no plugin loaded, no
// <base> or form sent elsewhere.
//
// Scripts need 'unsafe-inline': a Turbopack production build of the pages
// router puts one inline bootstrap script in every page (the chunks of the
// page, different for each page and each build), so no fixed hash can allow
// it; a per-request nonce would (a proxy that makes one, and _document
// passing it to <Head> and <NextScript>). Scripts from any other origin stay
// refused, and connect-src keeps a script from sending data elsewhere.
// Styles allow 'unsafe-inline' for the style attributes React and Stripe's
// Elements set. `next dev` needs eval for its hot reload, so only
// development adds 'unsafe-eval'.
const dev = process.env.NODE_ENV === 'development';
const contentSecurityPolicy = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline' https://js.stripe.com https://*.js.stripe.com${dev ? " 'unsafe-eval'" : ''}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: https://*.stripe.com",
  "font-src 'self'",
  "connect-src 'self' https://api.stripe.com",
  'frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com',
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'self'",
  "object-src 'none'",
].join('; ');

const securityHeaders = [
  { key: 'Content-Security-Policy', value: contentSecurityPolicy },
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
  turbopack: { root },
  // Every response of the site (pages and Next's own files) carries them.
  async headers() {
    return [{ source: '/:path*', headers: securityHeaders }];
  },
};

export default nextConfig;
