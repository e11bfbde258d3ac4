import AuthForm from '../../components/AuthForm.js';
import { withSession } from '../../lib/session.js';

export default function SignInPage() {
  return (
    <AuthForm
      heading="Sign In"
      endpoint="/api/users/signin"
      submitLabel="Sign In"
      passwordAutoComplete="current-password"
    />
  );
}

export const getServerSideProps = withSession();
