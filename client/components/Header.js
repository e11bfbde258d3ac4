import Link from 'next/link';

export default function Header({ currentUser }) {
  const links = currentUser
    ? [
        { label: 'Sell Tickets', href: '/tickets/new' },
        { label: 'My Orders', href: '/orders' },
        { label: 'Sign Out', href: '/auth/signout' },
      ]
    : [
        { label: 'Sign Up', href: '/auth/signup' },
        { label: 'Sign In', href: '/auth/signin' },
      ];

  return (
    <nav className="navbar navbar-expand navbar-dark bg-dark mb-4">
      <div className="container">
        <Link className="navbar-brand fw-bold" href="/">
          GitTix
        </Link>
        <div className="d-flex align-items-center">
          {currentUser && (
            <span className="navbar-text small me-3 d-none d-md-inline" data-testid="current-user">
              {currentUser.email}
            </span>
          )}
          <ul className="navbar-nav">
            {links.map(({ label, href }) => (
              <li key={href} className="nav-item">
                <Link className="nav-link" href={href}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </div>
      </div>
    </nav>
  );
}
