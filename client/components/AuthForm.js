import { useState } from 'react';
import { useRouter } from 'next/router';
import ErrorList from './ErrorList.js';
import useRequest from '../hooks/useRequest.js';
import { safeReturnPath } from '../lib/format.js';

// The sign-up and sign-in forms differ only in their endpoint and wording.
export default function AuthForm({ heading, endpoint, submitLabel, passwordAutoComplete }) {
  const router = useRouter();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { run, errors, pending } = useRequest();

  async function onSubmit(event) {
    event.preventDefault();
    const res = await run('post', endpoint, { email, password });
    if (res.ok) {
      await router.push(safeReturnPath(router.query.next));
    }
  }

  return (
    <form onSubmit={onSubmit} className="page-narrow" noValidate>
      <h1 className="h2 mb-4">{heading}</h1>
      <div className="mb-3">
        <label htmlFor="email" className="form-label">
          Email Address
        </label>
        <input
          id="email"
          name="email"
          type="email"
          autoComplete="email"
          className="form-control"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
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
          className="form-control"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      <ErrorList errors={errors} />
      <button type="submit" className="btn btn-primary" disabled={pending}>
        {submitLabel}
      </button>
    </form>
  );
}
