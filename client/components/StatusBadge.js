import { ORDER_STATE_LABELS } from '../lib/orders.js';

const COLORS = {
  open: 'text-bg-warning',
  paid: 'text-bg-success',
  cancelled: 'text-bg-secondary',
  expired: 'text-bg-secondary',
};

// An order's state (lib/orders.js orderState) as a badge, worded the same everywhere.
export default function StatusBadge({ state }) {
  return (
    <span className={`badge ${COLORS[state] || 'text-bg-light'}`} data-state={state}>
      {ORDER_STATE_LABELS[state] || 'Unknown'}
    </span>
  );
}
