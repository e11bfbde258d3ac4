// How an order is shown, in one place for the order page and the orders list.
//
// The API's status is created or awaiting:payment (open: the buyer may pay until
// expiresAt), complete (paid) or cancelled; a cancelled order says why in cancelReason,
// "buyer" (its owner cancelled it) or "expired" (not paid in time; older orders lack
// the field). An open order whose time has run out is shown as expired at once: the
// platform cancels it a little later (its grace period, then the expiration job).

const OPEN_STATUSES = new Set(['created', 'awaiting:payment']);

export function isOpen(order) {
  return Boolean(order) && OPEN_STATUSES.has(order.status);
}

// The status is final: nothing will change it any more.
export function isFinal(order) {
  return Boolean(order) && (order.status === 'complete' || order.status === 'cancelled');
}

// Milliseconds left to pay at `now` (0 once the time is up, or when expiresAt is unreadable).
export function msLeft(order, now) {
  const ms = new Date(order.expiresAt).getTime() - now;
  return Number.isFinite(ms) ? Math.max(0, ms) : 0;
}

// One of: open, expired (open, its time up; or cancelled for it), paid, cancelled (by
// the buyer, or for a reason the order does not tell).
export function orderState(order, now) {
  if (order.status === 'complete') return 'paid';
  if (order.status === 'cancelled') return order.cancelReason === 'expired' ? 'expired' : 'cancelled';
  if (isOpen(order)) return msLeft(order, now) > 0 ? 'open' : 'expired';
  return 'unknown';
}

export const ORDER_STATE_LABELS = {
  open: 'Awaiting payment',
  expired: 'Expired',
  paid: 'Paid',
  cancelled: 'Cancelled',
};

// What the order page says about an order that is no longer open.
export function orderStateMessage(order, now) {
  switch (orderState(order, now)) {
    case 'paid':
      return 'Paid. Enjoy the event!';
    case 'expired':
      return order.status === 'cancelled'
        ? 'This order expired: it was not paid in time, so it was cancelled and the ticket went back on sale.'
        : 'Time is up: this order was not paid in time and can no longer be paid. It will be cancelled shortly and the ticket will go back on sale.';
    case 'cancelled':
      return order.cancelReason === 'buyer'
        ? 'You cancelled this order. The ticket is back on sale.'
        : 'This order was cancelled.';
    default:
      return '';
  }
}

// A countdown as mm:ss ("14:59"); minutes go past 59 for a long window ("75:00").
// Whole seconds are rounded up, so it shows 00:01 until the very end.
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${String(minutes).padStart(2, '0')}:${String(seconds).padStart(2, '0')}`;
}
