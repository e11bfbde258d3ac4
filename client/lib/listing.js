// Paged ticket lists (the home page, "My tickets"): the page's query string carries the
// API's own parameters, so the API's rel="next" link maps onto the page's next link
// without knowing what a cursor looks like.
import { nextLink } from './api.js';

export const SORTS = [
  { value: 'newest', label: 'Newest' },
  { value: 'oldest', label: 'Oldest' },
];
export const DEFAULT_SORT = 'newest';

// The list the page asks for: only the parameters the API knows, newest first unless the
// page says otherwise (the API's own default is the original's oldest first).
export function listQuery(pageQuery, extra = {}) {
  const value = (name) => (typeof pageQuery[name] === 'string' ? pageQuery[name] : '');
  const sort = SORTS.some((s) => s.value === value('sort')) ? value('sort') : DEFAULT_SORT;
  const q = value('q').trim();
  const params = new URLSearchParams(extra);
  params.set('sort', sort);
  if (q) params.set('q', q);
  for (const name of ['limit', 'cursor', 'after']) {
    if (value(name)) params.set(name, value(name));
  }
  return {
    sort,
    q,
    isFirstPage: !value('cursor') && !value('after'),
    apiPath: `/api/tickets?${params.toString()}`,
  };
}

// This page (pathname) with the query of the API's next link, minus what the page adds
// by itself (`mine`).
export function nextPagePath(pathname, headers, drop = []) {
  const next = nextLink(headers && headers.link);
  if (!next) return null;
  const params = new URL(next, 'http://api.invalid').searchParams;
  for (const name of drop) params.delete(name);
  return `${pathname}?${params.toString()}`;
}

// The first page of the same list (same search and sort).
export function firstPagePath(pathname, { sort, q }) {
  const params = new URLSearchParams();
  if (sort !== DEFAULT_SORT) params.set('sort', sort);
  if (q) params.set('q', q);
  const qs = params.toString();
  return qs ? `${pathname}?${qs}` : pathname;
}
