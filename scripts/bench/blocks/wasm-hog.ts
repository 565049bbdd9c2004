import { defineBlock } from '@tributary/block';

/** Opted in to WebAssembly: keeps 128 MiB more of touched WebAssembly memory per request, outside its heap. */
const kept: unknown[] = [];

export default defineBlock({
  name: 'bench-wasm-hog',
  trigger: { request: true },
  limits: { memoryMb: 32, wasm: true, cpuMs: 2_000 },
  handle() {
    // @ts-expect-error -- the SDK's lib has WebAssembly's types, not its value.
    const memory = new WebAssembly.Memory({ initial: 2048, maximum: 2048 }) as { buffer: ArrayBuffer };
    const bytes = new Uint8Array(memory.buffer);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = 1;
    kept.push(memory);
    return { body: { kept: kept.length } };
  },
});
