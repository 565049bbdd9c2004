/**
 * The slice of the WebSocket API the client uses. Both the browser's `WebSocket` and the `ws`
 * package's class fit it, so neither is imported on the main path: browsers use the global, Node
 * (which has no global WebSocket before v22) loads `ws` lazily, and callers may inject their own.
 */

/** What the client needs from a WebSocket instance (browser `WebSocket` and `ws` both fit). */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'open' | 'error', listener: (event: unknown) => void): void;
  /** `ws` only: drops the TCP connection without the closing handshake. */
  terminate?(): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, `ws`'s default export, or a compatible one. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** The `OPEN` ready state (the same in every implementation). */
export const WS_OPEN = 1;

/**
 * `import()` of a name a bundler cannot see. With `ws` written in the call, bundlers follow the branch
 * browsers never take and put `ws` in every browser bundle (its throwing browser stub, plus the
 * CommonJS wrapper esbuild adds around it); esbuild also folds a constant into the call, hence the
 * parameter. Node resolves the name at run time from this module, as it would a literal. The comments
 * stop webpack and Vite from warning about a computed import. test/bundle-size.test.ts checks that a
 * browser bundle holds no `ws`.
 */
function importByName(name: string): Promise<unknown> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name);
}

/**
 * The constructor to use: the injected one, else the global (browsers, Node ≥ 22), else `ws`.
 * `ws` is imported dynamically, by a computed name, so that browser bundles never contain it.
 */
export async function resolveWebSocket(injected: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (injected !== undefined) return injected;
  const global = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof global === 'function') return global as WebSocketConstructor;
  try {
    const mod = (await importByName('ws')) as { default: unknown };
    return mod.default as WebSocketConstructor;
  } catch (err) {
    throw new Error('no WebSocket implementation: install the "ws" package or pass the WebSocket option', {
      cause: err,
    });
  }
}

const decoder = new TextDecoder();

/** The text of a message event's `data` (a string from browsers and `ws`; bytes from others). */
export function textOf(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return decoder.decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return decoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return undefined;
}
