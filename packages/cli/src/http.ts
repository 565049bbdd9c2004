import { CodedError, ErrorCodes, TributaryError, type ErrorCode } from '@tributary/protocol';

/**
 * Calls the broker's HTTP API. An error reply becomes an error with the server's own code and
 * message, kept apart (main prints `error <code>: <message>`, so the code appears once): a
 * TributaryError for protocol codes, a CodedError for the others a route may answer (a block
 * deploy's COMPILE_ERROR, INVALID_BLOCK …).
 */
export async function api<T>(base: string, path: string, token: string | undefined, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  // The broker refuses state-changing requests not declared JSON, body or not.
  if (init.body !== undefined || (init.method ?? 'GET') !== 'GET') headers.set('content-type', 'application/json');
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, { ...init, headers });
  } catch (err) {
    throw new TributaryError(ErrorCodes.UNAVAILABLE, `cannot reach ${base}: is the broker running? (${(err as Error).message})`, {
      cause: err,
    });
  }
  const body = (await res.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | undefined;
  if (!res.ok) {
    const e = body?.error;
    const message = typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`;
    if (typeof e?.code !== 'string' || e.code === '') throw new TributaryError(ErrorCodes.REJECTED, message);
    if (e.code in ErrorCodes) throw new TributaryError(e.code as ErrorCode, message);
    throw new CodedError(e.code, message);
  }
  return body as T;
}
