// The error text under a field, which its input's aria-describedby points to.
export default function FieldError({ name, message }) {
  if (!message) return null;
  return (
    <div id={`${name}-error`} className="invalid-feedback d-block" data-testid={`${name}-error`}>
      {message}
    </div>
  );
}
