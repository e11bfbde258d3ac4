import Link from 'next/link';
import { useRouter } from 'next/router';

export default function Header({ currentUser }) {
  const router = useRouter();
  const links = currentUser
    ? [
        { label: 'Sell Tickets', href: '/tickets/new' },
        { label: 'My Tickets', href: '/tickets/mine' },
        { label: 'My Orders', href: '/orders' },
        { label: 'Sign Out', href: '/auth/signout' },
      ]
    : [
        { label: 'Sign Up', href: '/auth/signup' },
        { label: 'Sign In', href: '/auth/signin' },
      ];
  // The route of the page shown (e.g. /tickets/[ticketId]); a link is the current page
  // only when it is that very page.
  const current = router ? router.pathname : '';

  return (
    <nav className="navbar navbar-expand navbar-dark bg-dark mb-4" aria-label="Main">
      <div className="container">
        <Link className="navbar-brand fw-bold" href="/" aria-current={current === '/' ? 'page' : undefined}>
          GitTix
        </Link>
        <div className="d-flex align-items-center">
          {currentUser && (
            <span className="navbar-text small me-3 d-none d-md-inline" data-testid="current-user">
              {currentUser.email}
            </span>
          )}
          <ul className="navbar-nav flex-wrap justify-content-end">
            {links.map(({ label, href }) => {
              const active = current === href;
              return (
                <li key={href} className="nav-item">
                  <Link className={`nav-link${active ? ' active' : ''}`} href={href} aria-current={active ? 'page' : undefined}>
                    {label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </div>
      </div>
    </nav>
  );
}
