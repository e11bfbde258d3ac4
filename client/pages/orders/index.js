import Link from 'next/link';
import ErrorList from '../../components/ErrorList.js';
import ListTable from '../../components/ListTable.js';
import LocalTime from '../../components/LocalTime.js';
import PageTitle from '../../components/PageTitle.js';
import Pager from '../../components/Pager.js';
import StatusBadge from '../../components/StatusBadge.js';
import { formatPrice } from '../../lib/format.js';
import { listQuery, pagerProps } from '../../lib/listing.js';
import { orderState } from '../../lib/orders.js';
import { withSession } from '../../lib/session.js';

// Orders a page shows unless its query says otherwise (the API's limit).
const PAGE_SIZE = '20';

export default function OrdersPage({ orders, errors, serverNow, pager }) {
  return (
    <>
      <PageTitle title="My Orders" />
      <h1 className="h2 mb-3">My Orders</h1>
      <ErrorList errors={errors} title="Could not load your orders" />
      {!errors && orders.length === 0 && (
        <p className="text-body-secondary" data-testid="no-orders">
          {pager.isFirstPage ? 'You have no orders yet.' : 'No more orders.'}
        </p>
      )}
      {orders.length > 0 && (
        <ListTable testId="orders" columns={['Ticket', 'Price', 'Status']}>
          {orders.map((order) => {
            // The same words as the order page; an open order past its time is
            // shown expired at once, as there.
            const state = orderState(order, serverNow);
            const title = order.ticket ? order.ticket.title : '';
            return (
              <tr key={order.id} data-order-id={order.id} data-status={order.status} data-state={state}>
                <td>
                  <span data-testid="order-title">{title}</span>
                  {order.createdAt && (
                    <div className="small text-body-secondary" data-testid="created">
                      Ordered <LocalTime iso={order.createdAt} />
                    </div>
                  )}
                </td>
                <td>{order.ticket ? formatPrice(order.ticket.price) : ''}</td>
                <td>
                  <StatusBadge state={state} />
                  {state === 'open' && (
                    <div className="small text-body-secondary" data-testid="expires">
                      Pay by <LocalTime iso={order.expiresAt} />
                    </div>
                  )}
                </td>
                <td>
                  <Link href={`/orders/${order.id}`} className="touch-link">
                    View<span className="visually-hidden"> order for {title}</span>
                  </Link>
                </td>
              </tr>
            );
          })}
        </ListTable>
      )}
      <Pager label="Order pages" {...pager} />
    </>
  );
}

// A page of the user's orders, newest first (the API's own default, for the original
// client, is every order at once, oldest first).
export const getServerSideProps = withSession(
  async (ctx, { client }) => {
    const query = listQuery(ctx.query, { api: '/api/orders', defaults: { limit: PAGE_SIZE }, search: false });
    const res = await client.get(query.apiPath);
    const serverNow = Date.now();
    if (!res.ok) {
      if (res.status === 400) ctx.res.statusCode = 400;
      return { props: { orders: [], errors: res.errors, serverNow, pager: pagerProps('/orders', query, null, { empty: true }) } };
    }
    const orders = Array.isArray(res.data) ? res.data : [];
    return {
      props: { orders, errors: null, serverNow, pager: pagerProps('/orders', query, res.headers, { empty: orders.length === 0 }) },
    };
  },
  { protect: true },
);
