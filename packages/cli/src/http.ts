import { TributaryError, ErrorCodes, type ErrorCode } from '@tributary/protocol';

/** Calls the broker's HTTP API; errors become TributaryError with the server's code. */
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
  const body = (await res.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
  if (!res.ok) {
    const e = body?.error;
    // Block deploy errors (COMPILE_ERROR, INVALID_BLOCK …) are not protocol codes: keep their text.
    const code = e?.code !== undefined && e.code in ErrorCodes ? (e.code as ErrorCode) : ErrorCodes.REJECTED;
    throw new TributaryError(code, e === undefined ? `HTTP ${res.status}` : `${e.code}: ${e.message}`);
  }
  return body as T;
}
