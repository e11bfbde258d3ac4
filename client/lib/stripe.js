// Waiting for Stripe.js: loadStripe's promise settles as Stripe.js loads or fails, but a
// blocked or very slow script may keep it pending for long, and it may resolve to null.
// The card form gives it a deadline and treats each of these as "could not load".
export const STRIPE_LOAD_DEADLINE_MS = 10000;

// Resolves to the Stripe object; rejects when `loading` rejects, resolves to nothing, or
// is still pending after `ms`.
export function stripeWithin(loading, ms = STRIPE_LOAD_DEADLINE_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Stripe.js did not load within ${ms} ms`)), ms);
    Promise.resolve(loading).then(
      (stripe) => {
        clearTimeout(timer);
        if (stripe) resolve(stripe);
        else reject(new Error('Stripe.js is not available'));
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
