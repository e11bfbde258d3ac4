import AuthForm from '../../components/AuthForm.js';
import PageTitle from '../../components/PageTitle.js';
import { withSession } from '../../lib/session.js';

export default function SignInPage() {
  return (
    <>
      <PageTitle title="Sign In" />
      <AuthForm
        heading="Sign In"
        endpoint="/api/users/signin"
        submitLabel="Sign In"
        passwordAutoComplete="current-password"
      />
    </>
  );
}

export const getServerSideProps = withSession();
