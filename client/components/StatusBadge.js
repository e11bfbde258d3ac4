import { ORDER_STATUS_LABELS } from '../lib/format.js';

const COLORS = {
  created: 'text-bg-warning',
  'awaiting:payment': 'text-bg-warning',
  complete: 'text-bg-success',
  cancelled: 'text-bg-secondary',
  expired: 'text-bg-secondary',
};

export default function StatusBadge({ status }) {
  return (
    <span className={`badge ${COLORS[status] || 'text-bg-light'}`} data-status={status}>
      {ORDER_STATUS_LABELS[status] || status}
    </span>
  );
}
