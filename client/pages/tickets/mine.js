import Link from 'next/link';
import ErrorList from '../../components/ErrorList.js';
import ListTable from '../../components/ListTable.js';
import PageTitle from '../../components/PageTitle.js';
import Pager from '../../components/Pager.js';
import { formatPrice, TICKET_STATE_LABELS } from '../../lib/format.js';
import { listQuery, pagerProps } from '../../lib/listing.js';
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

export default function MyTicketsPage({ tickets, errors, pager }) {
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
        <ListTable testId="my-tickets" columns={['Title', 'Price', 'State']}>
          {tickets.map((ticket) => (
            <tr key={ticket.id} data-ticket-id={ticket.id} data-state={ticket.state}>
              <td>{ticket.title}</td>
              <td>{formatPrice(ticket.price)}</td>
              <td>
                <TicketState state={ticket.state} />
              </td>
              <td>
                <Link href={`/tickets/${ticket.id}`} className="touch-link">
                  View<span className="visually-hidden"> {ticket.title}</span>
                </Link>
              </td>
            </tr>
          ))}
        </ListTable>
      )}
      <Pager label="My ticket pages" {...pager} />
    </>
  );
}

// Every ticket of the signed-in seller (reserved and sold ones too), newest first.
export const getServerSideProps = withSession(
  async (ctx, { client }) => {
    const query = listQuery(ctx.query, { fixed: { mine: 'true' } });
    const res = await client.get(query.apiPath);
    if (!res.ok) {
      if (res.status === 400) ctx.res.statusCode = 400;
      return { props: { tickets: [], errors: res.errors, pager: pagerProps('/tickets/mine', query, null, { empty: true }) } };
    }
    const tickets = Array.isArray(res.data) ? res.data : [];
    return {
      props: { tickets, errors: null, pager: pagerProps('/tickets/mine', query, res.headers, { drop: ['mine'], empty: tickets.length === 0 }) },
    };
  },
  { protect: true },
);
