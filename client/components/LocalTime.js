import { useEffect, useState } from 'react';
import { formatDateTime } from '../lib/format.js';

// A date and time in the reader's time zone. The server does not know that zone, so the
// server's HTML (and the browser's first render, which must match it) says the time in
// UTC; once mounted, the browser's own zone takes over.
export default function LocalTime({ iso }) {
  const [timeZone, setTimeZone] = useState('UTC');
  useEffect(() => setTimeZone(undefined), []);
  const text = formatDateTime(iso, timeZone);
  if (!text) return null;
  return <time dateTime={iso}>{text}</time>;
}
