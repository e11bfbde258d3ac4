import { useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from '../components/ErrorList.js';
import PageTitle from '../components/PageTitle.js';
import Pager from '../components/Pager.js';
import { formatPrice } from '../lib/format.js';
import { DEFAULT_SORT, firstPagePath, listQuery, nextPagePath, SORTS } from '../lib/listing.js';
import { withSession } from '../lib/session.js';

// Search and sort: a plain GET form (it works before the scripts load); once they have,
// submitting or changing the sort navigates on the client, to the first page.
function SearchForm({ q, sort }) {
  const router = useRouter();
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);

  function go(nextQ, nextSort) {
    router.push(firstPagePath('/', { q: nextQ.trim(), sort: nextSort }));
  }

  return (
    <form
      method="get"
      action="/"
      role="search"
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
        <button type="submit" className="btn btn-outline-primary w-100">
          Search
        </button>
      </div>
    </form>
  );
}

export default function LandingPage({ tickets, errors, currentUser, nextPage, firstPage, isFirstPage, q, sort }) {
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
      <Pager label="Ticket pages" firstPage={firstPage} nextPage={nextPage} isFirstPage={isFirstPage} />
    </>
  );
}

// Newest first (the site asks for it; the API's default is the original's order).
export const getServerSideProps = withSession(async (ctx, { client }) => {
  const { apiPath, isFirstPage, q, sort } = listQuery(ctx.query);
  const base = { q, sort: sort || DEFAULT_SORT, isFirstPage, firstPage: firstPagePath('/', { q, sort }) };
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
      nextPage: nextPagePath('/', res.headers),
    },
  };
});
