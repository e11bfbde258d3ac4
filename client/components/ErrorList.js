// The API's messages that belong to no field, as an alert. It can take focus (ref,
// tabIndex -1): a form moves focus here after a failed submit that names no field.
export default function ErrorList({ errors, title = 'Ooops....', ref }) {
  if (!errors || errors.length === 0) return null;
  return (
    <div className="alert alert-danger" role="alert" data-testid="errors" tabIndex={-1} ref={ref}>
      <h2 className="alert-heading h6">{title}</h2>
      <ul className="my-0">
        {errors.map((err, i) => (
          <li key={`${err.field || ''}-${i}`}>{err.message}</li>
        ))}
      </ul>
    </div>
  );
}
