import { useCallback, useEffect, useRef, useState } from 'react';
import dynamic from 'next/dynamic';
import Link from 'next/link';
import ErrorList from '../../components/ErrorList.js';
import LocalTime from '../../components/LocalTime.js';
import NotFound from '../../components/NotFound.js';
import PageTitle from '../../components/PageTitle.js';
import PendingButton from '../../components/PendingButton.js';
import StatusBadge from '../../components/StatusBadge.js';
import useRequest from '../../hooks/useRequest.js';
import { api } from '../../lib/api.js';
import { formatPrice } from '../../lib/format.js';
import { formatCountdown, isFinal, isOpen, msLeft, orderState, orderStateMessage } from '../../lib/orders.js';
import { withSession } from '../../lib/session.js';

const StripeCardForm = dynamic(() => import('../../components/StripeCardForm.js'), {
  ssr: false,
  loading: () => <p className="text-body-secondary">Loading the card form…</p>,
});

// Stripe's test token: the offline pay flow when no publishable key is configured.
const TEST_TOKEN = 'tok_visa';

// How often the page asks for the order while it may still change.
const POLL_INTERVAL_MS = 2000;

// The clock of the countdown. The first render uses the server's clock so the server's
// HTML and the browser's first render agree; then the browser's clock takes over,
// ticking when the countdown's second changes, until the time is up.
function useClock(serverNow, expiresAtMs, running) {
  const [now, setNow] = useState(serverNow);
  useEffect(() => {
    let timer;
    const tick = () => {
      const t = Date.now();
      setNow(t);
      const left = expiresAtMs - t;
      if (running && left > 0) timer = setTimeout(tick, (left % 1000 || 1000) + 5);
    };
    tick();
    return () => clearTimeout(timer);
  }, [expiresAtMs, running]);
  return now;
}

