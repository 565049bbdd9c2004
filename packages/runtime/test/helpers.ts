import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { TributaryError, type JsonValue } from '@tributary/protocol';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { BlockRunner, compileBlock, type RunnerOptions } from '../src/index.js';
import type { PublishFn } from '../src/host.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Appends straight to the engine, enforcing the hop limit like the broker's publish path. */
export function enginePublish(engine: StreamEngine, maxHops = 8): PublishFn {
  return async (channel: string, data: JsonValue, o) => {
    if (o.hops > maxHops) throw new TributaryError('HOP_LIMIT', `hop limit ${maxHops} reached`, { channel });
    const input: Parameters<StreamEngine['append']>[0] = { channel, payload: JSON.stringify(data), hops: o.hops };
    if (o.msgId !== undefined) input.msgId = o.msgId;
    return engine.append(input);
  };
}

/** A runner on a fresh memory engine, closed after the test. */
export function runner(options: Partial<RunnerOptions> = {}): { runner: BlockRunner; engine: StreamEngine } {
  const engine = options.engine ?? new MemoryEngine();
  const r = new BlockRunner({ engine, publish: enginePublish(engine), pollMs: 20, ...options });
  cleanups.push(async () => {
    await r.close();
    if (options.engine === undefined) await engine.close();
  });
  return { runner: r, engine };
}

export async function deployFixture(r: BlockRunner, name: string, config?: Record<string, JsonValue>) {
  return r.deploy(await compileBlock(fixture(name)), config === undefined ? {} : { config });
}

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
