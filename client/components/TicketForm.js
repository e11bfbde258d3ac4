import { useState } from 'react';
import ErrorList from './ErrorList.js';
import FieldError from './FieldError.js';
import PendingButton from './PendingButton.js';
import useFormErrors from '../hooks/useFormErrors.js';

const FIELDS = ['title', 'price'];

// Title and price fields shared by "sell a ticket" and "edit a ticket".
export default function TicketForm({ initialTitle = '', initialPrice = '', submitLabel, pendingLabel, onSubmit, errors, pending }) {
  const [title, setTitle] = useState(initialTitle);
  const [price, setPrice] = useState(initialPrice === '' ? '' : Number(initialPrice).toFixed(2));
  const form = useFormErrors(errors, FIELDS);

  function onPriceBlur() {
    const n = parseFloat(price);
    if (Number.isFinite(n)) setPrice(n.toFixed(2));
  }

  function submit(event) {
    event.preventDefault();
    if (pending) return;
    onSubmit({ title, price });
  }

  return (
    <form onSubmit={submit} className="page-narrow" noValidate aria-busy={pending ? 'true' : undefined}>
      <div className="mb-3">
        <label htmlFor="title" className="form-label">
          Title
        </label>
        <input id="title" name="title" maxLength={200} value={title} onChange={(e) => setTitle(e.target.value)} {...form.inputProps('title')} />
        <FieldError name="title" message={form.errorOf('title')} />
      </div>
      <div className="mb-3">
        <label htmlFor="price" className="form-label">
          Price
        </label>
        <div className={`input-group${form.errorOf('price') ? ' has-validation' : ''}`}>
          <span className="input-group-text" aria-hidden="true">
            $
          </span>
          <input
            id="price"
            name="price"
            inputMode="decimal"
            value={price}
            onBlur={onPriceBlur}
            onChange={(e) => setPrice(e.target.value)}
            {...form.inputProps('price')}
          />
        </div>
        <FieldError name="price" message={form.errorOf('price')} />
      </div>
      <ErrorList errors={form.general} ref={form.alertRef} />
      <PendingButton type="submit" pending={pending} pendingLabel={pendingLabel}>
        {submitLabel}
      </PendingButton>
    </form>
  );
}
