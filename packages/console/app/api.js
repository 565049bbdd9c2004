// @ts-check
// The console's only way to the broker: the documented HTTP API (docs/PROTOCOL.md, "Admin API") and
// the WebSocket endpoint. Nothing here is private to the console.

const KEY = 'tributary.secret';

/** An error reply of the API: `{error: {code, message}}` and the HTTP status. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The secret of this tab's session, or '' (insecure brokers need none). */
export function secret() {
  return sessionStorage.getItem(KEY) ?? '';
}

/** @param {string} value */
export function setSecret(value) {
  if (value === '') sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, value);
}

/**
 * Calls the HTTP API with the secret as a bearer token; resolves the parsed JSON reply.
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = {};
  const s = secret();
  if (s !== '') headers.authorization = `Bearer ${s}`;
  // The broker refuses state-changing requests not declared JSON, body or not (a form could send them).
  if (method !== 'GET') headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  /** @type {any} */
  let reply;
  try {
    reply = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'BAD_JSON', `${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new ApiError(res.status, reply?.error?.code ?? 'INTERNAL', reply?.error?.message ?? `HTTP ${res.status}`);
  return reply;
}

/** `/v1/channels/<name>/…` with the name escaped (`$logs.x` → `%24logs.x`). @param {string} channel */
export function channelPath(channel) {
  return `/v1/channels/${encodeURIComponent(channel)}`;
}

/**
 * Opens the WebSocket endpoint and subscribes to `channel` (a name or a pattern), live.
 * Browsers cannot set headers on a WebSocket, so the secret travels as `?token=`.
 * @param {string} channel
 * @param {{ onMessage: (frame: any) => void, onStatus: (text: string, isError?: boolean) => void }} handlers
 * @returns {() => void} closes the stream
 */
export function watch(channel, handlers) {
  const s = secret();
  const url = new URL('/v1/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (s !== '') url.searchParams.set('token', s);
  const ws = new WebSocket(url);
  let closedByUs = false;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
  ws.onmessage = (ev) => {
    const frame = JSON.parse(String(ev.data));
    if (frame.type === 'subscribed') handlers.onStatus(`watching ${frame.channel}`);
    else if (frame.type === 'message') handlers.onMessage(frame);
    else if (frame.type === 'error') handlers.onStatus(`${frame.code}: ${frame.message}`, true);
  };
  ws.onclose = (ev) => {
    if (!closedByUs) handlers.onStatus(`stream closed (${ev.code}${ev.reason === '' ? '' : ` ${ev.reason}`})`, true);
  };
  return () => {
    closedByUs = true;
    ws.close(1000);
  };
}
