import 'bootstrap/dist/css/bootstrap.min.css';
import '../styles/globals.css';
import { useEffect, useState } from 'react';
import Head from 'next/head';
import { useRouter } from 'next/router';
import Header from '../components/Header.js';

// True while the router loads another page (its getServerSideProps runs on the server):
// from routeChangeStart to routeChangeComplete or routeChangeError. A change of the hash
// or of the query alone on the same page counts too; it ends as quickly.
function useNavigating() {
  const router = useRouter();
  const [navigating, setNavigating] = useState(false);
  useEffect(() => {
    const start = (url, { shallow } = {}) => {
      if (!shallow) setNavigating(true);
    };
    const end = () => setNavigating(false);
    router.events.on('routeChangeStart', start);
    router.events.on('routeChangeComplete', end);
    router.events.on('routeChangeError', end);
    return () => {
      router.events.off('routeChangeStart', start);
      router.events.off('routeChangeComplete', end);
      router.events.off('routeChangeError', end);
    };
  }, [router.events]);
  return navigating;
}

export default function App({ Component, pageProps }) {
  const navigating = useNavigating();
  return (
    <>
      <Head>
        <title>GitTix</title>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
      </Head>
      {/* The cue that another page is on its way: a thin bar along the top (drawn by
          styles/globals.css), and aria-busy on <main> for assistive technology. */}
      <div className={`route-progress${navigating ? ' active' : ''}`} aria-hidden="true" data-testid="route-progress" />
      <Header currentUser={pageProps.currentUser || null} />
      <main className="container pb-5" aria-busy={navigating ? 'true' : 'false'}>
        <Component {...pageProps} />
      </main>
    </>
  );
}
