import Link from 'next/link';
import ErrorList from '../../components/ErrorList.js';
import PageTitle from '../../components/PageTitle.js';
import Pager from '../../components/Pager.js';
import { formatPrice, TICKET_STATE_LABELS } from '../../lib/format.js';
import { firstPagePath, listQuery, nextPagePath } from '../../lib/listing.js';
import { withSession } from '../../lib/session.js';

const STATE_COLORS = {
  'for-sale': 'text-bg-success',
  reserved: 'text-bg-warning',
  sold: 'text-bg-secondary',
};

function TicketState({ state }) {
  return (
    <span className={`badge ${STATE_COLORS[state] || 'text-bg-light'}`} data-state={state}>
      {TICKET_STATE_LABELS[state] || state || 'Unknown'}
    </span>
  );
}

export default function MyTicketsPage({ tickets, errors, nextPage, firstPage, isFirstPage }) {
  return (
    <>
      <PageTitle title="My Tickets" />
      <div className="d-flex justify-content-between align-items-center mb-3">
        <h1 className="h2 mb-0">My Tickets</h1>
        <Link className="btn btn-primary" href="/tickets/new">
          Sell a ticket
        </Link>
      </div>
      <ErrorList errors={errors} title="Could not load your tickets" />
      {!errors && tickets.length === 0 && (
        <p className="text-muted" data-testid="no-tickets">
          You have not put any ticket up for sale yet.
        </p>
      )}
      {tickets.length > 0 && (
        <div className="table-responsive">
          <table className="table bg-white align-middle" data-testid="my-tickets">
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Price</th>
                <th scope="col">State</th>
                <th scope="col">Link</th>
              </tr>
            </thead>
            <tbody>
              {tickets.map((ticket) => (
                <tr key={ticket.id} data-ticket-id={ticket.id} data-state={ticket.state}>
                  <td>{ticket.title}</td>
                  <td>{formatPrice(ticket.price)}</td>
                  <td>
                    <TicketState state={ticket.state} />
                  </td>
                  <td>
                    <Link href={`/tickets/${ticket.id}`}>View</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager label="My ticket pages" firstPage={firstPage} nextPage={nextPage} isFirstPage={isFirstPage} />
    </>
  );
}

// Every ticket of the signed-in seller (reserved and sold ones too), newest first.
export const getServerSideProps = withSession(
  async (ctx, { client }) => {
    const { apiPath, isFirstPage, q, sort } = listQuery(ctx.query, { mine: 'true' });
    const base = { isFirstPage, firstPage: firstPagePath('/tickets/mine', { q, sort }) };
    const res = await client.get(apiPath);
    if (!res.ok) {
      if (res.status === 400) ctx.res.statusCode = 400;
      return { props: { ...base, tickets: [], errors: res.errors, nextPage: null } };
    }
    return {
      props: {
        ...base,
        tickets: Array.isArray(res.data) ? res.data : [],
        errors: null,
        nextPage: nextPagePath('/tickets/mine', res.headers, ['mine']),
      },
    };
  },
  { protect: true },
);
