import AuthForm from '../../components/AuthForm.js';
import PageTitle from '../../components/PageTitle.js';
import { afterSigninPath } from '../../lib/format.js';
import { withSession } from '../../lib/session.js';

export default function SignUpPage() {
  return (
    <>
      <PageTitle title="Sign Up" />
      <AuthForm
        heading="Sign Up"
        endpoint="/api/users/signup"
        submitLabel="Sign Up"
        pendingLabel="Signing up…"
        passwordAutoComplete="new-password"
        other={{ text: 'Already have an account?', label: 'Sign in', href: '/auth/signin' }}
      />
    </>
  );
}

// A signed-in visitor has nothing to do here: on to the page it would return to.
export const getServerSideProps = withSession(async (ctx, { currentUser }) => {
  if (currentUser) return { redirect: { destination: afterSigninPath(ctx.query.next), permanent: false } };
  return { props: {} };
});
