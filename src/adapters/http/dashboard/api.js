// The dashboard's only door to the service: JSON reads and the window stream, with the
// optional bearer token (kept in sessionStorage, so it lives as long as the tab).

const TOKEN_KEY = 'opsfold.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** An answer other than 2xx, with the API's error object when there is one. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** GET a JSON route; `params` become the query string (values as given). */
export async function getJson(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const url = query.size > 0 ? `${path}?${query}` : path;
  const res = await fetch(url, { headers: { Accept: 'application/json', ...authHeaders() } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/**
 * Follows `GET /v1/stream/windows` with `params` and calls `onWindow` for each window event.
 * Written on fetch rather than EventSource so the bearer token can be sent; reconnects after
 * a drop or an `overflow` notice with Last-Event-ID, so nothing is missed. Stops on `signal`.
 */
export async function followWindows(params, { onWindow, onState, signal }) {
  let lastId;
  let retryMs = 2000;
  while (!signal.aborted) {
    let waitMs = retryMs;
    try {
      const headers = { Accept: 'text/event-stream', ...authHeaders() };
      if (lastId !== undefined) headers['Last-Event-ID'] = lastId;
      const res = await fetch(`/v1/stream/windows?${new URLSearchParams(params)}`, { headers, signal });
      if (!res.ok) {
        // 503 when the stream has its most clients: come back when the server says.
        const retryAfter = Number(res.headers.get('Retry-After'));
        if (res.status === 503 && retryAfter > 0) waitMs = retryAfter * 1000;
        throw new ApiError(res.status, await res.json().catch(() => null));
      }
      onState('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (frame.retry) retryMs = frame.retry;
          if (frame.id !== undefined) lastId = frame.id;
          if (frame.event === 'window' && frame.data) onWindow(JSON.parse(frame.data));
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status === 401) {
        onState('unauthorized');
        return;
      }
    }
    if (signal.aborted) return;
    onState('reconnecting');
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

function parseFrame(text) {
  const frame = { event: 'message', data: '' };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') frame.data += frame.data ? `\n${value}` : value;
    else if (field === 'event') frame.event = value;
    else if (field === 'id') frame.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) frame.retry = Number(value);
  }
  return frame;
}
