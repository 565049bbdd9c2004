import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveWebSocket, type WebSocketConstructor } from './transport.js';

// The ws fallback is an import() of a computed name (so browser bundles leave it out): check that
// Node still finds ws through it, with and without a global WebSocket (Node ≥ 22 has one).
const global = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket');
afterEach(() => {
  if (global === undefined) Reflect.deleteProperty(globalThis, 'WebSocket');
  else Object.defineProperty(globalThis, 'WebSocket', global);
});

describe('resolveWebSocket', () => {
  it('loads ws when there is no global WebSocket', async () => {
    Reflect.deleteProperty(globalThis, 'WebSocket');
    expect(await resolveWebSocket(undefined)).toBe(WebSocket);
  });

  it('prefers the global WebSocket, and an injected one over both', async () => {
    const Global = class {} as unknown as WebSocketConstructor;
    const Injected = class {} as unknown as WebSocketConstructor;
    Object.defineProperty(globalThis, 'WebSocket', { value: Global, configurable: true, writable: true });
    expect(await resolveWebSocket(undefined)).toBe(Global);
    expect(await resolveWebSocket(Injected)).toBe(Injected);
  });
});
