import type { Entry, Follow, StreamEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import type { CompiledBlock } from './compile.js';
import { BLOCK_NAME } from './describe.js';

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
/** Publishes a platform message (on `$blocks.*`) for the runtime. */
export type PlatformPublish = (channel: string, data: JsonValue) => Promise<unknown>;

/** System channel announcing deploys and removals to every runner. */
export const DEPLOY_CHANNEL = '$blocks.deployed';

/**
 * Where deployed block versions live so every runner process on the same engine runs the same
 * code: each version in the engine's kv, and a notice on `$blocks.deployed` that wakes the others.
 */
export class BlockRegistry {
  readonly #engine: StreamEngine;
  readonly #announce: PlatformPublish;

  /**
   * @param announce How deploy notices are published: a node passes its Publisher's platform path
   *   (validated, counted and observed like every message). @defaultValue an append to `engine`
   */
  constructor(engine: StreamEngine, announce?: PlatformPublish) {
    this.#engine = engine;
    this.#announce = announce ?? ((channel, data) => engine.append({ channel, payload: JSON.stringify(data) }));
  }

  async save(name: string, compiled: CompiledBlock, config: Record<string, JsonValue>): Promise<StoredBlock> {
    const stored: StoredBlock = { name, version: compiled.version, code: compiled.code, config, deployedAt: Date.now() };
    await this.#engine.kv.set(NS, name, JSON.stringify(stored));
    const names = new Set(await this.names());
    if (!names.has(name)) {
      names.add(name);
      await this.#engine.kv.set(NS, INDEX, JSON.stringify([...names]));
    }
    await this.#announce(DEPLOY_CHANNEL, { name, version: compiled.version });
    return stored;
  }

  async remove(name: string): Promise<void> {
    await this.#engine.kv.del(NS, name);
    const names = (await this.names()).filter((n) => n !== name);
    await this.#engine.kv.set(NS, INDEX, JSON.stringify(names));
    await this.#announce(DEPLOY_CHANNEL, { name, removed: true });
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

  /**
   * Calls `onChange(name)` whenever any runner deploys or removes a block. An entry that is not a
   * notice (see {@link parseDeployNotice}) goes to `onBad` and changes nothing: whoever can append to
   * the channel must not be able to stop every node that follows it.
   */
  watch(onChange: (name: string) => void, onBad: (problem: string, entry: Entry) => void = () => {}): Promise<Follow> {
    return this.#engine.follow(DEPLOY_CHANNEL, (e) => {
      const notice = parseDeployNotice(e.payload);
      if (typeof notice === 'string') onBad(notice, e);
      else onChange(notice.name);
    });
  }
}

/** A `$blocks.deployed` entry as {@link BlockRegistry} writes it. */
export interface DeployNotice {
  name: string;
  version?: string;
  removed?: true;
}

/**
 * Reads a `$blocks.deployed` payload: a JSON object whose `name` is a block name ({@link BLOCK_NAME}),
 * with an optional string `version` or `removed: true`. Returns the problem as a string otherwise.
 * Only the name is acted on (the registry's kv holds the truth), so extra fields are ignored.
 */
export function parseDeployNotice(payload: string): DeployNotice | string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return `not an object (${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v})`;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== 'string' || !BLOCK_NAME.test(o.name)) return `name is not a block name (${BLOCK_NAME})`;
  if (o.version !== undefined && typeof o.version !== 'string') return 'version is not a string';
  if (o.removed !== undefined && o.removed !== true) return 'removed is not true';
  const notice: DeployNotice = { name: o.name };
  if (typeof o.version === 'string') notice.version = o.version;
  if (o.removed === true) notice.removed = true;
  return notice;
}
