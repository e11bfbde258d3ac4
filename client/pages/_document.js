import Document, { Html, Head, Main, NextScript } from 'next/document';
import { isValidNonce, NONCE_HEADER } from '../lib/csp.js';

// The nonce proxy.js made for this request (see lib/csp.js) goes on every <script>
// Next writes: the inline bootstrap of the page's chunks, the chunks, __NEXT_DATA__.
// Without a request (nothing here is prerendered, see _error.js) there is no nonce.
function requestNonce(req) {
  const value = req && req.headers ? req.headers[NONCE_HEADER] : undefined;
  return isValidNonce(value) ? value : undefined;
}

export default class AppDocument extends Document {
  static async getInitialProps(ctx) {
    const initialProps = await Document.getInitialProps(ctx);
    return { ...initialProps, nonce: requestNonce(ctx.req) };
  }

  render() {
    const { nonce } = this.props;
    return (
      <Html lang="en">
        <Head nonce={nonce} />
        <body className="bg-light">
          <Main />
          <NextScript nonce={nonce} />
        </body>
      </Html>
    );
  }
}
