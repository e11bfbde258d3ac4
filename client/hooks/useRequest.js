import { useState } from 'react';
import { api } from '../lib/api.js';

// Runs one browser-side API call for a form or button and keeps its errors for display.
// After a success `pending` stays true, because the caller usually navigates away and a
// second click must not send the request again; callers that stay call done().
export default function useRequest() {
  const [errors, setErrors] = useState(null);
  const [pending, setPending] = useState(false);

  async function run(method, path, body) {
    setPending(true);
    setErrors(null);
    const res = await api[method](path, body);
    if (!res.ok) {
      setPending(false);
      setErrors(res.errors);
    }
    return res;
  }

  return { run, errors, setErrors, pending, done: () => setPending(false) };
}
