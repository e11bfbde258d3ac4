import Head from 'next/head';

export const SITE_NAME = 'GitTix';

// The document title of a page: "Tickets · GitTix". next/head keeps the last <title>
// rendered, so a page's title replaces the site-wide one of _app.js.
export function pageTitle(title) {
  return title ? `${title} · ${SITE_NAME}` : SITE_NAME;
}

export default function PageTitle({ title }) {
  return (
    <Head>
      <title>{pageTitle(title)}</title>
    </Head>
  );
}
