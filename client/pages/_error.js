// The site's error page: "Page not found" for an unknown address (404), "Something went
// wrong" otherwise. Its own getInitialProps is what makes Next render the 404 and 500
// pages on each request instead of prerendering them at build time (pages/404.js would
// be prerendered): a prerendered page has no request, so its scripts could not carry
// the request's nonce and the Content-Security-Policy would refuse them.
import Link from 'next/link';
import NotFound from '../components/NotFound.js';
import PageTitle from '../components/PageTitle.js';

export default function ErrorPage({ statusCode }) {
  if (statusCode === 404) {
    return (
      <NotFound>
        <p>There is no page at this address. The link may be mistyped, or the page may have moved.</p>
      </NotFound>
    );
  }
  return (
    <div className="page-narrow">
      <PageTitle title="Error" />
      <h1 className="h2 mb-3">Something went wrong</h1>
      <p>This page could not be shown{statusCode ? ` (error ${statusCode})` : ''}. Please try again in a moment.</p>
      <Link className="btn btn-primary" href="/">
        Browse tickets for sale
      </Link>
    </div>
  );
}

ErrorPage.getInitialProps = async ({ req, res, err }) => {
  const statusCode = res ? res.statusCode : err ? err.statusCode || 500 : 404;
  // The header shows who is signed in, as on every other page. Only on the server:
  // session.js brings node:http, which must stay out of the browser's bundle (see
  // lib/format.js), and `typeof window` is replaced at build time, so this branch and
  // its import are dropped from the browser's code.
  let currentUser = null;
  if (typeof window === 'undefined' && req) {
    const [{ buildServerClient }, { loadCurrentUser }] = await Promise.all([
      import('../lib/server-api.js'),
      import('../lib/session.js'),
    ]);
    currentUser = await loadCurrentUser(buildServerClient(req));
  }
  return { statusCode, currentUser };
};
