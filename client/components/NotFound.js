import Link from 'next/link';
import PageTitle from './PageTitle.js';

// A page for something that is not there (an unknown address, an order or a ticket
// that does not exist): what happened in words, and where to go instead.
export default function NotFound({ title = 'Page not found', heading = title, children, links = [{ href: '/', label: 'Browse tickets for sale' }] }) {
  return (
    <div className="page-narrow" data-testid="not-found">
      <PageTitle title={title} />
      <h1 className="h2 mb-3">{heading}</h1>
      <div className="mb-4">{children}</div>
      <ul className="list-unstyled d-flex flex-wrap gap-2 mb-0">
        {links.map(({ href, label }, i) => (
          <li key={href}>
            <Link className={`btn ${i === 0 ? 'btn-primary' : 'btn-outline-secondary'}`} href={href}>
              {label}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
