// Paged lists (the home page, "My tickets", "My orders"): the page's query string carries
// the API's own parameters, so the API's rel="prev" and rel="next" links map onto the
// page's Previous and Next links without knowing what a cursor looks like.
import { pageLinks } from './api.js';

export const SORTS = [
  { value: 'newest', label: 'Newest' },
  { value: 'oldest', label: 'Oldest' },
];
export const DEFAULT_SORT = 'newest';

// What the page itself reads from its query string; any other parameter (limit, the
// cursor of a Link header, whatever name that uses) goes to the API as it is: the API
// checks the ones it knows and ignores the others.
const PAGE_PARAMS = new Set(['sort', 'q']);
// The parameters that place a page in the list (the API's cursor; `after` is its older name).
const POSITION_PARAMS = ['cursor', 'after'];

// The list the page asks for: newest first unless the page says otherwise (the API's own
// default is the original's oldest first). `fixed` are parameters the page always sends
// (mine=true), `defaults` those it sends unless the page's query gives them (a page size),
// `search` whether the list takes a title search (q).
export function listQuery(pageQuery, { api = '/api/tickets', fixed = {}, defaults = {}, search = true } = {}) {
  const value = (name) => (typeof pageQuery[name] === 'string' ? pageQuery[name] : '');
  const sort = SORTS.some((s) => s.value === value('sort')) ? value('sort') : DEFAULT_SORT;
  const q = search ? value('q').trim() : '';
  const params = new URLSearchParams(fixed);
  params.set('sort', sort);
  if (q) params.set('q', q);
  for (const [name, given] of Object.entries(pageQuery)) {
    if (typeof given !== 'string' || PAGE_PARAMS.has(name) || name in fixed) continue;
    params.set(name, given);
  }
  for (const [name, given] of Object.entries(defaults)) {
    if (!params.has(name)) params.set(name, given);
  }
  return {
    sort,
    q,
    positioned: POSITION_PARAMS.some((name) => value(name)),
    apiPath: `${api}?${params.toString()}`,
  };
}

// This page (pathname) with the query of one of the API's links, minus what the page
// adds by itself (`mine`).
function linkedPage(pathname, link, drop) {
  if (!link) return null;
  const params = new URL(link, 'http://api.invalid').searchParams;
  for (const name of drop) params.delete(name);
  const qs = params.toString();
  return qs ? `${pathname}?${qs}` : pathname;
}

// The first page of the same list (same search and sort).
export function firstPagePath(pathname, { sort, q }) {
  const params = new URLSearchParams();
  if (sort !== DEFAULT_SORT) params.set('sort', sort);
  if (q) params.set('q', q);
  const qs = params.toString();
  return qs ? `${pathname}?${qs}` : pathname;
}

// The Pager's props for a page of a list: its First, Previous and Next links. A page is
// the first one when the API names no page before it; an empty page that a cursor led
// to (its items gone since the link was made) gets First too, as a way back.
export function pagerProps(pathname, { sort, q, positioned }, headers, { drop = [], empty = false } = {}) {
  const links = pageLinks(headers && headers.link);
  const prevPage = linkedPage(pathname, links.prev, drop);
  return {
    firstPage: firstPagePath(pathname, { sort, q }),
    prevPage,
    nextPage: linkedPage(pathname, links.next, drop),
    isFirstPage: !prevPage && !(positioned && empty),
  };
}
