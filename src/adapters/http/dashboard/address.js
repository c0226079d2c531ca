// The page's address keeps the dashboard's choices, so that a link or a reload shows the same view.
// Each panel sets its own parameters and leaves the others' alone.

/** Sets these query parameters (an empty, null or false value removes one), keeping the rest. */
export function setAddressParams(values) {
  const query = new URLSearchParams(location.search);
  for (const [name, value] of Object.entries(values)) {
    if (value === '' || value === null || value === undefined || value === false) query.delete(name);
    else query.set(name, String(value));
  }
  const text = query.toString();
  history.replaceState(null, '', text ? `?${text}` : location.pathname);
}

export function addressParam(name) {
  return new URLSearchParams(location.search).get(name);
}
