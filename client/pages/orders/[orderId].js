import { useEffect, useState } from 'react';
import dynamic from 'next/dynamic';
import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from '../../components/ErrorList.js';
import PageTitle from '../../components/PageTitle.js';
import StatusBadge from '../../components/StatusBadge.js';
import useRequest from '../../hooks/useRequest.js';
import { formatPrice } from '../../lib/format.js';
import { withSession } from '../../lib/session.js';

const StripeCardForm = dynamic(() => import('../../components/StripeCardForm.js'), {
  ssr: false,
  loading: () => <p className="text-muted">Loading the card form...</p>,
});

// Stripe's test token: the offline pay flow when no publishable key is configured.
const TEST_TOKEN = 'tok_visa';

const OPEN_STATUSES = new Set(['created', 'awaiting:payment']);

function useSecondsLeft(expiresAt, serverNow) {
  // The first render uses the server's clock so the server's HTML and the browser's
  // first render agree; then the browser's clock takes over.
  const [now, setNow] = useState(serverNow);
  useEffect(() => {
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const ms = new Date(expiresAt).getTime() - now;
  return Number.isFinite(ms) ? Math.max(0, Math.round(ms / 1000)) : 0;
}

function OrderView({ order, currentUser, serverNow, stripeKey }) {
  const router = useRouter();
  const pay = useRequest();
  const cancel = useRequest();
  const secondsLeft = useSecondsLeft(order.expiresAt, serverNow);

  const isOpen = OPEN_STATUSES.has(order.status);
  const expired = isOpen && secondsLeft <= 0;
  const payLabel = `Pay ${formatPrice(order.ticket.price)}`;

  async function payWith(token) {
    const res = await pay.run('post', '/api/payments', { token, orderId: order.id });
    if (res.ok) await router.push('/orders');
  }

  async function cancelOrder() {
    const res = await cancel.run('del', `/api/orders/${order.id}`);
    if (res.ok) {
      await router.replace(router.asPath);
      cancel.done();
    }
  }

  return (
    <div className="card page-narrow" data-testid="order" data-status={order.status}>
      <PageTitle title={`Order for ${order.ticket.title}`} />
      <div className="card-body">
        <h1 className="card-title h3">Order for {order.ticket.title}</h1>
        <p className="mb-2">
          Price: <strong>{formatPrice(order.ticket.price)}</strong>
        </p>
        <p className="mb-3">
          Status: <StatusBadge status={expired ? 'expired' : order.status} />
        </p>

        {order.status === 'complete' && (
          <div className="alert alert-success">Paid. Enjoy the event!</div>
        )}
        {order.status === 'cancelled' && (
          <div className="alert alert-secondary">This order was cancelled.</div>
        )}
        {expired && (
          <div className="alert alert-warning" data-testid="order-expired">
            Order Expired
          </div>
        )}

        {isOpen && !expired && (
          <>
            <p className="countdown" data-testid="countdown">
              Time left to pay: {secondsLeft} seconds
            </p>
            {stripeKey ? (
              <StripeCardForm
                publishableKey={stripeKey}
                onToken={payWith}
                pending={pay.pending}
                label={payLabel}
              />
            ) : (
              <button
                type="button"
                className="btn btn-primary me-2"
                onClick={() => payWith(TEST_TOKEN)}
                disabled={pay.pending || cancel.pending}
              >
                Pay
              </button>
            )}
            <ErrorList errors={pay.errors} />
          </>
        )}

        {isOpen && !expired && (
          <div className="mt-3">
            <button
              type="button"
              className="btn btn-outline-danger btn-sm"
              onClick={cancelOrder}
              disabled={cancel.pending || pay.pending}
            >
              Cancel order
            </button>
            <ErrorList errors={cancel.errors} />
          </div>
        )}

        <div className="mt-3">
          <Link href="/orders">Back to my orders</Link>
        </div>
      </div>
    </div>
  );
}

export default function OrderShowPage({ order, errors, ...rest }) {
  if (!order) {
    return (
      <>
        <PageTitle title="Order not found" />
        <h1 className="h2 mb-4">Order</h1>
        <ErrorList errors={errors} title="Could not load this order" />
        <Link href="/orders">Back to my orders</Link>
      </>
    );
  }
  return <OrderView order={order} {...rest} />;
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
      ctx.res.statusCode = [400, 401, 404].includes(res.status) ? res.status : 502;
      return { props: { order: null, errors: res.errors, serverNow, stripeKey } };
    }
    return { props: { order: res.data, errors: null, serverNow, stripeKey } };
  },
  { protect: true },
);
