import { useEffect, useRef } from 'react';

// The API's errors for a form ({ message, field? }): those naming one of its fields
// (`fields`, the inputs' ids in the form's order) go under that field, the others to
// the form's alert. After a failed submit, focus moves to the first invalid field, or to
// the alert when no field is named, so a keyboard or screen-reader user lands on the
// problem.
export default function useFormErrors(errors, fields) {
  const alertRef = useRef(null);
  const byField = {};
  const general = [];
  for (const error of errors || []) {
    if (error.field && fields.includes(error.field)) {
      byField[error.field] = byField[error.field] ? `${byField[error.field]} ${error.message}` : error.message;
    } else {
      general.push(error);
    }
  }
  const firstInvalid = fields.find((name) => byField[name]);

  useEffect(() => {
    if (!errors || errors.length === 0) return;
    const target = firstInvalid ? document.getElementById(firstInvalid) : alertRef.current;
    if (target) target.focus();
    // Keyed on the errors array alone: each failed submit brings a new one, so focus
    // moves once per failure, not on every render.
  }, [errors]);

  return {
    general,
    alertRef,
    errorOf: (name) => byField[name],
    // The input's attributes: invalid, and described by its error text (components/FieldError.js).
    inputProps: (name, className = 'form-control') =>
      byField[name]
        ? { className: `${className} is-invalid`, 'aria-invalid': 'true', 'aria-describedby': `${name}-error` }
        : { className },
  };
}
