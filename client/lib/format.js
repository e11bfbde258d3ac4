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

// Where to go after signing in: only a local path, never another site. A browser
// drops tabs and newlines from a URL and reads a backslash as a slash, so "/\t/evil.example"
// is "//evil.example" to it: any control character or backslash is refused, and the path
// must stay on this site as a URL parser reads it.
const LOCAL = 'http://local.invalid';
export function safeReturnPath(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || /[\u0000-\u001f\u007f\\]/.test(next)) {
    return '/';
  }
  try {
    if (new URL(next, LOCAL).origin !== LOCAL) return '/';
  } catch {
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

// A date and time for people: "Mar 12, 2025, 2:03 PM". The server renders it in UTC
// (saying so), the browser then in its own time zone (components/LocalTime.js).
export function formatDateTime(iso, timeZone) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return '';
  const text = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(date);
  return timeZone === 'UTC' ? `${text} UTC` : text;
}

// A seller's ticket as GET /api/tickets?mine=true reports it.
export const TICKET_STATE_LABELS = {
  'for-sale': 'For sale',
  reserved: 'Reserved',
  sold: 'Sold',
};

// Why the sign-in page is shown, from the page it returns to (a protected page sends
// anonymous visitors there with ?next=); nothing when it returns home.
const SIGNIN_REASONS = [
  [/^\/orders\/[^/?#]+/, 'Sign in to see this order'],
  [/^\/orders(?:[/?#]|$)/, 'Sign in to see your orders'],
  [/^\/tickets\/new(?:[/?#]|$)/, 'Sign in to sell a ticket'],
  [/^\/tickets\/mine(?:[/?#]|$)/, 'Sign in to see your tickets'],
  [/^\/tickets\/[^/?#]+\/edit(?:[/?#]|$)/, 'Sign in to edit your ticket'],
  [/^\/tickets\/[^/?#]+(?:[?#]|$)/, 'Sign in to buy this ticket'],
];
export function signinReason(next) {
  const path = safeReturnPath(next);
  if (path === '/') return null;
  const found = SIGNIN_REASONS.find(([pattern]) => pattern.test(path));
  return found ? found[1] : 'Please sign in to continue';
}

// Where a signed-in visitor of the sign-in or sign-up page goes instead: the page it
// would have returned to, never back to a form of /auth (a loop).
export function afterSigninPath(next) {
  const path = safeReturnPath(next);
  return path.startsWith('/auth/') ? '/' : path;
}
