import Link from 'next/link';

// First / Next paging of a list whose API hands out only a next link.
export default function Pager({ label, firstPage, nextPage, isFirstPage }) {
  if (!nextPage && isFirstPage) return null;
  return (
    <nav aria-label={label} className="d-flex gap-2">
      {!isFirstPage && (
        <Link className="btn btn-outline-secondary btn-sm" href={firstPage} data-testid="first-page">
          First page
        </Link>
      )}
      {nextPage && (
        <Link className="btn btn-outline-secondary btn-sm" href={nextPage} data-testid="next-page">
          Next page
        </Link>
      )}
    </nav>
  );
}
