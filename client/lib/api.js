// One way to talk to the API from any page: every call resolves (never throws) to
//   { ok, status, data, errors }
// where `errors` is the API's envelope list [{ message, field? }] or null.
//
// In the browser, calls use relative URLs (/api/...), so the session cookie goes along
// and the gateway/ingress routes them. On the server, use buildServerClient from
// ./server-api.js, which sends the same calls to API_BASE_URL with the browser's
// cookie and host.

export const UNAVAILABLE_MESSAGE = 'The service is unavailable right now. Please try again.';

// Turns a status and a raw body into the result shape. Bodies that are not the JSON
// envelope (a proxy's HTML error page, say) still produce a readable message.
export function toResult(status, text) {
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  const ok = status >= 200 && status < 300;
  if (ok) {
    return { ok, status, data, errors: null };
  }
  let errors;
  if (data && Array.isArray(data.errors) && data.errors.length > 0) {
    errors = data.errors.map((e) => ({
      message: String(e && e.message ? e.message : 'Something went wrong'),
      ...(e && e.field ? { field: String(e.field) } : {}),
    }));
  } else if (status === 502 || status === 503 || status === 504) {
    errors = [{ message: UNAVAILABLE_MESSAGE }];
  } else {
    errors = [{ message: `Request failed (HTTP ${status})` }];
  }
  return { ok, status, data: null, errors };
}

export function unavailableResult() {
  return { ok: false, status: 0, data: null, errors: [{ message: UNAVAILABLE_MESSAGE }] };
}

const BROWSER_TIMEOUT_MS = 15000;

// Browser-side request with a relative URL.
export async function request(method, path, body) {
  const init = {
    method,
    credentials: 'same-origin',
    headers: { Accept: 'application/json' },
    signal: AbortSignal.timeout(BROWSER_TIMEOUT_MS),
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, init);
    return toResult(res.status, await res.text());
  } catch {
    return unavailableResult();
  }
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body ?? {}),
  put: (path, body) => request('PUT', path, body ?? {}),
  del: (path) => request('DELETE', path),
};

// The links of a Link header by relation: `<path?query>; rel="prev", <path?query>;
// rel="next"` gives { prev: 'path?query', next: 'path?query' }; either may be absent.
export function pageLinks(linkHeader) {
  const links = {};
  if (!linkHeader) return links;
  for (const [, url, params] of String(linkHeader).matchAll(/<([^>]*)>((?:\s*;[^,;]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(params);
    if (!rel) continue;
    for (const name of rel[1].trim().toLowerCase().split(/\s+/)) {
      if (!(name in links)) links[name] = url;
    }
  }
  return links;
}

// The URL marked rel="next" in a Link header, or null.
export function nextLink(linkHeader) {
  return pageLinks(linkHeader).next ?? null;
}
