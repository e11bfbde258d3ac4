export function formatPrice(price) {
  const n = Number(price);
  return Number.isFinite(n) ? `$${n.toFixed(2)}` : '';
}

// The sign-in page, coming back to returnTo after it. Here rather than in session.js,
// which pages use on the browser side too: session.js pulls in server-api.js and so
// node:http, whose browser stand-ins evaluate code at load (Function), which the
// Content-Security-Policy refuses.
export function signinPath(returnTo) {
  return `/auth/signin?next=${encodeURIComponent(returnTo || '/')}`;
}

// Where to go after signing in: only a local path, never another site.
export function safeReturnPath(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) {
    return '/';
  }
  return next;
}

// The API takes a number or a numeric string; send a number when the input is one and
// let the API's validation speak for anything else (blank, "abc").
export function priceForApi(input) {
  const text = String(input ?? '').trim();
  const n = Number(text);
  return text !== '' && Number.isFinite(n) ? n : text;
}

export const ORDER_STATUS_LABELS = {
  created: 'Awaiting payment',
  'awaiting:payment': 'Awaiting payment',
  complete: 'Complete',
  cancelled: 'Cancelled',
  // Shown by the order page once the countdown ends, until the platform cancels the order.
  expired: 'Expired',
};

// A seller's ticket as GET /api/tickets?mine=true reports it.
export const TICKET_STATE_LABELS = {
  'for-sale': 'For sale',
  reserved: 'Reserved',
  sold: 'Sold',
};
