// Server-side counterpart of ./api.js, used only from getServerSideProps.
//
// Requests go to the gateway/ingress at API_BASE_URL (in Kubernetes, the ingress
// controller's in-cluster address) with the browser's cookie and Host header, so the
// ingress routes them by host and the services see the user's session. node:http is
// used rather than fetch because fetch does not let a caller set Host.
import http from 'node:http';
import https from 'node:https';
import { toResult, unavailableResult } from './api.js';

const DEFAULT_BASE_URL = 'http://localhost:8080';
const SERVER_TIMEOUT_MS = 10000;
const MAX_BODY_BYTES = 5 * 1024 * 1024;

function baseUrl() {
  return process.env.API_BASE_URL || DEFAULT_BASE_URL;
}

function send(req, method, path, body) {
  const url = new URL(path, baseUrl());
  const transport = url.protocol === 'https:' ? https : http;
  const headers = { Accept: 'application/json' };
  if (req && req.headers) {
    if (req.headers.cookie) headers.Cookie = req.headers.cookie;
    if (req.headers.host) headers.Host = req.headers.host;
    // The page request's trace context goes on, so its API calls join its trace
    // (the services validate it: a malformed one starts a new trace).
    if (req.headers.traceparent) headers.traceparent = req.headers.traceparent;
    if (req.headers.tracestate) headers.tracestate = req.headers.tracestate;
  }
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body));
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(payload.length);
  }

  return new Promise((resolve) => {
    const outgoing = transport.request(url, { method, headers, timeout: SERVER_TIMEOUT_MS }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          res.destroy();
          resolve(unavailableResult());
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        const result = toResult(res.statusCode, Buffer.concat(chunks).toString('utf8'));
        resolve({ ...result, headers: res.headers });
      });
      res.on('error', () => resolve(unavailableResult()));
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', () => resolve(unavailableResult()));
    outgoing.end(payload);
  });
}

export function buildServerClient(req) {
  return {
    get: (path) => send(req, 'GET', path),
    post: (path, body) => send(req, 'POST', path, body ?? {}),
    put: (path, body) => send(req, 'PUT', path, body ?? {}),
    del: (path) => send(req, 'DELETE', path),
  };
}
