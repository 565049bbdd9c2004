import type { Follow, StreamEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import type { CompiledBlock } from './compile.js';

/** A deployed version as stored for every runner to load. */
export interface StoredBlock {
  name: string;
  version: string;
  code: string;
  config: Record<string, JsonValue>;
  deployedAt: number;
}

const NS = '$blocks';
const INDEX = '$index';
/** System channel announcing deploys and removals to every runner. */
export const DEPLOY_CHANNEL = '$blocks.deployed';

/**
 * Where deployed block versions live so every runner process on the same engine runs the same
 * code: each version in the engine's kv, and a notice on `$blocks.deployed` that wakes the others.
 */
export class BlockRegistry {
  readonly #engine: StreamEngine;

  constructor(engine: StreamEngine) {
    this.#engine = engine;
  }

  async save(name: string, compiled: CompiledBlock, config: Record<string, JsonValue>): Promise<StoredBlock> {
    const stored: StoredBlock = { name, version: compiled.version, code: compiled.code, config, deployedAt: Date.now() };
    await this.#engine.kv.set(NS, name, JSON.stringify(stored));
    const names = new Set(await this.names());
    if (!names.has(name)) {
      names.add(name);
      await this.#engine.kv.set(NS, INDEX, JSON.stringify([...names]));
    }
    await this.#engine.append({ channel: DEPLOY_CHANNEL, payload: JSON.stringify({ name, version: compiled.version }) });
    return stored;
  }

  async remove(name: string): Promise<void> {
    await this.#engine.kv.del(NS, name);
    const names = (await this.names()).filter((n) => n !== name);
    await this.#engine.kv.set(NS, INDEX, JSON.stringify(names));
    await this.#engine.append({ channel: DEPLOY_CHANNEL, payload: JSON.stringify({ name, removed: true }) });
  }

  async get(name: string): Promise<StoredBlock | undefined> {
    const raw = await this.#engine.kv.get(NS, name);
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredBlock);
  }

  async names(): Promise<string[]> {
    const raw = await this.#engine.kv.get(NS, INDEX);
    return raw === undefined ? [] : (JSON.parse(raw) as string[]);
  }

  async all(): Promise<StoredBlock[]> {
    const out: StoredBlock[] = [];
    for (const n of await this.names()) {
      const b = await this.get(n);
      if (b !== undefined) out.push(b);
    }
    return out;
  }

  /** Calls `onChange(name)` whenever any runner deploys or removes a block. */
  watch(onChange: (name: string) => void): Promise<Follow> {
    return this.#engine.follow(DEPLOY_CHANNEL, (e) => {
      const notice = JSON.parse(e.payload) as { name?: unknown };
      if (typeof notice.name === 'string') onChange(notice.name);
    });
  }
}
