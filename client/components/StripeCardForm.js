// Stripe's own card form, used only when a publishable key is configured. This module
// is loaded on demand (next/dynamic), so Stripe.js is never fetched without a key.
// Stripe.js comes from js.stripe.com: when it cannot load (offline, blocked by an
// extension or a network, or too slow), the buyer is told so and how to retry, rather
// than shown an empty box and a button that never enables.
import { useEffect, useState } from 'react';
import { loadStripe } from '@stripe/stripe-js';
import { CardElement, Elements, useElements, useStripe } from '@stripe/react-stripe-js';
import PendingButton from './PendingButton.js';
import { stripeWithin } from '../lib/stripe.js';

function CardForm({ onToken, pending, disabled, label }) {
  const stripe = useStripe();
  const elements = useElements();
  const [cardError, setCardError] = useState(null);
  const [tokenizing, setTokenizing] = useState(false);

  async function submit(event) {
    event.preventDefault();
    if (!stripe || !elements || tokenizing || pending) return;
    setTokenizing(true);
    const card = elements.getElement(CardElement);
    const { token, error } = await stripe.createToken(card);
    setTokenizing(false);
    if (error) {
      setCardError(error.message);
      return;
    }
    setCardError(null);
    onToken(token.id);
  }

  return (
    <form onSubmit={submit} className="page-narrow" aria-busy={tokenizing || pending ? 'true' : undefined}>
      <div className="form-control mb-3 py-2">
        <CardElement options={{ hidePostalCode: true }} />
      </div>
      {cardError && (
        <div className="alert alert-danger" role="alert">
          {cardError}
        </div>
      )}
      <PendingButton type="submit" pending={tokenizing || pending} pendingLabel="Paying…" disabled={!stripe || !elements || disabled}>
        {label}
      </PendingButton>
    </form>
  );
}

export default function StripeCardForm({ publishableKey, onToken, pending, disabled, label }) {
  const [stripe, setStripe] = useState(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    let live = true;
    stripeWithin(loadStripe(publishableKey)).then(
      (loaded) => live && setStripe(loaded),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [publishableKey]);

  if (failed) {
    return (
      <div className="alert alert-warning" role="alert" data-testid="card-form-unavailable">
        <h2 className="alert-heading h6">Could not load the card form</h2>
        <p>
          Stripe&apos;s card form did not load. You may be offline, or a browser extension or network filter may be
          blocking js.stripe.com. Reload the page to try again.
        </p>
        <button type="button" className="btn btn-outline-dark btn-sm" onClick={() => window.location.reload()}>
          Reload the page
        </button>
      </div>
    );
  }
  if (!stripe) {
    return (
      <p className="text-body-secondary" role="status" data-testid="card-form-loading">
        <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
        Loading the card form…
      </p>
    );
  }
  return (
    <Elements stripe={stripe}>
      <CardForm onToken={onToken} pending={pending} disabled={disabled} label={label} />
    </Elements>
  );
}
