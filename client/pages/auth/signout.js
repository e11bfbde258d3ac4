import { useEffect, useRef, useState } from 'react';
import { useRouter } from 'next/router';
import ErrorList from '../../components/ErrorList.js';
import PageTitle from '../../components/PageTitle.js';
import { api } from '../../lib/api.js';
import { withSession } from '../../lib/session.js';

// Signing out happens in the browser so the API's Set-Cookie clears the browser's cookie.
export default function SignOutPage() {
  const router = useRouter();
  const [errors, setErrors] = useState(null);
  const started = useRef(false);

  useEffect(() => {
    // Strict mode runs effects twice in development; sign out once.
    if (started.current) return;
    started.current = true;
    api.post('/api/users/signout', {}).then((res) => {
      if (res.ok) {
        router.replace('/');
      } else {
        setErrors(res.errors);
      }
    });
  }, [router]);

  return (
    <>
      <PageTitle title="Signing Out" />
      <p>Signing you out...</p>
      <ErrorList errors={errors} />
    </>
  );
}

export const getServerSideProps = withSession();
