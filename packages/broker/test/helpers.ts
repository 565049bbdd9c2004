import { MemoryEngine, type MemoryEngineOptions } from '@tributary/engine';
import { connectWs, type TestSocket } from '@tributary/testkit';
import { afterEach } from 'vitest';
import { startBroker, type Broker, type BrokerOptions } from '../src/index.js';

export const SECRET = 'test-secret-that-is-at-least-32-bytes-long';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Starts a broker on a random loopback port with a memory engine; stopped after the test. */
export async function broker(
  overrides: Partial<BrokerOptions> = {},
  engineOptions: MemoryEngineOptions = {},
): Promise<Broker> {
  const engine = overrides.engine ?? new MemoryEngine(engineOptions);
  const b = await startBroker({ engine, port: 0, auth: { insecure: true }, ...overrides });
  cleanups.push(async () => {
    await b.close();
    if (overrides.engine === undefined) await engine.close();
  });
  return b;
}

/** Connects a test socket that is closed after the test. */
export async function socket(url: string): Promise<TestSocket> {
  const s = await connectWs(url);
  cleanups.push(() => s.close());
  return s;
}

export function defer(fn: () => Promise<void>): void {
  cleanups.push(fn);
}
