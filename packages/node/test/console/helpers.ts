import { MemoryEngine } from '@tributary/engine';
import { startNode, type TributaryNode } from '@tributary/node';
import { compileSource } from '@tributary/runtime';
import { FAILING_BLOCK } from './fixtures.js';

/** A broker secret for tests (≥ 32 bytes). */
export const SECRET = 'console-test-secret-0123456789abcdef-0123456789';

/** A real node (broker + blocks + console) on a free loopback port, with the failing `flaky` block. */
export interface ConsoleNode {
  node: TributaryNode;
  engine: MemoryEngine;
  url: string;
  close(): Promise<void>;
}

export async function startConsoleNode(): Promise<ConsoleNode> {
  const engine = new MemoryEngine();
  const node = await startNode({ engine, auth: { secret: SECRET }, port: 0, host: '127.0.0.1' });
  await node.blocks.deploy(await compileSource(FAILING_BLOCK), {});
  return {
    node,
    engine,
    url: node.broker.url,
    async close() {
      await node.close();
      await engine.close();
    },
  };
}

/** An HTTP call to the node; `token` undefined sends no credentials. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): // biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field in the tests.
Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  // As the console's own api.js: the broker wants JSON declared on every state-changing request.
  if (method !== 'GET') headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    redirect: 'manual',
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text (static files)
  }
  return { status: res.status, body, headers: res.headers };
}
