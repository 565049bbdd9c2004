import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { TributaryError, type JsonValue } from '@tributary/protocol';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { BlockRequest } from '@tributary/block';
import { eventually, startRedis, type RedisServer } from '@tributary/testkit';
import { BlockError, BlockRunner, compileBlock, type RunnerOptions } from '../src/index.js';
import type { PublishFn } from '../src/host.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Runs `close` after the test, after what was registered later (last in, first out). */
export function closeAfterTest(close: () => Promise<void>): void {
  cleanups.push(close);
}

/** A redis-server (the testkit's, on a free port) for the calling file's tests: read it inside a test. */
export function redisForFile(): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (server === undefined) throw new Error('redisForFile: read the server inside a test, after beforeAll');
    return server;
  };
}

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

// --- Hostile-block helpers -----------------------------------------------------------------------

/** A POST to a request block with a JSON body. */
export function blockRequest(body?: JsonValue): BlockRequest {
  return { method: 'POST', path: '/', query: {}, headers: { 'content-type': 'application/json' }, body };
}

/** Runs a request block that is expected to fail and returns its BlockError. */
export async function requestFailure(r: BlockRunner, name: string, body?: JsonValue): Promise<BlockError> {
  const outcome = await r.handleRequest(name, blockRequest(body)).then(
    (res) => ({ ok: true as const, res }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error(`block ${name} answered ${JSON.stringify(outcome.res)} instead of failing`);
  if (!(outcome.err instanceof BlockError)) throw new Error(`block ${name} failed with a non-BlockError: ${String(outcome.err)}`);
  return outcome.err;
}

/** Runs a request block that is expected to answer, and returns the body it answered with. */
export async function requestBody<T = Record<string, JsonValue>>(r: BlockRunner, name: string, body?: JsonValue): Promise<T> {
  const res = await r.handleRequest(name, blockRequest(body));
  if (res === undefined) throw new Error(`no request block ${name}`);
  return res.body as T;
}

/** Payloads stored on `channel`, oldest first. */
export async function payloads(engine: StreamEngine, channel: string): Promise<JsonValue[]> {
  const { entries } = await engine.read(channel, { after: 0, limit: 1000 });
  return entries.map((e) => JSON.parse(e.payload) as JsonValue);
}

let healthChecks = 0;

/**
 * Proves a runner still works: publishes a fresh message to the `echo` fixture's trigger and waits
 * for its output (deploy `echo.ts` on the runner first). Resolves with the echoed output.
 */
export async function echoStillWorks(engine: StreamEngine): Promise<JsonValue> {
  const token = `t${++healthChecks}-${Date.now()}`;
  await engine.append({ channel: `in.${token}`, payload: JSON.stringify({ token }) });
  const out = await eventually(async () => (await payloads(engine, `out.in.${token}`))[0]);
  return out;
}

/** Cold starts (isolates created) of a deployed block so far. */
export function coldStarts(r: BlockRunner, name: string): number {
  const info = r.list().find((b) => b.name === name);
  if (info === undefined) throw new Error(`block ${name} is not deployed`);
  return info.stats.coldStarts;
}

/**
 * An after-publish block on `poison.in` that calls the test's `chaos.crash` host module, which
 * kills its runner process (as a V8 fatal error would) when the test wants it to.
 */
export const POISON_BLOCK = `
import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'poison',
  trigger: { afterPublish: 'poison.in' },
  async handle(_msg, ctx) {
    await ctx.call('chaos', 'crash', {});
  },
});`;
