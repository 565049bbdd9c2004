import { describe, expect, it } from 'vitest';
import { BlockError, compileSource } from '../src/index.js';
import { copiedOut } from '../src/sandbox.js';
import { blockRequest, runner } from './helpers.js';

const SRC = `import { defineBlock } from '@tributary/block';
const big = () => 'x'.repeat(5_000_000);
export default defineBlock({
  name: 'vals',
  trigger: { request: true },
  limits: { memoryMb: 128, cpuMs: 2000 },
  async handle(req, ctx) {
    const m = (req.body as { mode: string }).mode;
    const circ: any = {}; circ.self = circ;
    switch (m) {
      case 'bigint': return { body: 10n as any };
      case 'circular': return { body: circ };
      case 'symbol': return Symbol('s') as any;
      case 'proxy': return new Proxy({}, { ownKeys() { throw new Error(big()); } }) as any;
      case 'getter': return { get body() { return big(); } };
      case 'toJSON': return { toJSON() { return { body: big() }; } } as any;
      case 'throwSymbol': throw Symbol(big());
      case 'throwProxy': throw new Proxy(new Error('x'), { getPrototypeOf() { throw big(); } });
      case 'throwToString': throw { toString() { return {}; } };
      case 'throwBig': throw big();
      case 'throwGetter': { const e = new Error('m'); Object.defineProperty(e, 'message', { get() { return big(); } }); throw e; }
      case 'logFields': for (let i = 0; i < 200; i++) ctx.log.info(big(), { f: big(), n: 10n as any }); return { body: 'ok' };
      case 'logProxy': ctx.log.info(new Proxy({}, { get() { return () => big(); } }) as any, new Proxy({}, { ownKeys() { return ['a']; }, getOwnPropertyDescriptor() { return { value: big(), enumerable: true, configurable: true }; } }) as any); return { body: 'ok' };
      case 'protoToJSON': (Object.prototype as any).toJSON = function () { return undefined; }; return { body: 'ok' };
      case 'protoToJSONcall': (Object.prototype as any).toJSON = function () { return undefined; }; await ctx.kv.get('k'); return { body: 'ok' };
    }
    return { body: 'none' };
  },
});`;

describe('hostile values crossing out of the isolate', () => {
  const modes = [
    'bigint',
    'circular',
    'symbol',
    'proxy',
    'getter',
    'toJSON',
    'throwSymbol',
    'throwProxy',
    'throwToString',
    'throwBig',
    'throwGetter',
    'logFields',
    'logProxy',
    'protoToJSON',
    'protoToJSONcall',
  ];
  it('every mode ends in an answer or a BlockError, with nothing large copied out', async () => {
    const { runner: r } = runner();
    await r.deploy(await compileSource(SRC));
    const rows: unknown[] = [];
    for (const mode of modes) {
      copiedOut.largest = 0;
      const out = await r.handleRequest('vals', blockRequest({ mode })).then(
        (x) => ({ ok: JSON.stringify(x).slice(0, 80) }),
        (e: unknown) => ({
          code: e instanceof BlockError ? e.code : `NOT A BLOCKERROR: ${String(e)}`,
          msg: String((e as Error).message).slice(0, 80),
          len: String((e as Error).message).length,
        }),
      );
      rows.push({ mode, ...out, copied: copiedOut.largest });
      expect(copiedOut.largest, mode).toBeLessThan(1_100_000);
      if ('code' in out) expect(out.code, mode).not.toMatch(/NOT A BLOCKERROR|INTERNAL/);
    }
    console.table(rows);
  }, 120_000);
});
