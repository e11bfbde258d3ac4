// Stripe's own card form, used only when a publishable key is configured. This module
// is loaded on demand (next/dynamic), so Stripe.js is never fetched without a key.
import { useMemo, useState } from 'react';
import { loadStripe } from '@stripe/stripe-js';
import { CardElement, Elements, useElements, useStripe } from '@stripe/react-stripe-js';

function CardForm({ onToken, pending, label }) {
  const stripe = useStripe();
  const elements = useElements();
  const [cardError, setCardError] = useState(null);

  async function submit(event) {
    event.preventDefault();
    if (!stripe || !elements) return;
    const card = elements.getElement(CardElement);
    const { token, error } = await stripe.createToken(card);
    if (error) {
      setCardError(error.message);
      return;
    }
    setCardError(null);
    onToken(token.id);
  }

  return (
    <form onSubmit={submit} className="page-narrow">
      <div className="form-control mb-3 py-2">
        <CardElement options={{ hidePostalCode: true }} />
      </div>
      {cardError && <div className="alert alert-danger">{cardError}</div>}
      <button type="submit" className="btn btn-primary" disabled={!stripe || pending}>
        {label}
      </button>
    </form>
  );
}

export default function StripeCardForm({ publishableKey, onToken, pending, label }) {
  const stripePromise = useMemo(() => loadStripe(publishableKey), [publishableKey]);
  return (
    <Elements stripe={stripePromise}>
      <CardForm onToken={onToken} pending={pending} label={label} />
    </Elements>
  );
}
