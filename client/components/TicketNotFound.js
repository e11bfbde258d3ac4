import NotFound from './NotFound.js';

export default function TicketNotFound() {
  return (
    <NotFound title="Ticket not found">
      <p>There is no such ticket. The link may be wrong, or the ticket may no longer be listed.</p>
    </NotFound>
  );
}