// The order as the API reports it now: polled every POLL_INTERVAL_MS while it is not
// final (paused while the page is hidden, at once when it is shown again), and on
// demand (poll). An answer older than the order in hand (a lower version: a poll sent
// before a change the page already knows) is dropped.
function useLiveOrder(initial) {
  const [order, setOrder] = useState(initial);
  const final = isFinal(order);
  const stopped = useRef(false);

  const accept = useCallback((next) => {
    setOrder((current) => (Number(next.version) >= Number(current.version) ? next : current));
  }, []);

  const poll = useCallback(async () => {
    if (stopped.current || document.hidden) return;
    const res = await api.get(`/api/orders/${encodeURIComponent(initial.id)}`);
    if (!stopped.current && res.ok && res.data && res.data.id === initial.id) accept(res.data);
  }, [initial.id, accept]);

  useEffect(() => {
    if (final) return undefined;
    stopped.current = false;
    const timer = setInterval(poll, POLL_INTERVAL_MS);
    const onVisibility = () => {
      if (!document.hidden) poll();
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      stopped.current = true;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [final, poll]);

  return { order, accept, poll };
}

// What the buyer is told about paying: the amount, and that nothing real is charged
// unless a live key is configured.
function TestModeNote({ stripeKey, price }) {
  if (!stripeKey) {
    return (
      <p className="small text-body-secondary" data-testid="test-mode">
        <strong>Test mode:</strong> no card is needed. Paying charges Stripe&apos;s test card token for {price}; no
        real money moves.
      </p>
    );
  }
  if (stripeKey.startsWith('pk_test_')) {
    return (
      <p className="small text-body-secondary" data-testid="test-mode">
        <strong>Test mode:</strong> nothing real is charged. Pay with Stripe&apos;s test card{' '}
        <span className="text-nowrap">4242 4242 4242 4242</span>, any future expiry date and any CVC.
      </p>
    );
  }
  return null;
}

function OrderView({ order: initialOrder, serverNow, stripeKey }) {
  const { order, accept, poll } = useLiveOrder(initialOrder);
  const pay = useRequest();
  const cancel = useRequest();
  // The payment went through; the order turns complete once the platform has handled
  // the payment's event, which the polling picks up.
  const [paid, setPaid] = useState(false);

  const open = isOpen(order);
  const expiresAtMs = new Date(order.expiresAt).getTime();
  const now = useClock(serverNow, expiresAtMs, open);
  const left = msLeft(order, now);
  const state = orderState(order, now);
  const confirming = paid && open;
  const payable = state === 'open' && !paid;
  const price = formatPrice(order.ticket.price);

  // The moment the countdown reaches zero, ask at once whether the order was paid.
  const timeUp = open && left <= 0;
  useEffect(() => {
    if (timeUp) poll();
  }, [timeUp, poll]);

  async function payWith(token) {
    const res = await pay.run('post', '/api/payments', { token, orderId: order.id });
    if (res.ok) {
      setPaid(true);
      poll();
    }
  }

  async function cancelOrder() {
    const res = await cancel.run('del', `/api/orders/${order.id}`);
    if (res.ok) {
      // The API answers 204: the order is now cancelled, by its buyer.
      accept({ ...order, status: 'cancelled', cancelReason: 'buyer', version: Number(order.version) + 1 });
      cancel.done();
    }
  }

  const message = confirming ? 'Payment received. Confirming your order…' : orderStateMessage(order, now);
  const alertClass = {
    paid: 'alert-success',
    expired: 'alert-warning',
    cancelled: 'alert-secondary',
  }[state];

  return (
    <div
      className="card page-narrow"
      data-testid="order"
      data-status={order.status}
      data-state={state}
      data-cancel-reason={order.cancelReason || undefined}
    >
      <PageTitle title={`Order for ${order.ticket.title}`} />
      <div className="card-body">
        <h1 className="card-title h3">Order for {order.ticket.title}</h1>
        <p className="mb-2">
          Price: <strong>{price}</strong>
        </p>
        <p className="mb-2">
          Status: <StatusBadge state={state} />
        </p>
        {order.createdAt && (
          <p className="mb-3 small text-body-secondary">
            Ordered <LocalTime iso={order.createdAt} />
          </p>
        )}

        {/* Announced when it changes: paid, expired, cancelled, payment confirming. */}
        <div role="status" aria-live="polite" aria-atomic="true" data-testid="order-status-message">
          {confirming && (
            <div className="alert alert-info d-flex align-items-center">
              <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
              {message}
            </div>
          )}
          {!confirming && message && (
            <div className={`alert ${alertClass || 'alert-secondary'}`} data-testid={state === 'expired' ? 'order-expired' : undefined}>
              {message}
            </div>
          )}
        </div>

        {payable && (
          <>
            <p className="countdown fs-5" data-testid="countdown">
              Time left to pay: <span role="timer">{formatCountdown(left)}</span>
            </p>
            <TestModeNote stripeKey={stripeKey} price={price} />
            {stripeKey ? (
              <StripeCardForm
                publishableKey={stripeKey}
                onToken={payWith}
                pending={pay.pending}
                disabled={cancel.pending}
                label={`Pay ${price}`}
              />
            ) : (
              <PendingButton
                className="btn btn-primary me-2"
                onClick={() => payWith(TEST_TOKEN)}
                pending={pay.pending}
                pendingLabel="Paying…"
                disabled={cancel.pending}
              >
                Pay {price}
              </PendingButton>
            )}
            <ErrorList errors={pay.errors} title="The payment did not go through" />
            <div className="mt-3">
              <PendingButton
                className="btn btn-outline-danger btn-sm"
                onClick={cancelOrder}
                pending={cancel.pending}
                pendingLabel="Cancelling…"
                disabled={pay.pending}
              >
                Cancel order
              </PendingButton>
              <ErrorList errors={cancel.errors} title="The order could not be cancelled" />
            </div>
          </>
        )}

        <div className="mt-3">
          <Link href="/orders" className="touch-link">
            Back to my orders
          </Link>
        </div>
      </div>
    </div>
  );
}

export default function OrderShowPage({ order, notFound, errors, ...rest }) {
  if (notFound) {
    return (
      <NotFound
        title="Order not found"
        links={[
          { href: '/orders', label: 'See my orders' },
          { href: '/', label: 'Browse tickets for sale' },
        ]}
      >
        <p>There is no such order among yours. The link may be wrong, or the order may belong to another account.</p>
      </NotFound>
    );
  }
  if (!order) {
    return (
      <>
        <PageTitle title="Order unavailable" />
        <h1 className="h2 mb-4">Order</h1>
        <ErrorList errors={errors} title="Could not load this order" />
        <Link href="/orders">Back to my orders</Link>
      </>
    );
  }
  // A new order (another id) starts afresh: its own polling and payment state.
  return <OrderView key={order.id} order={order} {...rest} />;
}

// Read at run time on the server (a computed name is not inlined by the build), so one
// image serves with or without a Stripe publishable key.
function runtimeEnv(name) {
  return process.env[name] || '';
}

export const getServerSideProps = withSession(
  async (ctx, { client }) => {
    const id = String(ctx.params.orderId);
    const res = await client.get(`/api/orders/${encodeURIComponent(id)}`);
    const serverNow = Date.now();
    const stripeKey = runtimeEnv('NEXT_PUBLIC_STRIPE_KEY');
    if (!res.ok) {
      // No such order, an id that cannot be one, or another user's order (the API
      // answers 401 for it): to this user it does not exist.
      const notFound = [400, 401, 404].includes(res.status);
      ctx.res.statusCode = notFound ? 404 : 502;
      return { props: { order: null, notFound, errors: res.errors, serverNow, stripeKey } };
    }
    return { props: { order: res.data, notFound: false, errors: null, serverNow, stripeKey } };
  },
  { protect: true },
);
