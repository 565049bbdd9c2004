import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Follow, StreamEngine } from '@tributary/engine';
import type { JsonValue } from '@tributary/protocol';
import type { Logger } from 'pino';
import { compileBlock, type CompiledBlock } from './compile.js';
import { groupName } from './consumer.js';
import type { BlockInfo } from './deployed.js';
import { DeadLetters } from './dlq.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import { BlockRegistry, DEPLOY_CHANNEL, type PlatformPublish } from './registry.js';
import { BlockRunner, type RunnerOptions } from './runner.js';
import { Topology, type TopologyOptions } from './topology.js';

/** A block folder's manifest, `block.json`. */
export interface BlockManifest {
  /** Entry file relative to the folder. @defaultValue 'src/index.ts' */
  entry?: string;
  /** Passed to the block as ctx.config. */
  config?: Record<string, JsonValue>;
}

/** A block folder compiled and checked, its consumer group registered, not yet running. */
export interface PreparedBlock {
  folder: string;
  name: string;
  compiled: CompiledBlock;
  config: Record<string, JsonValue>;
}

/** Options of {@link BlockNode.start}. */
export interface BlockNodeOptions extends RunnerOptions {
  /** Folders whose sub-folders with a block.json are loaded at start. */
  dirs?: string[];
  /**
   * How deploy notices (`$blocks.deployed`) are published: a node passes its Publisher's platform
   * path. @defaultValue an append to `engine`
   */
  announce?: PlatformPublish;
  /** The topology's rate window and bounds (`GET /v1/admin/topology`). @defaultValue {} (see {@link TopologyOptions}) */
  topology?: Partial<TopologyOptions>;
}

/**
 * The blocks side of a Tributary process: a runner, the shared registry of deployed versions, and
 * the loading of block folders. Deploys made through any process reach every other one.
 */
export class BlockNode {
  readonly runner: BlockRunner;
  readonly registry: BlockRegistry;
  /** The blocks' dead-letter channels: list, replay, drop (admin API). */
  readonly deadLetters: DeadLetters;
  /** What the blocks read and write, with rates and lag (`GET /v1/admin/topology`). */
  readonly topology: Topology;
  readonly #log: Logger | undefined;
  readonly #engine: StreamEngine;
  #watch: Follow | undefined;
  /**
   * This node's deploys, removals and syncs from the registry, one at a time. A notice of a version
   * (another node deploying it, or starting with the same folders) can arrive while this node still
   * loads that version itself; run beside it, the sync would not see it running yet and load it a
   * second time — logged twice, and replacing the first load for nothing. In turn, it finds it
   * running and does nothing.
   */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(options: BlockNodeOptions) {
    this.topology = new Topology(options.engine, () => this.runner.list(), options.topology);
    // The blocks' publishes go through the topology's counter: which channels each block writes.
    this.runner = new BlockRunner({ ...options, publish: this.topology.count(options.publish) });
    this.registry = new BlockRegistry(options.engine, options.announce);
    this.deadLetters = new DeadLetters(options.engine, this.runner);
    this.#log = options.logger;
    this.#engine = options.engine;
  }

