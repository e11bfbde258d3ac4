import { useState } from 'react';
import ErrorList from './ErrorList.js';

// Title and price fields shared by "sell a ticket" and "edit a ticket".
export default function TicketForm({ initialTitle = '', initialPrice = '', submitLabel, onSubmit, errors, pending }) {
  const [title, setTitle] = useState(initialTitle);
  const [price, setPrice] = useState(initialPrice === '' ? '' : Number(initialPrice).toFixed(2));

  function onPriceBlur() {
    const n = parseFloat(price);
    if (Number.isFinite(n)) setPrice(n.toFixed(2));
  }

  function submit(event) {
    event.preventDefault();
    onSubmit({ title, price });
  }

  return (
    <form onSubmit={submit} className="page-narrow" noValidate>
      <div className="mb-3">
        <label htmlFor="title" className="form-label">
          Title
        </label>
        <input
          id="title"
          name="title"
          className="form-control"
          maxLength={200}
          value={title}
          onChange={(e) => setTitle(e.target.value)}
        />
      </div>
      <div className="mb-3">
        <label htmlFor="price" className="form-label">
          Price
        </label>
        <div className="input-group">
          <span className="input-group-text">$</span>
          <input
            id="price"
            name="price"
            inputMode="decimal"
            className="form-control"
            value={price}
            onBlur={onPriceBlur}
            onChange={(e) => setPrice(e.target.value)}
          />
        </div>
      </div>
      <ErrorList errors={errors} />
      <button type="submit" className="btn btn-primary" disabled={pending}>
        {submitLabel}
      </button>
    </form>
  );
}
