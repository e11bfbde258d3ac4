import Link from 'next/link';
import ErrorList from '../../components/ErrorList.js';
import PageTitle from '../../components/PageTitle.js';
import StatusBadge from '../../components/StatusBadge.js';
import { formatPrice } from '../../lib/format.js';
import { withSession } from '../../lib/session.js';

export default function OrdersPage({ orders, errors }) {
  return (
    <>
      <PageTitle title="My Orders" />
      <h1 className="h2 mb-3">My Orders</h1>
      <ErrorList errors={errors} title="Could not load your orders" />
      {!errors && orders.length === 0 && <p className="text-muted">You have no orders yet.</p>}
      {orders.length > 0 && (
        <div className="table-responsive">
          <table className="table bg-white align-middle" data-testid="orders">
            <thead>
              <tr>
                <th scope="col">Ticket</th>
                <th scope="col">Price</th>
                <th scope="col">Status</th>
                <th scope="col">Link</th>
              </tr>
            </thead>
            <tbody>
              {orders.map((order) => (
                <tr key={order.id} data-order-id={order.id} data-status={order.status}>
                  <td>{order.ticket ? order.ticket.title : ''}</td>
                  <td>{order.ticket ? formatPrice(order.ticket.price) : ''}</td>
                  <td>
                    <StatusBadge status={order.status} />
                  </td>
                  <td>
                    <Link href={`/orders/${order.id}`}>View</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export const getServerSideProps = withSession(
  async (ctx, { client }) => {
    const res = await client.get('/api/orders');
    if (!res.ok) return { props: { orders: [], errors: res.errors } };
    // Newest first is what a person looks for; the API answers oldest first.
    const orders = Array.isArray(res.data) ? [...res.data].reverse() : [];
    return { props: { orders, errors: null } };
  },
  { protect: true },
);
