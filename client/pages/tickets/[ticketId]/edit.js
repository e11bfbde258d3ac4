import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from '../../../components/ErrorList.js';
import PageTitle from '../../../components/PageTitle.js';
import TicketForm from '../../../components/TicketForm.js';
import TicketNotFound from '../../../components/TicketNotFound.js';
import useRequest from '../../../hooks/useRequest.js';
import { priceForApi } from '../../../lib/format.js';
import { withSession } from '../../../lib/session.js';
import { loadTicket } from '../../../lib/tickets.js';

export default function EditTicketPage({ ticket, notFound, errors: loadErrors }) {
  const router = useRouter();
  const { run, errors, pending } = useRequest();

  if (!ticket) {
    if (notFound) return <TicketNotFound />;
    return (
      <>
        <PageTitle title="Cannot edit ticket" />
        <h1 className="h2 mb-4">Edit Ticket</h1>
        <ErrorList errors={loadErrors} title="Cannot edit this ticket" />
        <Link href="/">Back to all tickets</Link>
      </>
    );
  }

  async function save({ title, price }) {
    const res = await run('put', `/api/tickets/${ticket.id}`, { title, price: priceForApi(price) });
    if (res.ok) await router.push(`/tickets/${ticket.id}`);
  }

  return (
    <>
      <PageTitle title={`Edit ${ticket.title}`} />
      <h1 className="h2 mb-4">Edit Ticket</h1>
      <TicketForm
        initialTitle={ticket.title}
        initialPrice={ticket.price}
        submitLabel="Save"
        pendingLabel="Saving…"
        onSubmit={save}
        errors={errors}
        pending={pending}
      />
      <Link className="d-inline-flex mt-3 touch-link" href={`/tickets/${ticket.id}`}>
        Cancel
      </Link>
    </>
  );
}

// Only the owner of a ticket that is not reserved gets the form; the API enforces the
// same rules, this just spares the user a form that cannot succeed.
export const getServerSideProps = withSession(
  async (ctx, { client, currentUser }) => {
    const { ticket, notFound, errors } = await loadTicket(ctx, client);
    if (!ticket) return { props: { ticket: null, notFound, errors } };
    if (ticket.userId !== currentUser.id) {
      ctx.res.statusCode = 403;
      return { props: { ticket: null, errors: [{ message: 'You can only edit your own tickets' }] } };
    }
    if (ticket.orderId) {
      ctx.res.statusCode = 409;
      return { props: { ticket: null, errors: [{ message: 'Cannot edit a reserved ticket' }] } };
    }
    return { props: { ticket, errors: null } };
  },
  { protect: true },
);
