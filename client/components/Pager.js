import Link from 'next/link';

// First / Previous / Next paging of a list, following the API's rel="prev" and rel="next"
// links (lib/listing.js pagerProps). Nothing when the list fits on one page.
export default function Pager({ label, firstPage, prevPage, nextPage, isFirstPage }) {
  if (!nextPage && !prevPage && isFirstPage) return null;
  return (
    <nav aria-label={label} className="d-flex flex-wrap gap-2">
      {!isFirstPage && (
        <Link className="btn btn-outline-secondary btn-sm" href={firstPage} data-testid="first-page">
          First page
        </Link>
      )}
      {prevPage && (
        <Link className="btn btn-outline-secondary btn-sm" href={prevPage} rel="prev" data-testid="prev-page">
          <span aria-hidden="true" className="me-1">‹</span>
          Previous page
        </Link>
      )}
      {nextPage && (
        <Link className="btn btn-outline-secondary btn-sm" href={nextPage} rel="next" data-testid="next-page">
          Next page
          <span aria-hidden="true" className="ms-1">›</span>
        </Link>
      )}
    </nav>
  );
}
