/**
 * What a block author imports. Blocks are bundled (esbuild) and run inside a V8 isolate, so this
 * package has no runtime dependencies and nothing here touches Node: `defineBlock` only gives the
 * definition its type.
 */

/**
 * Any JSON value. Object members may be `undefined` (JSON.stringify drops them), so optional fields
 * and object literals of union shapes type-check without casts.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined };

/** A stored message as a block sees it. */
export interface BlockMessage<T = JsonValue> {
  channel: string;
  offset: number;
  epoch: string;
  /** Milliseconds since the Unix epoch when it was stored (before-publish: when it arrived). */
  time: number;
  data: T;
  msgId?: string;
  /** How many blocks this message has passed through (0 for messages from clients). */
  hops: number;
}

/** An HTTP request to `/v1/blocks/<name>/…`. */
export interface BlockRequest {
  method: string;
  /** The path after `/v1/blocks/<name>`, starting with `/`. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** The body parsed as JSON when it was JSON, else the text. */
  body: JsonValue | string | undefined;
}

/** What a request block returns. */
export interface BlockResponse {
  /** @defaultValue 200 */
  status?: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as text. */
  body?: JsonValue | string;
}

/** A response of `ctx.fetch`. Bodies are capped (see the runtime's limits). */
export interface FetchResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  json<T = JsonValue>(): T;
}

/** Key-value storage private to the block (its own namespace), shared by all its runners. */
export interface BlockKv {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void>;
  incr(key: string, by?: number, options?: { ttlSeconds?: number }): Promise<number>;
  del(key: string): Promise<boolean>;
  /** get + JSON.parse. */
  getJson<T = JsonValue>(key: string): Promise<T | undefined>;
  /** JSON.stringify + set. */
  setJson(key: string, value: JsonValue, options?: { ttlSeconds?: number }): Promise<void>;
}

/**
 * Logs land on the block's log channel `$logs.<name>` (`tributary logs <name>`), one hop after the
 * invocation. Bounded (docs/BLOCKS.md, Limits): 100 lines and 64 KiB characters per invocation, a
 * message or fields' JSON over 8 KiB characters is cut (`…[cut: N chars]`), and a per-second budget
 * per block; dropped lines are counted in one "N log lines dropped" line. Secrets' exact values are
 * replaced by `[secret]`; nothing derived from them is.
 */
export interface BlockLog {
  debug(message: string, fields?: Record<string, JsonValue>): void;
  info(message: string, fields?: Record<string, JsonValue>): void;
  warn(message: string, fields?: Record<string, JsonValue>): void;
  error(message: string, fields?: Record<string, JsonValue>): void;
}

