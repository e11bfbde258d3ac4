// Next's own error page, rendered per request. Its own getInitialProps is what makes
// Next render the 404 and 500 pages on each request instead of prerendering them at
// build time: a prerendered page has no request, so its scripts could not carry the
// request's nonce and the Content-Security-Policy would refuse them.
import NextError from 'next/error';
import PageTitle from '../components/PageTitle.js';

export default function ErrorPage({ statusCode }) {
  // After NextError's own <title> ("404: This page could not be found"): the last wins.
  return (
    <>
      <NextError statusCode={statusCode} />
      <PageTitle title={statusCode === 404 ? 'Page not found' : 'Error'} />
    </>
  );
}

ErrorPage.getInitialProps = ({ res, err }) => {
  const statusCode = res ? res.statusCode : err ? err.statusCode || 500 : 404;
  return { statusCode };
};
