// Loads one ticket for a page. A ticket that does not exist (or an id that cannot be one)
// is a 404 page that says so (notFound); any other failure keeps the API's messages,
// with 502 for the page.
export async function loadTicket(ctx, client) {
  const id = String(ctx.params.ticketId);
  const res = await client.get(`/api/tickets/${encodeURIComponent(id)}`);
  if (!res.ok) {
    const notFound = res.status === 404 || res.status === 400;
    ctx.res.statusCode = notFound ? 404 : 502;
    return { ticket: null, notFound, errors: res.errors };
  }
  return { ticket: res.data, notFound: false, errors: null };
}