/** Everything a block can reach: these modules and nothing else of the host. */
export interface BlockContext {
  block: { name: string; version: string };
  /** The block's configuration (from its block.json `config`, or the deploy). */
  config: Readonly<Record<string, JsonValue>>;
  /**
   * Publishes to a channel the block's `publishes` patterns cover; the message's hop count is +1.
   * Rejects with an error whose `code` is `HOP_LIMIT` past the broker's hop limit,
   * `PAYLOAD_TOO_LARGE` when `data`'s JSON is over the broker's max payload (64 KiB by default;
   * measured before anything leaves the sandbox), `RATE_LIMITED` past `publishesPerSecond`,
   * `HOST_REFUSED` for other refusals.
   */
  publish(channel: string, data: JsonValue, options?: { msgId?: string }): Promise<{ offset: number }>;
  /** Values are strings of at most 64 KiB characters (longer: `PAYLOAD_TOO_LARGE`). */
  kv: BlockKv;
  /**
   * HTTP(S) to allow-listed hosts only, with a timeout and a response size cap; a request body
   * over 1 MiB characters rejects with `PAYLOAD_TOO_LARGE`.
   */
  fetch(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<FetchResponse>;
  log: BlockLog;
  /**
   * Secrets from configuration. Log lines and error messages have each secret's exact value (4 or
   * more characters) replaced by `[secret]`; a value changed in any way (reversed, spaced,
   * encoded, in parts) is not recognised, and publishes, kv and fetches are not redacted.
   */
  secrets: { get(name: string): string | undefined };
  /** Further capabilities the host grants (e.g. `images`), called by name. */
  call<T = JsonValue>(module: string, method: string, args: JsonValue): Promise<T>;
}

/** When a block runs. */
export type Trigger =
  /**
   * On the publish path, before storing: may rewrite (return `{ data }`) or reject (`{ reject }`).
   * Not on system channels (`$…`): the platform writes those, and deploy refuses such a pattern.
   */
  | { beforePublish: string | string[] }
  /**
   * After a message is stored, at least once, via a consumer group. A pattern matching the block's
   * own `$logs.<name>` or `$dlq.<name>` is refused at deploy (a loop).
   */
  | { afterPublish: string | string[] }
  /** Every N seconds, once across all runners. */
  | { interval: number }
  /** On HTTP requests to /v1/blocks/<name>/… */
  | { request: true };

/** What a before-publish handler may return. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler that returns nothing is typed `void` by TypeScript.
export type BeforePublishResult = void | undefined | { data: JsonValue } | { reject: string };

/**
 * Per-block limits (docs/BLOCKS.md, Limits): each may lower its default or raise it up to its cap;
 * a value of the wrong type, or a `memoryMb` that cannot give every lane 8 MiB, fails the deploy
 * with `INVALID_BLOCK` naming the field.
 */
export interface BlockLimits {
  /**
   * V8 heap, MiB, for **all the block's lanes together**: with `concurrency: N`, each lane's isolate
   * gets `memoryMb / N`, and needs at least 8 MiB of it. Top-level code runs in every lane's isolate
   * and counts toward it. Over it: `MEMORY_LIMIT`.
   * @defaultValue 32 (max 256)
   */
  memoryMb?: number;
  /**
   * CPU time per invocation, ms; also what the bundle's top-level code may use when a lane's
   * isolate loads it (at deploy and at each cold start). Over it: `CPU_LIMIT`.
   * @defaultValue 100 (max 5000)
   */
  cpuMs?: number;
  /** Wall time per invocation, ms. Over it: `WALL_LIMIT`. @defaultValue 5000; beforePublish 100 (max 60000) */
  wallMs?: number;
  /** Host calls (publish, kv, fetch, call) per invocation. Over it: `CALL_LIMIT`. @defaultValue 50 (max 1000) */
  callsPerInvocation?: number;
  /**
   * Publishes per second of the block on one runner, across its invocations and lanes: a token
   * bucket holding one second's worth. A `ctx.publish` past it rejects with an error whose `code`
   * is `RATE_LIMITED` (unhandled, the invocation fails with it; an after-publish message is
   * retried).
   * @defaultValue 1000 (max 10000)
   */
  publishesPerSecond?: number;
  /**
   * Opts in to `WebAssembly`, which is otherwise not defined in the block's isolate. WebAssembly
   * memory lives outside the V8 heap and is **not** counted by `memoryMb`: opting in trusts the
   * block with the host's memory.
   * @defaultValue false
   */
  wasm?: boolean;
}

interface BaseDefinition {
  /** Unique name: lowercase letters, digits and dashes. */
  name: string;
  /** Channel patterns this block may publish to. */
  publishes?: string[];
  /** Hosts `ctx.fetch` may reach. */
  fetchAllow?: string[];
  limits?: BlockLimits;
  /**
   * Invocations this block may run at once on one runner, each in its own isolate (1–16), sharing
   * `limits.memoryMb` (each lane gets `memoryMb / concurrency`, at least 8 MiB). With 1,
   * an after-publish block handles a channel's messages one at a time, in order; more trades that
   * order for throughput (e.g. for host-bound work such as image transforms).
   * @defaultValue 1
   */
  concurrency?: number;
}

/** A before-publish block: runs on the publish path before the message is stored. */
export interface BeforePublishBlock extends BaseDefinition {
  trigger: { beforePublish: string | string[] };
  handle(msg: BlockMessage, ctx: BlockContext): BeforePublishResult | Promise<BeforePublishResult>;
}

/** An after-publish block: runs at least once per stored message on its channels. */
export interface AfterPublishBlock extends BaseDefinition {
  trigger: { afterPublish: string | string[] };
  handle(msg: BlockMessage, ctx: BlockContext): void | Promise<void>;
}

/** An interval block: runs every `interval` seconds, once across all runners. */
export interface IntervalBlock extends BaseDefinition {
  trigger: { interval: number };
  handle(tick: { time: number }, ctx: BlockContext): void | Promise<void>;
}

/** A request block: answers HTTP requests to /v1/blocks/<name>/…. */
export interface RequestBlock extends BaseDefinition {
  trigger: { request: true };
  handle(req: BlockRequest, ctx: BlockContext): BlockResponse | Promise<BlockResponse>;
}

/** Any block definition. */
export type BlockDefinition = BeforePublishBlock | AfterPublishBlock | IntervalBlock | RequestBlock;

/**
 * Declares a block; the default export of a block's entry file must be its result. One overload per
 * trigger so `handle`'s parameters are typed from the trigger.
 */
export function defineBlock(definition: BeforePublishBlock): BeforePublishBlock;
export function defineBlock(definition: AfterPublishBlock): AfterPublishBlock;
export function defineBlock(definition: IntervalBlock): IntervalBlock;
export function defineBlock(definition: RequestBlock): RequestBlock;
export function defineBlock(definition: BlockDefinition): BlockDefinition {
  return definition;
}
