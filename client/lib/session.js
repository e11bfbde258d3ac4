// getServerSideProps wrapper: every page learns who is signed in (for the header),
// and protected pages send anonymous visitors to the sign-in page on the server.
import { signinPath } from './format.js';
import { buildServerClient } from './server-api.js';

// The signed-in user, or null. A failing auth service must not take the site down:
// it counts as "signed out".
export async function loadCurrentUser(client) {
  const res = await client.get('/api/users/currentuser');
  return (res.ok && res.data && res.data.currentUser) || null;
}

export function withSession(handler, { protect = false } = {}) {
  return async (ctx) => {
    const client = buildServerClient(ctx.req);
    const currentUser = await loadCurrentUser(client);

    if (protect && !currentUser) {
      return { redirect: { destination: signinPath(ctx.resolvedUrl), permanent: false } };
    }

    const result = handler ? await handler(ctx, { client, currentUser }) : { props: {} };
    if (result && 'props' in result) {
      return { ...result, props: { ...result.props, currentUser } };
    }
    return result;
  };
}
