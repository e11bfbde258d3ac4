import { useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from '../components/ErrorList.js';
import ListTable from '../components/ListTable.js';
import PendingButton from '../components/PendingButton.js';
import PageTitle from '../components/PageTitle.js';
import Pager from '../components/Pager.js';
import { formatPrice } from '../lib/format.js';
import { DEFAULT_SORT, firstPagePath, listQuery, pagerProps, SORTS } from '../lib/listing.js';
import { withSession } from '../lib/session.js';

// Search and sort: a plain GET form (it works before the scripts load); once they have,
// submitting or changing the sort navigates on the client, to the first page, and the
// Search button shows it is busy until the results are there.
function SearchForm({ q, sort }) {
  const router = useRouter();
  const [text, setText] = useState(q);
  const [searching, setSearching] = useState(false);
  useEffect(() => setText(q), [q]);

  async function go(nextQ, nextSort) {
    setSearching(true);
    try {
      await router.push(firstPagePath('/', { q: nextQ.trim(), sort: nextSort }));
    } finally {
      setSearching(false);
    }
  }

  return (
    <form
      method="get"
      action="/"
      role="search"
      aria-busy={searching ? 'true' : undefined}
      className="row g-2 align-items-end mb-3"
      onSubmit={(event) => {
        event.preventDefault();
        go(text, sort);
      }}
    >
      <div className="col-12 col-sm">
        <label htmlFor="q" className="form-label small mb-1">
          Search titles
        </label>
        <input
          id="q"
          name="q"
          type="search"
          className="form-control"
          maxLength={100}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      <div className="col-8 col-sm-auto">
        <label htmlFor="sort" className="form-label small mb-1">
          Sort
        </label>
        <select id="sort" name="sort" className="form-select" value={sort} onChange={(e) => go(text, e.target.value)}>
          {SORTS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </div>
      <div className="col-4 col-sm-auto">
        <PendingButton type="submit" className="btn btn-outline-primary w-100" pending={searching} pendingLabel="Searching…">
          Search
        </PendingButton>
      </div>
    </form>
  );
}

export default function LandingPage({ tickets, errors, currentUser, pager, q, sort }) {
  return (
    <>
      <PageTitle title={q ? `Tickets matching “${q}”` : 'Tickets'} />
      <div className="d-flex justify-content-between align-items-center mb-3">
        <h1 className="h2 mb-0">Tickets</h1>
        {currentUser && (
          <Link className="btn btn-primary" href="/tickets/new">
            Sell a ticket
          </Link>
        )}
      </div>
      <SearchForm q={q} sort={sort} />
      <ErrorList errors={errors} title="Could not load the tickets" />
      {!errors && tickets.length === 0 && (
        <p className="text-muted" data-testid="no-tickets">
          {q ? `No tickets for sale match “${q}”.` : 'No tickets for sale right now.'}
        </p>
      )}
      {tickets.length > 0 && (
        <ListTable testId="tickets" columns={['Title', 'Price']} hover>
          {tickets.map((ticket) => (
            <tr key={ticket.id} data-ticket-id={ticket.id}>
              <td>{ticket.title}</td>
              <td>{formatPrice(ticket.price)}</td>
              <td>
                <Link href={`/tickets/${ticket.id}`} className="touch-link">
                  View<span className="visually-hidden"> {ticket.title}</span>
                </Link>
              </td>
            </tr>
          ))}
        </ListTable>
      )}
      <Pager label="Ticket pages" {...pager} />
    </>
  );
}

// Newest first (the site asks for it; the API's default is the original's order).
export const getServerSideProps = withSession(async (ctx, { client }) => {
  const query = listQuery(ctx.query);
  const base = { q: query.q, sort: query.sort || DEFAULT_SORT };
  const res = await client.get(query.apiPath);
  if (!res.ok) {
    if (res.status === 400) ctx.res.statusCode = 400;
    return { props: { ...base, tickets: [], errors: res.errors, pager: pagerProps('/', query, null, { empty: true }) } };
  }
  const tickets = Array.isArray(res.data) ? res.data : [];
  return {
    props: { ...base, tickets, errors: null, pager: pagerProps('/', query, res.headers, { empty: tickets.length === 0 }) },
  };
});
