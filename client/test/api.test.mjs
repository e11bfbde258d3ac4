// Unit tests of the API helpers: no platform needed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { nextLink, toResult } from '../lib/api.js';
import { buildServerClient } from '../lib/server-api.js';
import { priceForApi, safeReturnPath, formatPrice } from '../lib/format.js';

describe('toResult', () => {
  const cases = [
    { name: 'success with JSON', status: 201, body: '{"id":"1"}', want: { ok: true, data: { id: '1' }, errors: null } },
    { name: 'success without a body', status: 204, body: '', want: { ok: true, data: null, errors: null } },
    {
      name: 'error envelope keeps messages and fields',
      status: 400,
      body: '{"errors":[{"message":"Title is required","field":"title"},{"message":"Price must be greater than 0","field":"price"}]}',
      want: {
        ok: false,
        data: null,
        errors: [
          { message: 'Title is required', field: 'title' },
          { message: 'Price must be greater than 0', field: 'price' },
        ],
      },
    },
    { name: 'gateway HTML error page', status: 502, body: '<html>bad gateway</html>', want: { ok: false, data: null } },
    { name: 'unexpected non-JSON error', status: 418, body: 'teapot', want: { ok: false, data: null, errors: [{ message: 'Request failed (HTTP 418)' }] } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = toResult(c.status, c.body);
      for (const [key, value] of Object.entries(c.want)) assert.deepEqual(got[key], value, key);
      if (!got.ok) assert.ok(got.errors.length > 0 && got.errors.every((e) => typeof e.message === 'string'));
    });
  }
});

describe('nextLink', () => {
  test('finds rel="next" among several links', () => {
    assert.equal(
      nextLink('</api/tickets?limit=2>; rel="first", </api/tickets?limit=2&cursor=abc>; rel="next"'),
      '/api/tickets?limit=2&cursor=abc',
    );
  });
  test('no header, no next', () => {
    assert.equal(nextLink(undefined), null);
    assert.equal(nextLink('</x>; rel="prev"'), null);
  });
});

describe('format helpers', () => {
  test('prices show two decimals', () => {
    assert.equal(formatPrice(19.9), '$19.90');
    assert.equal(formatPrice('20'), '$20.00');
  });
  test('numeric input goes to the API as a number, anything else as typed', () => {
    assert.equal(priceForApi(' 19.99 '), 19.99);
    assert.equal(priceForApi(''), '');
    assert.equal(priceForApi('abc'), 'abc');
  });
  test('only local paths are followed after sign-in', () => {
    assert.equal(safeReturnPath('/orders'), '/orders');
    assert.equal(safeReturnPath('/orders?sort=newest#top'), '/orders?sort=newest#top');
    const attempts = ['//evil.example', 'https://evil.example', '/\\evil.example', undefined, ['/a'],
      // What a browser reads as //evil.example once it drops tabs and newlines.
      '/\t/evil.example', '/\n/evil.example', '/\r/evil.example', '\t//evil.example', '/\u0000/evil.example'];
    for (const bad of attempts) {
      assert.equal(safeReturnPath(bad), '/');
    }
  });
});

describe('buildServerClient', () => {
  let server;
  let seen;
  const savedBase = process.env.API_BASE_URL;

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, headers: req.headers, body };
        if (req.url === '/api/tickets') {
          res.writeHead(200, { 'content-type': 'application/json', link: '</api/tickets?cursor=c>; rel="next"' });
          res.end('[]');
        } else {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end('{"errors":[{"message":"Not authorized"}]}');
        }
      });
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env.API_BASE_URL = `http://127.0.0.1:${server.address().port}`;
  });

  after(() => {
    process.env.API_BASE_URL = savedBase;
    server.close();
  });

  test('forwards the browser cookie, host and trace context to API_BASE_URL', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const req = {
      headers: { cookie: 'session=abc', host: 'ticketing.dev', 'user-agent': 'x', traceparent, tracestate: 'a=1' },
    };
    const res = await buildServerClient(req).get('/api/tickets');
    assert.equal(res.ok, true);
    assert.deepEqual(res.data, []);
    assert.equal(nextLink(res.headers.link), '/api/tickets?cursor=c');
    assert.equal(seen.headers.cookie, 'session=abc');
    assert.equal(seen.headers.host, 'ticketing.dev');
    assert.equal(seen.headers.traceparent, traceparent);
    assert.equal(seen.headers.tracestate, 'a=1');
    assert.equal(seen.headers['user-agent'], undefined);
  });

  test('sends JSON bodies and returns the error envelope', async () => {
    const res = await buildServerClient({ headers: {} }).post('/api/orders', { ticketId: 't' });
    assert.equal(seen.method, 'POST');
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(seen.body), { ticketId: 't' });
    assert.equal(res.status, 401);
    assert.deepEqual(res.errors, [{ message: 'Not authorized' }]);
  });

  test('an unreachable API resolves to an error, never throws', async () => {
    process.env.API_BASE_URL = 'http://127.0.0.1:9';
    const res = await buildServerClient({ headers: {} }).get('/api/users/currentuser');
    assert.equal(res.ok, false);
    assert.equal(res.status, 0);
    assert.equal(res.errors.length, 1);
    process.env.API_BASE_URL = `http://127.0.0.1:${server.address().port}`;
  });
});
