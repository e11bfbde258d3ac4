import { useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/router';
import ErrorList from './ErrorList.js';
import FieldError from './FieldError.js';
import PendingButton from './PendingButton.js';
import useFormErrors from '../hooks/useFormErrors.js';
import useRequest from '../hooks/useRequest.js';
import { afterSigninPath } from '../lib/format.js';

const FIELDS = ['email', 'password'];

// The sign-up and sign-in forms differ only in their endpoint and wording. `reason` says
// why the visitor was sent here (a protected page); `other` links to the other form,
// keeping the page to return to.
export default function AuthForm({ heading, endpoint, submitLabel, pendingLabel, passwordAutoComplete, reason, other }) {
  const router = useRouter();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { run, errors, pending } = useRequest();
  const form = useFormErrors(errors, FIELDS);
  const next = typeof router.query.next === 'string' ? router.query.next : undefined;

  async function onSubmit(event) {
    event.preventDefault();
    if (pending) return;
    const res = await run('post', endpoint, { email, password });
    if (res.ok) {
      await router.push(afterSigninPath(next));
    }
  }

  return (
    <form onSubmit={onSubmit} className="page-narrow" noValidate aria-busy={pending ? 'true' : undefined}>
      <h1 className="h2 mb-4">{heading}</h1>
      {reason && (
        <p className="alert alert-info" data-testid="signin-reason">
          {reason}
        </p>
      )}
      <div className="mb-3">
        <label htmlFor="email" className="form-label">
          Email Address
        </label>
        <input
          id="email"
          name="email"
          type="email"
          autoComplete="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          {...form.inputProps('email')}
        />
        <FieldError name="email" message={form.errorOf('email')} />
      </div>
      <div className="mb-3">
        <label htmlFor="password" className="form-label">
          Password
        </label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete={passwordAutoComplete}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          {...form.inputProps('password')}
        />
        <FieldError name="password" message={form.errorOf('password')} />
      </div>
      <ErrorList errors={form.general} ref={form.alertRef} />
      <PendingButton type="submit" pending={pending} pendingLabel={pendingLabel}>
        {submitLabel}
      </PendingButton>
      {other && (
        <p className="mt-4 mb-0">
          {other.text}{' '}
          <Link href={next ? `${other.href}?next=${encodeURIComponent(next)}` : other.href}>{other.label}</Link>
        </p>
      )}
    </form>
  );
}
