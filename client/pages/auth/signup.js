import AuthForm from '../../components/AuthForm.js';
import PageTitle from '../../components/PageTitle.js';
import { withSession } from '../../lib/session.js';

export default function SignUpPage() {
  return (
    <>
      <PageTitle title="Sign Up" />
      <AuthForm
        heading="Sign Up"
        endpoint="/api/users/signup"
        submitLabel="Sign Up"
        passwordAutoComplete="new-password"
      />
    </>
  );
}

export const getServerSideProps = withSession();
