// The trace viewer in headless Chromium: opens /trace/<id> and finds every service
// of the trace in its summary and its waterfall, then the search page of a service
// and the link back to the trace; saves a screenshot of each. Run by traceui's
// TestViewerInChromium (go test ./devstack/traceui/), or by hand against a
// running viewer:
//
//   TRACEUI_URL=http://localhost:PORT TRACE_ID=<id> TRACE_SERVICES=auth,orders \
//   CLIENT_DIR=client SCREENSHOT_DIR=/tmp/shots node devstack/traceui/testdata/trace_page.mjs
//
// playwright-core comes from the client's node_modules (CLIENT_DIR), the browser
// from CHROMIUM_PATH (/usr/bin/chromium): nothing is downloaded.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] || fallback;
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const BASE = env('TRACEUI_URL').replace(/\/$/, '');
const TRACE_ID = env('TRACE_ID');
const SERVICES = env('TRACE_SERVICES').split(',').filter(Boolean);
const CLIENT_DIR = path.resolve(env('CLIENT_DIR'));
const SHOTS = env('SCREENSHOT_DIR');

const { chromium } = createRequire(path.join(CLIENT_DIR, 'package.json'))('playwright-core');

function check(ok, message) {
  if (!ok) throw new Error(message);
}

const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Content-Security-Policy violations and script errors fail the check.
  await context.exposeBinding('__cspViolation', (_source, v) => problems.push(`CSP: ${JSON.stringify(v)}`));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolation({ directive: e.effectiveDirective, blocked: e.blockedURI, source: `${e.sourceFile}:${e.lineNumber}` });
    }, true);
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  mkdirSync(SHOTS, { recursive: true });

  // One trace.
  const res = await page.goto(`${BASE}/trace/${TRACE_ID}`);
  check(res.ok(), `GET /trace/${TRACE_ID}: ${res.status()}`);
  const summary = page.locator('#summary');
  await summary.waitFor();
  const text = (await summary.textContent()).trim();
  check(text.startsWith(`${SERVICES.length} services: `), `summary "${text}" does not count ${SERVICES.length} services`);
  for (const s of SERVICES) {
    check(text.includes(s), `summary "${text}" does not name ${s}`);
    const cells = page.locator('table.waterfall td.svc', { hasText: s });
    check((await cells.count()) > 0, `no span of ${s} in the waterfall`);
    check(await cells.first().isVisible(), `${s}'s span is not visible`);
  }
  const h1 = await page.locator('h1').allTextContents();
  check(h1.length === 1 && h1[0].includes(TRACE_ID), `want one h1 naming the trace, got ${JSON.stringify(h1)}`);
  const title = await page.title();
  check(/trace/i.test(title), `title "${title}" does not say trace`);
  const depths = await page.locator('table.waterfall tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.depth)));
  check(depths.length >= SERVICES.length, `${depths.length} rows in the waterfall`);
  check(depths[0] === 0 && Math.max(...depths) > 0, `no nesting in the waterfall: depths ${depths}`);
  const bars = await page.locator('table.waterfall .bar').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().width));
  check(bars.every((w) => w > 0), `a waterfall bar has no width: ${bars}`);
  // A span's details open from its operation.
  await page.locator('table.waterfall td.op summary').first().click();
  await page.locator('table.waterfall details[open] dl.tags dt').first().waitFor();
  const shown = await page.locator('main').innerText();
  check(!shown.includes('[object '), 'the page shows an object where text belongs');
  await page.screenshot({ path: path.join(SHOTS, 'trace.png'), fullPage: true });
  console.log(`trace page: "${title}"; ${text}; ${depths.length} spans, depths ${depths.join(',')}`);

  // The search of one service lists the trace and links to it.
  const service = SERVICES[SERVICES.length - 1];
  await page.goto(`${BASE}/?service=${encodeURIComponent(service)}`);
  const link = page.locator(`table.traces a[href="/trace/${TRACE_ID}"]`);
  await link.waitFor();
  const unlabelled = await page.locator('input, select').evaluateAll((els) =>
    els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map((e) => e.id || e.name));
  check(unlabelled.length === 0, `form controls without a label: ${unlabelled}`);
  const listed = await page.locator('table.traces').innerText();
  check(!listed.includes('[object ') && SERVICES.every((s) => listed.includes(s)), `the list shows ${JSON.stringify(listed)}`);
  const h2 = await page.locator('h2').allTextContents();
  check(h2.includes('Services') && h2.some((h) => h.includes(service)), `headings ${JSON.stringify(h2)}`);
  await page.screenshot({ path: path.join(SHOTS, 'search.png'), fullPage: true });
  // Narrowed to one of its operations (the first listed), the search still finds it.
  const operations = await page.locator('#operation option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  check(operations.length > 0, `no operations listed for ${service}`);
  await page.locator('#operation').selectOption(operations[0]);
  await page.getByRole('button', { name: 'Find traces' }).click();
  await page.waitForURL((u) => u.searchParams.get('operation') === operations[0]);
  await link.waitFor();
  await link.click();
  await page.locator('#summary').waitFor();
  check(new URL(page.url()).pathname === `/trace/${TRACE_ID}`, `the link led to ${page.url()}`);

  // Opening by id from the header's form.
  await page.goto(`${BASE}/`);
  await page.getByLabel('Trace id').fill(TRACE_ID);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.locator('#summary').waitFor();
  console.log(`search page of ${service} lists the trace; the header opens it by id; screenshots in ${SHOTS}`);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
