import { useRouter } from 'next/router';
import PageTitle from '../../components/PageTitle.js';
import TicketForm from '../../components/TicketForm.js';
import useRequest from '../../hooks/useRequest.js';
import { priceForApi } from '../../lib/format.js';
import { withSession } from '../../lib/session.js';

export default function NewTicketPage() {
  const router = useRouter();
  const { run, errors, pending } = useRequest();

  async function create({ title, price }) {
    const res = await run('post', '/api/tickets', { title, price: priceForApi(price) });
    if (res.ok) await router.push('/');
  }

  return (
    <>
      <PageTitle title="Sell a Ticket" />
      <h1 className="h2 mb-4">Sell a Ticket</h1>
      <TicketForm submitLabel="Submit" pendingLabel="Submitting…" onSubmit={create} errors={errors} pending={pending} />
    </>
  );
}

export const getServerSideProps = withSession(null, { protect: true });
