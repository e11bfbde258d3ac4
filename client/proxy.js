// Next's request proxy (Next 16's name for middleware; Node.js runtime): every page
// request gets a fresh nonce. The response's Content-Security-Policy allows scripts
// carrying that nonce (it replaces the nonce-less policy next.config.mjs sets on every
// response), and the request goes on to the page with the nonce in `x-nonce`, where
// pages/_document.js puts it on every <script> it writes. The request's own
// Content-Security-Policy header is set too: Next reads the nonce from it for the
// scripts it writes itself (next/script, styled-jsx).
import { NextResponse } from 'next/server';
import { contentSecurityPolicy, newNonce, NONCE_HEADER } from './lib/csp.js';

export function proxy(request) {
  const nonce = newNonce();
  const policy = contentSecurityPolicy({ nonce });

  // Whatever a client sent in these headers is replaced, never trusted.
  const headers = new Headers(request.headers);
  headers.set(NONCE_HEADER, nonce);
  headers.set('content-security-policy', policy);

  const response = NextResponse.next({ request: { headers } });
  response.headers.set('content-security-policy', policy);
  return response;
}

export const config = {
  // Pages (and Next's /_next/data JSON, which goes through here too); not Next's
  // static files and images, which keep the headers of next.config.mjs.
  matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'],
};
