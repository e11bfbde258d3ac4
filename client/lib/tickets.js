// Loads one ticket for a page; a missing or malformed one sets the HTTP status so the
// page still renders the header and the API's messages.
export async function loadTicket(ctx, client) {
  const id = String(ctx.params.ticketId);
  const res = await client.get(`/api/tickets/${encodeURIComponent(id)}`);
  if (!res.ok) {
    ctx.res.statusCode = res.status === 404 || res.status === 400 ? res.status : 502;
    return { ticket: null, errors: res.errors };
  }
  return { ticket: res.data, errors: null };
}
