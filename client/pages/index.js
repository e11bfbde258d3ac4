import Link from 'next/link';
import ErrorList from '../components/ErrorList.js';
import { nextLink } from '../lib/api.js';
import { formatPrice } from '../lib/format.js';
import { withSession } from '../lib/session.js';

export default function LandingPage({ tickets, errors, currentUser, nextPage, isFirstPage }) {
  return (
    <>
      <div className="d-flex justify-content-between align-items-center mb-3">
        <h1 className="h2 mb-0">Tickets</h1>
        {currentUser && (
          <Link className="btn btn-primary" href="/tickets/new">
            Sell a ticket
          </Link>
        )}
      </div>
      <ErrorList errors={errors} title="Could not load the tickets" />
      {!errors && tickets.length === 0 && (
        <p className="text-muted" data-testid="no-tickets">
          No tickets for sale right now.
        </p>
      )}
      {tickets.length > 0 && (
        <div className="table-responsive">
          <table className="table table-hover bg-white align-middle" data-testid="tickets">
            <thead>
              <tr>
                <th scope="col">Title</th>
                <th scope="col">Price</th>
                <th scope="col">Link</th>
              </tr>
            </thead>
            <tbody>
              {tickets.map((ticket) => (
                <tr key={ticket.id} data-ticket-id={ticket.id}>
                  <td>{ticket.title}</td>
                  <td>{formatPrice(ticket.price)}</td>
                  <td>
                    <Link href={`/tickets/${ticket.id}`}>View</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {(nextPage || !isFirstPage) && (
        <nav aria-label="Ticket pages" className="d-flex gap-2">
          {!isFirstPage && (
            <Link className="btn btn-outline-secondary btn-sm" href="/">
              First page
            </Link>
          )}
          {nextPage && (
            <Link className="btn btn-outline-secondary btn-sm" href={nextPage} data-testid="next-page">
              Next page
            </Link>
          )}
        </nav>
      )}
    </>
  );
}

// The page's query string is the API's (limit, cursor), so the API's rel="next" link maps
// onto this page's own next link without knowing what the cursor looks like.
export const getServerSideProps = withSession(async (ctx, { client }) => {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(ctx.query)) {
    if (typeof value === 'string') query.set(key, value);
  }
  const qs = query.toString();
  const res = await client.get(`/api/tickets${qs ? `?${qs}` : ''}`);
  const isFirstPage = qs === '';
  if (!res.ok) return { props: { tickets: [], errors: res.errors, nextPage: null, isFirstPage } };

  const next = nextLink(res.headers && res.headers.link);
  const nextPage = next ? `/?${new URL(next, 'http://api.invalid').searchParams.toString()}` : null;
  return {
    props: { tickets: Array.isArray(res.data) ? res.data : [], errors: null, nextPage, isFirstPage },
  };
});