  /** Loads the registry's blocks, then the folders' (a folder's version replaces the stored one). */
  static async start(options: BlockNodeOptions): Promise<BlockNode> {
    const node = new BlockNode(options);
    node.#watch = await node.registry.watch(
      (name) => void node.#sync(name),
      (problem, entry) => node.runner.reportBadEntry(DEPLOY_CHANNEL, problem, entry),
    );
    for (const stored of await node.registry.all()) {
      await node.#serial(() =>
        node.runner
          .deploy({ code: stored.code, version: stored.version }, { config: stored.config })
          .catch((err: unknown) => node.#log?.error({ err, block: stored.name }, 'stored block failed to load')),
      );
    }
    for (const dir of options.dirs ?? []) await node.loadDir(dir);
    return node;
  }

  /** Compiles and deploys every block folder (with a block.json) under `dir`. */
  async loadDir(dir: string): Promise<BlockInfo[]> {
    return this.deployPrepared(await this.prepareDir(dir));
  }

  /** Compiles and deploys one block folder. */
  async deployFolder(folder: string): Promise<BlockInfo> {
    const p = await this.prepareFolder(folder);
    return this.deploy(p.compiled, p.config);
  }

  /**
   * The first half of {@link loadDir}: compiles every block folder under `dir`, checks what each
   * declares and registers the consumer group of each after-publish block — without running any.
   * Messages appended from then on wait in the groups; {@link deployPrepared} runs the blocks on
   * them. A node registers its folders' groups before it accepts traffic, so nothing it accepts
   * while the blocks load is missed.
   */
  async prepareDir(dir: string): Promise<PreparedBlock[]> {
    const out: PreparedBlock[] = [];
    const root = resolve(dir);
    for (const d of await readdir(root, { withFileTypes: true })) {
      if (!d.isDirectory() || !existsSync(join(root, d.name, 'block.json'))) continue;
      out.push(await this.prepareFolder(join(root, d.name)));
    }
    return out;
  }

  /** {@link prepareDir} for one block folder. */
  async prepareFolder(folder: string): Promise<PreparedBlock> {
    const manifest = JSON.parse(await readFile(join(folder, 'block.json'), 'utf8')) as BlockManifest;
    const compiled = await compileBlock(join(folder, manifest.entry ?? 'src/index.ts'));
    const def = await this.runner.prepare(compiled);
    return { folder, name: def.name, compiled, config: manifest.config ?? {} };
  }

  /** Deploys blocks {@link prepareDir} prepared, in order; the first that fails to load throws. */
  async deployPrepared(prepared: readonly PreparedBlock[]): Promise<BlockInfo[]> {
    const out: BlockInfo[] = [];
    for (const p of prepared) out.push(await this.deploy(p.compiled, p.config));
    return out;
  }

  /** Deploys here and records the version for every other runner. */
  async deploy(compiled: CompiledBlock, config: Record<string, JsonValue>): Promise<BlockInfo> {
    return this.#serial(async () => {
      const info = await this.runner.deploy(compiled, { config });
      await this.registry.save(info.name, compiled, config);
      return info;
    });
  }

  /**
   * Removes a block everywhere: stops it here at once (an invocation in flight is cut off), forgets
   * its stored version (other runners stop it on the notice) and drops its consumer group with the
   * backlog in it, so no runner hands out another message of it and a later deploy of the same name
   * starts a new group.
   */
  async remove(name: string): Promise<boolean> {
    return this.#serial(async () => {
      const removed = await this.runner.remove(name);
      if (removed) {
        await this.registry.remove(name);
        await this.#engine.groups.unregister(groupName(name));
      }
      return removed;
    });
  }

  async close(): Promise<void> {
    this.topology.close();
    await this.#watch?.close();
    await this.runner.close();
  }

  /** Runs `fn` after every deploy, removal and sync queued before it (see {@link #queue}). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Brings this runner in line with the registry after another process changed `name`: queued at
   * once (the notice's listener calls it synchronously), so it runs after whatever this node had
   * started before, and reads the registry then.
   */
  #sync(name: string): Promise<void> {
    return this.#serial(() => this.#syncNow(name));
  }

  async #syncNow(name: string): Promise<void> {
    try {
      const stored = await this.registry.get(name);
      const running = this.runner.list().find((b) => b.name === name);
      if (stored === undefined) {
        if (running !== undefined) await this.runner.remove(name);
        return;
      }
      if (running?.version === stored.version) return;
      await this.runner.deploy({ code: stored.code, version: stored.version }, { config: stored.config });
    } catch (err) {
      const e = err instanceof BlockError ? err : new BlockError(BlockErrorCodes.INVALID_BLOCK, String(err));
      this.#log?.error({ err: e, block: name }, 'failed to sync block from registry');
    }
  }
}
