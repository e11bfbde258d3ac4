export default function ErrorList({ errors, title = 'Ooops....' }) {
  if (!errors || errors.length === 0) return null;
  return (
    <div className="alert alert-danger" role="alert" data-testid="errors">
      <h4 className="alert-heading h6">{title}</h4>
      <ul className="my-0">
        {errors.map((err, i) => (
          <li key={`${err.field || ''}-${i}`}>{err.message}</li>
        ))}
      </ul>
    </div>
  );
}
