import { useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/router';

// The site's navigation. Below the md breakpoint its links fold behind a "Menu" button
// (Bootstrap's collapse classes, opened and closed by React: no Bootstrap JavaScript);
// from md up they are always shown and the button is hidden by Bootstrap's CSS.
export default function Header({ currentUser }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
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

  // Following a link folds the menu again.
  useEffect(() => {
    if (!router) return undefined;
    const close = () => setOpen(false);
    router.events.on('routeChangeStart', close);
    return () => router.events.off('routeChangeStart', close);
  }, [router]);

  function onKeyDown(event) {
    if (event.key === 'Escape' && open) {
      setOpen(false);
      document.getElementById('main-nav-toggle')?.focus();
    }
  }

  return (
    <nav className="navbar navbar-expand-md navbar-dark bg-dark mb-4" aria-label="Main" onKeyDown={onKeyDown}>
      <div className="container">
        <Link className="navbar-brand fw-bold" href="/" aria-current={current === '/' ? 'page' : undefined}>
          GitTix
        </Link>
        <button
          id="main-nav-toggle"
          type="button"
          className="navbar-toggler"
          aria-controls="main-nav"
          aria-expanded={open ? 'true' : 'false'}
          onClick={() => setOpen((was) => !was)}
        >
          <span className="navbar-toggler-icon me-2" aria-hidden="true" />
          Menu
        </button>
        <div id="main-nav" className={`collapse navbar-collapse justify-content-md-end${open ? ' show' : ''}`}>
          {currentUser && (
            <span className="navbar-text small me-md-3 text-break" data-testid="current-user">
              {currentUser.email}
            </span>
          )}
          <ul className="navbar-nav">
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
