import { MemoryEngine } from '@tributary/engine';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BlockNode, checkBlockResponse } from '../src/index.js';
import { enginePublish } from './helpers.js';

describe('request-block header policy', () => {
  const passes = (headers: Record<string, unknown>) => {
    try {
      checkBlockResponse('b', { headers, body: 'x' });
      return true;
    } catch {
      return false;
    }
  };
  it('refuses framing and cookie headers in every spelling, non-string values and too many headers', () => {
    expect(passes({ 'Set-Coo\u212Aie': 'a=b' })).toBe(false);
    expect(passes({ 'content-length': '1' })).toBe(false);
    expect(passes({ 'Content-Length ': '1' })).toBe(false);
    expect(passes({ 'set-cookie': ['a=b'] })).toBe(false);
    expect(passes({ 'x-a': 1 })).toBe(false);
    expect(passes(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-${i}`, 'v'])))).toBe(false);
    expect(() => checkBlockResponse('b', { status: '200' })).toThrow();
  });
  it("refuses headers that act on the whole origin (the console's)", () => {
    // Each of these acts on the whole broker origin (the console's), like set-cookie does.
    const originWide: Record<string, string> = {
      'clear-site-data': '"*"',
      'strict-transport-security': 'max-age=63072000; includeSubDomains',
      'www-authenticate': 'Basic realm="Tributary console - sign in again"',
      'alt-svc': 'h2="attacker.example:443"; ma=2592000',
      refresh: '0; url=https://attacker.example/',
    };
    const accepted = Object.keys(originWide).filter((k) => passes({ [k]: originWide[k] }));
    expect(accepted).toEqual([]);
  });
  it('takes a header named like an Object.prototype member as any other', () => {
    let msg = '';
    try {
      checkBlockResponse('b', { headers: { constructor: 'x' } });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).not.toMatch(/twice/);
  });
});

describe('first-party blocks still deploy under lane memory and top-level CPU limits', () => {
  it('blocks/ and examples/chat-bot/blocks load with loadDir', async () => {
    const engine = new MemoryEngine();
    const n = await BlockNode.start({ engine, publish: enginePublish(engine), pollMs: 20 });
    try {
      for (const d of ['../../../blocks', '../../../examples/chat-bot/blocks']) {
        const infos = await n.loadDir(fileURLToPath(new URL(d, import.meta.url)));
        expect(infos.length).toBeGreaterThan(0);
      }
    } finally {
      await n.close();
      await engine.close();
    }
  }, 60_000);
});
