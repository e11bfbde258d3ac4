// A button that shows its action is under way: disabled, a spinner and a "…ing" label,
// aria-busy, until `pending` is false again (hooks/useRequest.js keeps it true after a
// success that navigates away, so a second click cannot send the request again).
export default function PendingButton({
  pending,
  pendingLabel = 'Processing…',
  children,
  className = 'btn btn-primary',
  type = 'button',
  disabled,
  ...rest
}) {
  return (
    <button type={type} className={className} disabled={pending || disabled} aria-busy={pending ? 'true' : undefined} {...rest}>
      {pending ? (
        <>
          <span className="spinner-border spinner-border-sm me-2" aria-hidden="true" />
          {pendingLabel}
        </>
      ) : (
        children
      )}
    </button>
  );
}
