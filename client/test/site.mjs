// The built site for the tests that need a real server (headers.test.mjs): a
// production build (Turbopack, as the image makes it) in a folder of its own,
// test/.next (NEXT_DIST_DIR), so a running `npm start` or devstack keeps .next; it is
// rebuilt only when a source file is newer than the last test build. `next start`
// serves it on a free loopback port, in front of a fake API that answers the few
// calls the pages make while rendering.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const CLIENT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NEXT_BIN = path.join(CLIENT_DIR, 'node_modules', 'next', 'dist', 'bin', 'next');
export const DIST_DIR = path.join('test', '.next');
// Not sources of the build: what it makes, the dependencies, the tests (and *.md).
const NOT_SOURCES = new Set(['node_modules', '.next', '.git', 'test', 'e2e']);

// The last change to the sources: a file's content, or a folder's entries (a file
// added, removed or renamed).
function newestSource(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (NOT_SOURCES.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.isFile() && !entry.name.endsWith('.md')) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

function builtAt() {
  try {
    return statSync(path.join(CLIENT_DIR, DIST_DIR, 'BUILD_ID')).mtimeMs;
  } catch {
    return 0;
  }
}

function siteEnv(extra = {}) {
  return {
    ...process.env,
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
    NEXT_DIST_DIR: DIST_DIR,
    ...extra,
  };
}

// `next build` into test/.next unless that build is newer than every source file.
export async function buildSite() {
  if (builtAt() > newestSource(CLIENT_DIR)) return;
  const child = spawn(process.execPath, [NEXT_BIN, 'build'], {
    cwd: CLIENT_DIR,
    env: siteEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`next build failed (${code}):\n${output}`);
}

export async function freePort() {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

// A signed-in user (any request with a session cookie) who owns one ticket and has one
// open order: every page renders its full content (the order page its card form, when a
// Stripe key is set). Without the cookie, the visitor is anonymous.
export const FAKE = {
  user: { id: 'a'.repeat(24), email: 'csp@test.dev' },
  ticketId: 'b'.repeat(24),
  orderId: 'c'.repeat(24),
};

export async function startFakeApi() {
  const ticket = { id: FAKE.ticketId, title: 'CSP Concert', price: 25.5, userId: FAKE.user.id, version: 0 };
  const order = () => ({
    id: FAKE.orderId,
    status: 'created',
    userId: FAKE.user.id,
    expiresAt: new Date(Date.now() + 3600 * 1000).toISOString(),
    createdAt: new Date().toISOString(),
    ticket,
    version: 0,
  });
  const routes = {
    '/api/users/currentuser': (req) => ({ currentUser: /(^|;\s*)session=/.test(req.headers.cookie || '') ? FAKE.user : null }),
    '/api/tickets': () => [ticket],
    [`/api/tickets/${FAKE.ticketId}`]: () => ticket,
    '/api/orders': () => [order()],
    [`/api/orders/${FAKE.orderId}`]: order,
  };
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url, 'http://api.invalid').pathname];
    const [status, body] = req.method === 'GET' && route ? [200, route(req)] : [404, { errors: [{ message: 'Not Found' }] }];
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// `next start` of the test build. It runs in a process group of its own, which
// stop() ends (by its id).
export async function startSite(env = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [NEXT_BIN, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: CLIENT_DIR,
    env: siteEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit');
  const url = `http://127.0.0.1:${port}`;

  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${output}`);
    try {
      await fetch(`${url}/_next/static/not-a-file`, { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`next start did not answer at ${url}:\n${output}`);
      await delay(200);
    }
  }

  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10000);
      await exited;
      clearTimeout(timer);
    },
  };
}
