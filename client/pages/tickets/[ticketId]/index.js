import { useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from '../../../components/ErrorList.js';
import PageTitle from '../../../components/PageTitle.js';
import PendingButton from '../../../components/PendingButton.js';
import TicketNotFound from '../../../components/TicketNotFound.js';
import useRequest from '../../../hooks/useRequest.js';
import { formatPrice, signinPath } from '../../../lib/format.js';
import { withSession } from '../../../lib/session.js';
import { loadTicket } from '../../../lib/tickets.js';

// Orders learns about a new ticket from an event, so an order for a ticket created a
// moment ago can answer 404 briefly; retry a few times before showing the error.
const ORDER_RETRY_DELAYS_MS = [300, 700, 1500, 2500];

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export default function TicketShowPage({ ticket, notFound, errors: loadErrors, currentUser }) {
  const router = useRouter();
  const { run, errors } = useRequest();
  // Pending across the retries, so the button stays busy between them.
  const [purchasing, setPurchasing] = useState(false);

  if (!ticket) {
    if (notFound) return <TicketNotFound />;
    return (
      <>
        <PageTitle title="Ticket unavailable" />
        <h1 className="h2 mb-4">Ticket</h1>
        <ErrorList errors={loadErrors} title="Could not load this ticket" />
        <Link href="/">Back to all tickets</Link>
      </>
    );
  }

  async function purchase() {
    setPurchasing(true);
    let res = await run('post', '/api/orders', { ticketId: ticket.id });
    for (const delay of ORDER_RETRY_DELAYS_MS) {
      if (res.ok || res.status !== 404) break;
      await wait(delay);
      res = await run('post', '/api/orders', { ticketId: ticket.id });
    }
    if (res.ok) await router.push(`/orders/${res.data.id}`);
    else setPurchasing(false);
  }

  const isOwner = Boolean(currentUser && currentUser.id === ticket.userId);
  const isReserved = Boolean(ticket.orderId);

  return (
    <>
      <p className="mb-3">
        <Link href="/" className="touch-link" data-testid="back-to-list">
          <span aria-hidden="true" className="me-1">←</span>
          Back to all tickets
        </Link>
      </p>
      <div className="card page-narrow">
        <PageTitle title={`${ticket.title} · Ticket`} />
        <div className="card-body">
          <h1 className="card-title h2" data-testid="ticket-title">
            {ticket.title}
          </h1>
          <p className="card-subtitle h4 mb-3 text-body-secondary" data-testid="ticket-price">
            Price: {formatPrice(ticket.price)}
          </p>
          {isReserved && <p className="text-warning-emphasis">This ticket is reserved.</p>}
          <ErrorList errors={errors} />
          {!currentUser && (
            <Link className="btn btn-primary" href={signinPath(`/tickets/${ticket.id}`)}>
              Sign in to purchase
            </Link>
          )}
          {currentUser && !isOwner && !isReserved && (
            <PendingButton onClick={purchase} pending={purchasing} pendingLabel="Reserving your ticket…">
              Purchase
            </PendingButton>
          )}
          {isOwner && (
            <div className="d-flex align-items-center gap-3">
              <span className="text-body-secondary">This is your ticket.</span>
              {!isReserved && (
                <Link className="btn btn-outline-primary" href={`/tickets/${ticket.id}/edit`}>
                  Edit
                </Link>
              )}
            </div>
          )}
        </div>
      </div>
    </>
  );
}

export const getServerSideProps = withSession(async (ctx, { client }) => ({
  props: await loadTicket(ctx, client),
}));
