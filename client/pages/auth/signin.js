import AuthForm from '../../components/AuthForm.js';
import PageTitle from '../../components/PageTitle.js';
import { afterSigninPath, signinReason } from '../../lib/format.js';
import { withSession } from '../../lib/session.js';

export default function SignInPage({ reason }) {
  return (
    <>
      <PageTitle title="Sign In" />
      <AuthForm
        heading="Sign In"
        endpoint="/api/users/signin"
        submitLabel="Sign In"
        pendingLabel="Signing in…"
        passwordAutoComplete="current-password"
        reason={reason}
        other={{ text: 'New here?', label: 'Sign up', href: '/auth/signup' }}
      />
    </>
  );
}

// A signed-in visitor has nothing to do here: on to the page it would return to.
export const getServerSideProps = withSession(async (ctx, { currentUser }) => {
  if (currentUser) return { redirect: { destination: afterSigninPath(ctx.query.next), permanent: false } };
  return { props: { reason: signinReason(ctx.query.next) } };
});
