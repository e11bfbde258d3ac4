// devstack's trace viewer: the services, their recent traces, and one trace as a
// waterfall of its spans, read from Jaeger's query API at /api/ (the same origin:
// devstack's viewer proxies it, and Jaeger serves this page too). Plain DOM, no
// inline script or style (the page's Content-Security-Policy allows neither).
'use strict';

(() => {
  const main = document.getElementById('main');

  const LOOKBACKS = [
    ['15m', 'Last 15 minutes', 15 * 60e3],
    ['1h', 'Last hour', 60 * 60e3],
    ['6h', 'Last 6 hours', 6 * 60 * 60e3],
    ['24h', 'Last 24 hours', 24 * 60 * 60e3],
  ];
  const PALETTE_SIZE = 8;

  // el('a', {href: '/', class: 'x'}, 'text', node…): an element with attributes and children.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(path) {
    let res;
    try {
      res = await fetch('/api' + path, { headers: { Accept: 'application/json' } });
    } catch (err) {
      throw new ApiError(`The trace viewer is not answering (${err.message})`, 0);
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      // not JSON: the status says enough
    }
    if (!res.ok) {
      const msg = (body && body.errors && body.errors[0] && body.errors[0].msg) || `${res.status} ${res.statusText}`;
      throw new ApiError(msg, res.status);
    }
    return body || {};
  }

  function formatDuration(us) {
    if (!Number.isFinite(us)) return '?';
    if (us < 1000) return `${Math.round(us)} µs`;
    if (us < 10e3) return `${(us / 1e3).toFixed(2)} ms`;
    if (us < 1e6) return `${(us / 1e3).toFixed(1)} ms`;
    if (us < 60e6) return `${(us / 1e6).toFixed(2)} s`;
    return `${Math.floor(us / 60e6)} min ${Math.round((us % 60e6) / 1e6)} s`;
  }

  function formatTime(us) {
    const d = new Date(us / 1000);
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  function plural(n, one, many) {
    return `${n} ${n === 1 ? one : many}`;
  }

  function tagValue(tags, key) {
    const t = (tags || []).find((x) => x.key === key);
    return t ? t.value : undefined;
  }

  function isError(span) {
    const e = tagValue(span.tags, 'error');
    return e === true || e === 'true' || tagValue(span.tags, 'otel.status_code') === 'ERROR';
  }

  // The trace as the page shows it: its spans in tree order (each after its parent,
  // siblings by start time) with their depth, and its services by first appearance.
  function model(trace) {
    const processes = trace.processes || {};
    const nodes = new Map();
    for (const span of trace.spans || []) {
      const p = processes[span.processID];
      nodes.set(span.spanID, { span, service: (p && p.serviceName) || 'unknown', children: [], depth: 0, parent: null });
    }
    const roots = [];
    for (const n of nodes.values()) {
      const ref = (n.span.references || []).find((r) => r.spanID !== n.span.spanID && nodes.has(r.spanID));
      if (ref) {
        n.parent = nodes.get(ref.spanID);
        n.parent.children.push(n);
      } else {
        n.orphan = (n.span.references || []).length > 0; // its parent never arrived
        roots.push(n);
      }
    }
    const byStart = (a, b) => a.span.startTime - b.span.startTime;
    const ordered = [];
    const seen = new Set();
    const visit = (n, depth) => {
      if (seen.has(n)) return;
      seen.add(n);
      n.depth = depth;
      ordered.push(n);
      n.children.sort(byStart).forEach((c) => visit(c, depth + 1));
    };
    roots.sort(byStart).forEach((r) => visit(r, 0));
    for (const n of nodes.values()) visit(n, 0); // a cycle of references has no root
    let start = Infinity;
    let end = -Infinity;
    const firstSeen = new Map();
    for (const n of ordered) {
      start = Math.min(start, n.span.startTime);
      end = Math.max(end, n.span.startTime + n.span.duration);
      const t = firstSeen.get(n.service);
      if (t === undefined || n.span.startTime < t) firstSeen.set(n.service, n.span.startTime);
    }
    const services = [...firstSeen.keys()].sort((a, b) => firstSeen.get(a) - firstSeen.get(b));
    const color = new Map(services.map((s, i) => [s, i % PALETTE_SIZE]));
    const root = ordered[0];
    return {
      id: trace.traceID,
      nodes: ordered,
      root,
      services,
      color,
      start,
      duration: Math.max(end - start, 0),
      errors: ordered.filter((n) => isError(n.span)).length,
      warnings: trace.warnings || [],
    };
  }

  function clear() {
    main.replaceChildren();
  }

  function status(text, kind) {
    return el('p', { id: 'status', role: kind === 'error' ? 'alert' : 'status', class: kind ? `status ${kind}` : 'status' }, text);
  }

  function serviceChip(m, service) {
    return el('span', { class: `chip c${m.color.get(service)}` }, service);
  }

  // ---- the home page: services, search, recent traces ----

  async function home(params) {
    const open = params.get('trace');
    if (open) {
      location.replace('/trace/' + encodeURIComponent(open.trim()));
      return;
    }
    const service = params.get('service') || '';
    const operation = params.get('operation') || '';
    const lookback = LOOKBACKS.find((l) => l[0] === params.get('lookback')) || LOOKBACKS[1];
    const limit = Math.min(Math.max(parseInt(params.get('limit'), 10) || 20, 1), 200);
    document.title = service ? `${service} · Traces · ticketing` : 'Traces · ticketing';

    let services;
    try {
      services = ((await api('/services')).data || []).slice().sort();
    } catch (err) {
      clear();
      main.append(el('h1', { text: 'Traces' }), status(`${err.message}. Trying again…`, 'waiting'));
      setTimeout(() => home(params), 3000);
      return;
    }
    clear();
    main.append(el('h1', { text: service ? `Traces of ${service}` : 'Traces' }));

    const list = el('section', { 'aria-labelledby': 'services-h' }, el('h2', { id: 'services-h', text: 'Services' }));
    if (services.length === 0) {
      list.append(status('No traces yet: use the site, then reload this page. The services send their spans every half second.'));
    } else {
      list.append(
        el('ul', { class: 'services' },
          services.map((s) => el('li', {},
            el('a', { href: `/?service=${encodeURIComponent(s)}`, 'aria-current': s === service ? 'page' : undefined }, s)))),
      );
    }
    main.append(list);
    if (services.length === 0) return;

    // A service's operations, to find its traces among the others (its probes' GET /readyz…).
    let operations = [];
    if (service) {
      try {
        operations = ((await api(`/services/${encodeURIComponent(service)}/operations`)).data || []).slice().sort();
      } catch {
        // the search below says what is wrong
      }
    }
    const select = el('select', { id: 'service', name: 'service', required: true },
      el('option', { value: '', text: 'Choose a service' }),
      services.map((s) => el('option', { value: s, selected: s === service }, s)));
    const form = el('form', { class: 'search', action: '/', method: 'get', 'aria-labelledby': 'search-h' },
      el('div', {}, el('label', { for: 'service', text: 'Service' }), select),
      el('div', {}, el('label', { for: 'operation', text: 'Operation' }),
        el('select', { id: 'operation', name: 'operation' },
          el('option', { value: '', text: 'All operations' }),
          operations.map((o) => el('option', { value: o, selected: o === operation }, o)))),
      el('div', {}, el('label', { for: 'lookback', text: 'Started' }),
        el('select', { id: 'lookback', name: 'lookback' },
          LOOKBACKS.map(([v, label]) => el('option', { value: v, selected: v === lookback[0] }, label)))),
      el('div', {}, el('label', { for: 'limit', text: 'At most' }),
        el('input', { id: 'limit', name: 'limit', type: 'number', min: 1, max: 200, value: limit })),
      el('button', { type: 'submit', text: 'Find traces' }));
    // Another service's operations are not this one's: choosing a service drops them.
    select.addEventListener('change', () => {
      const op = form.querySelector('#operation');
      op.value = '';
      op.disabled = select.value !== service;
    });
    main.append(el('section', { 'aria-labelledby': 'search-h' }, el('h2', { id: 'search-h', text: 'Search' }), form));

    if (!service) return;
    const results = el('section', { 'aria-labelledby': 'results-h' },
      el('h2', { id: 'results-h', text: `Recent traces of ${service}${operation ? `: ${operation}` : ''}` }), status('Searching…'));
    main.append(results);
    const end = Date.now() * 1000;
    const q = new URLSearchParams({ service, limit: String(limit), start: String(end - lookback[2] * 1000), end: String(end) });
    if (operation) q.set('operation', operation);
    let traces;
    try {
      traces = (await api('/traces?' + q)).data || [];
    } catch (err) {
      results.replaceChild(status(err.message, 'error'), results.querySelector('#status'));
      return;
    }
    const models = traces.map(model).sort((a, b) => b.start - a.start);
    if (models.length === 0) {
      results.replaceChild(status(`No trace of ${service}${operation ? ` (${operation})` : ''} in the ${lookback[1].toLowerCase()}.`),
        results.querySelector('#status'));
      return;
    }
    results.replaceChild(
      status(`${plural(models.length, 'trace', 'traces')}, newest first.`),
      results.querySelector('#status'));
    results.append(el('table', { class: 'traces', 'aria-labelledby': 'results-h' },
      el('thead', {}, el('tr', {},
        ['Started', 'Trace', 'Services', 'Spans', 'Duration'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, models.map((m) => el('tr', {},
        el('td', { class: 'when', text: formatTime(m.start) }),
        el('td', {},
          el('a', { href: `/trace/${encodeURIComponent(m.id)}` }, `${m.root.service}: ${m.root.span.operationName}`),
          el('div', { class: 'id', text: m.id })),
        el('td', {}, plural(m.services.length, 'service', 'services') + ': ', m.services.map((s, i) => [i ? ' ' : '', serviceChip(m, s)])),
        el('td', { class: 'num' }, String(m.nodes.length), m.errors ? el('span', { class: 'err', text: ` (${plural(m.errors, 'error', 'errors')})` }) : null),
        el('td', { class: 'num', text: formatDuration(m.duration) }))))));
  }

  // ---- one trace: the waterfall ----

  function details(m, n) {
    const s = n.span;
    const rows = [];
    for (const t of s.tags || []) rows.push([t.key, t.value]);
    const p = n.span.process || {};
    for (const t of p.tags || []) rows.push([`process ${t.key}`, t.value]);
    rows.push(['span id', s.spanID]);
    if (n.parent) rows.push(['parent', `${n.parent.service}: ${n.parent.span.operationName}`]);
    if (n.orphan) rows.push(['parent', 'not in this trace (not received)']);
    const dl = el('dl', { class: 'tags' }, rows.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
    const events = (s.logs || []).map((l) => el('li', {},
      `+${formatDuration(l.timestamp - s.startTime)}: `,
      (l.fields || []).map((f) => `${f.key}=${f.value}`).join(', ')));
    return [dl, events.length ? el('div', {}, el('strong', { text: 'Events' }), el('ul', { class: 'events' }, events)) : null];
  }

  async function tracePage(id) {
    const short = id.length > 12 ? `${id.slice(0, 8)}…` : id;
    document.title = `Trace ${short} · Traces · ticketing`;
    clear();
    main.append(el('h1', {}, 'Trace ', el('code', { text: id })), status('Loading…'));
    let trace;
    try {
      const data = (await api('/traces/' + encodeURIComponent(id))).data || [];
      trace = data[0];
      if (!trace || !(trace.spans || []).length) throw new ApiError('trace not found', 404);
    } catch (err) {
      const text = err.status === 404
        ? 'No such trace (yet): its spans may still be on their way (the services send them every half second), ' +
          'or Jaeger dropped it (it keeps the latest traces in memory, none across restarts).'
        : `${err.message}.`;
      const again = el('button', { type: 'button', text: 'Try again' });
      again.addEventListener('click', () => tracePage(id));
      main.replaceChild(el('div', { id: 'status', role: 'alert', class: 'status error' }, text, ' ', again), main.querySelector('#status'));
      if (err.status !== 404) setTimeout(() => tracePage(id), 3000);
      return;
    }
    for (const span of trace.spans) span.process = (trace.processes || {})[span.processID];
    const m = model(trace);
    document.title = `${m.root.service}: ${m.root.span.operationName} · trace ${short} · Traces · ticketing`;

    const reload = el('button', { type: 'button', text: 'Reload' });
    reload.addEventListener('click', () => tracePage(id));
    const summary = el('p', { id: 'summary', class: 'summary' },
      `${plural(m.services.length, 'service', 'services')}: ${m.services.join(', ')}`);
    const meta = el('p', { class: 'meta' },
      `${plural(m.nodes.length, 'span', 'spans')} · ${formatDuration(m.duration)} · started ${formatTime(m.start)}`,
      m.errors ? el('span', { class: 'err', text: ` · ${plural(m.errors, 'span', 'spans')} with an error` }) : null,
      ' ', reload);
    const back = el('p', { class: 'back' }, el('a', { href: `/?service=${encodeURIComponent(m.root.service)}` }, `← Recent traces of ${m.root.service}`));
    main.replaceChild(summary, main.querySelector('#status'));
    main.append(meta, back);
    if (m.warnings.length) main.append(el('ul', { class: 'warnings', 'aria-label': 'Warnings' }, m.warnings.map((w) => el('li', { text: w }))));

    const total = m.duration || 1;
    const rows = m.nodes.map((n) => {
      const s = n.span;
      const offset = s.startTime - m.start;
      const bar = el('div', { class: `bar c${m.color.get(n.service)}` });
      bar.style.left = `${(offset / total) * 100}%`;
      bar.style.width = `${Math.max((s.duration / total) * 100, 0.3)}%`;
      const op = el('td', { class: 'op' },
        el('details', {},
          el('summary', {},
            el('span', { class: 'visually-hidden', text: `level ${n.depth + 1}: ` }),
            s.operationName,
            tagValue(s.tags, 'span.kind') ? el('span', { class: 'kind', text: ` ${tagValue(s.tags, 'span.kind')}` }) : null,
            isError(s) ? el('span', { class: 'err', text: ' error' }) : null),
          details(m, n)));
      op.style.paddingLeft = `${0.4 + n.depth * 1.1}em`;
      return el('tr', { 'data-span': s.spanID, 'data-depth': n.depth, class: isError(s) ? 'error' : undefined },
        el('td', { class: 'svc' }, serviceChip(m, n.service)),
        op,
        el('td', { class: 'num', text: `+${formatDuration(offset)}` }),
        el('td', { class: 'num', text: formatDuration(s.duration) }),
        el('td', { class: 'timeline', 'aria-hidden': 'true' }, el('div', { class: 'track' }, bar)));
    });
    main.append(
      el('h2', { id: 'spans-h', text: 'Spans' }),
      el('table', { class: 'waterfall', 'aria-labelledby': 'spans-h' },
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col', text: 'Service' }),
          el('th', { scope: 'col', text: 'Operation' }),
          el('th', { scope: 'col', text: 'Start' }),
          el('th', { scope: 'col', text: 'Duration' }),
          el('th', { scope: 'col', class: 'timeline', text: 'Timeline' }))),
        el('tbody', {}, rows)));
  }

  // ---- routing ----

  const openForm = document.getElementById('open-form');
  openForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = document.getElementById('open-id').value.trim();
    if (id) location.assign('/trace/' + encodeURIComponent(id));
  });

  const match = location.pathname.match(/^\/trace\/([^/]+)\/?$/);
  if (match) tracePage(decodeURIComponent(match[1]));
  else home(new URLSearchParams(location.search));
})();
