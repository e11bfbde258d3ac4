import 'bootstrap/dist/css/bootstrap.min.css';
import '../styles/globals.css';
import Head from 'next/head';
import Header from '../components/Header.js';

export default function App({ Component, pageProps }) {
  return (
    <>
      <Head>
        <title>GitTix</title>
        <meta name="viewport" content="width=device-width, initial-scale=1" />
      </Head>
      <Header currentUser={pageProps.currentUser || null} />
      <main className="container pb-5">
        <Component {...pageProps} />
      </main>
    </>
  );
}
