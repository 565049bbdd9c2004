import type { Entry, StreamEngine } from '@tributary/engine';
import {
  channelProblem,
  decodeEnvelope,
  ErrorCodes,
  isPattern,
  isSystemChannel,
  TributaryError,
  type JsonValue,
} from '@tributary/protocol';
import type { CompiledBlock } from './compile.js';
import { toInput } from './consumer.js';
import { BlockError, BlockErrorCodes } from './errors.js';
import type { PublishFn } from './host.js';
import type { BlockRunner } from './runner.js';

/** Inputs a replay takes when not told. */
export const DEFAULT_REPLAY_LIMIT = 100;
/** Most inputs one replay takes. */
export const MAX_REPLAY_LIMIT = 1000;
/**
 * Bytes of outputs (their channels and data as JSON) one replay keeps for its report. They are held
 * by the node, not the runner, and sent in one reply: a version publishing 1000 messages of 64 KiB
 * per input over 1000 inputs would otherwise make the node hold 64 GB.
 */
export const MAX_REPLAY_OUTPUT_BYTES = 16 * 1024 * 1024;
/** Entries read per page of a channel's history (the engines' own cap). */
const PAGE = 10_000;

/** A replay of a block version over a channel's retained history (see {@link replayBlock}). */
export interface ReplayRequest {
  /** The version to try, bundled (compileBlock / compileSource). */
  compiled: CompiledBlock;
  /** @defaultValue {} */
  config?: Record<string, JsonValue>;
  /** The channel whose history is the input (a name, not a pattern). */
  from: string;
  /**
   * Where to start: after this offset (exclusive, as history's `since`), or from this time (ms since
   * the Unix epoch, inclusive). @defaultValue the latest `limit` messages
   */
  since?: { offset: number } | { time: number };
  /** @defaultValue {@link DEFAULT_REPLAY_LIMIT}; at most {@link MAX_REPLAY_LIMIT} */
  limit?: number;
  /**
   * Channel prefix to publish the outputs under (`<into>.<channel>`), with lineage to the inputs.
   * @defaultValue none: nothing is written
   */
  into?: string;
  /**
   * Aborted when the caller went away (the HTTP request closed): the replay stops before its next
   * input, so a cancelled `tributary replay --into …` publishes nothing more.
   */
  signal?: AbortSignal;
}

/** One input and what each version made of it. */
export interface ReplayResult {
  input: { channel: string; offset: number; data: JsonValue };
  /** What the replayed version published, in order (channels as the block named them, not under `into`). */
  outputs: Array<{ channel: string; data: JsonValue }>;
  /** What the deployed version published for the same input, found through lineage. */
  deployed: Array<{ channel: string; offset: number; data: JsonValue }>;
  /** The same channels and data, whatever the order; false when the replayed version failed. */
  same: boolean;
  /** Set when the replayed version failed on this input (the block's error code). */
  error?: { code: string; message: string };
}

/** `POST /v1/admin/replay`'s reply. */
export interface ReplayReport {
  block: string;
  version: string;
  results: ReplayResult[];
  summary: { inputs: number; outputs: number; differing: number };
}

/** What a replay needs from the node. */
export interface ReplayDeps {
  runner: BlockRunner;
  engine: StreamEngine;
  /** The platform's publish path, for `into` (not counted as the deployed block's writes). */
  publish: PublishFn;
  /** Channels the deployed block wrote recently (the topology), where its outputs are looked for. */
  writtenChannels?: (block: string) => Promise<string[]>;
}

/**
 * Runs a block version, not deployed, in the production sandbox (a lane in the runner processes,
 * the block's own limits) over a channel's retained history, one message at a time and in order,
 * and sets what it publishes beside what the deployed version published for the same inputs: the
 * stored messages whose lineage names that input and that block. Nothing is written unless `into`
 * is given; kv writes stay in memory (see `BlockRunner.trial`).
 */
export async function replayBlock(deps: ReplayDeps, req: ReplayRequest): Promise<ReplayReport> {
  const limit = req.limit ?? DEFAULT_REPLAY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_REPLAY_LIMIT) {
    throw new TributaryError(ErrorCodes.INVALID_FRAME, `limit must be an integer from 1 to ${MAX_REPLAY_LIMIT}`);
  }
  const fromProblem = isPattern(req.from) ? 'is a pattern: replay reads one channel' : channelProblem(req.from, false);
  if (fromProblem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `from ${fromProblem}`);
  const into = req.into;
  if (into !== undefined) {
    // Under a system prefix, an output would pose as the platform's own: `$logs.<block>` lines,
    // `$dlq.<block>` entries of a deployed block.
    const p = isPattern(into) ? 'is a pattern' : isSystemChannel(into) ? 'is a system channel ($…)' : channelProblem(into, false);
    if (p !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `into ${p}`);
  }
  let current: ReplayResult['outputs'] = [];
  let held = 0;
  let full = false;
  const trial = await deps.runner.trial(req.compiled, req.config ?? {}, async (channel, data, opts) => {
    const bytes = Buffer.byteLength(channel) + Buffer.byteLength(JSON.stringify(data) ?? '');
    if (held + bytes > MAX_REPLAY_OUTPUT_BYTES) {
      full = true;
      throw new BlockError(
        BlockErrorCodes.PAYLOAD_TOO_LARGE,
        `the replay's outputs passed ${MAX_REPLAY_OUTPUT_BYTES / 1024 / 1024} MiB: it stops after this input`,
      );
    }
    held += bytes;
    current.push({ channel, data });
    // The lineage the host set names the input and this version, so `tributary trace` on an output
    // under the prefix leads back to the message it was made from.
    if (into !== undefined) return deps.publish(`${into}.${channel}`, data, opts);
    return { offset: 0 };
  });
  try {
    if (trial.def.trigger.kind !== 'afterPublish') {
      throw new BlockError(BlockErrorCodes.INVALID_BLOCK, `replay runs after-publish blocks; ${trial.name} is ${trial.def.trigger.kind}`);
    }
    const inputs = await readInputs(deps.engine, req.from, req.since, limit);
    const results: ReplayResult[] = [];
    for (const e of inputs) {
      if (req.signal?.aborted === true) break;
      current = [];
      const result: ReplayResult = {
        input: { channel: e.channel, offset: e.offset, data: JSON.parse(e.payload) as JsonValue },
        outputs: current,
        deployed: [],
        same: false,
      };
      try {
        // The input's position (lineage), not its envelope: its traceparent would make this
        // invocation and what it publishes late children of the trace the message started in
        // production. A replay's spans are a trace of their own (under the request's, if any).
        await trial.run(toInput(e), e.hops ?? 0, { channel: e.channel, offset: e.offset, epoch: e.epoch });
      } catch (err) {
        result.error = { code: err instanceof BlockError ? err.code : BlockErrorCodes.HANDLER_ERROR, message: (err as Error).message };
      }
      results.push(result);
      if (full) {
        // Said on the input even when the handler caught the refused publish: its outputs are cut.
        result.error ??= {
          code: BlockErrorCodes.PAYLOAD_TOO_LARGE,
          message: `the replay's outputs passed ${MAX_REPLAY_OUTPUT_BYTES / 1024 / 1024} MiB: it stopped after this input`,
        };
        break;
      }
    }
    await findDeployed(deps, trial.name, trial.def.publishes, into, inputs.slice(0, results.length), results, req.signal);
    let outputs = 0;
    let differing = 0;
    for (const r of results) {
      r.same = r.error === undefined && sameOutputs(r.outputs, r.deployed);
      outputs += r.outputs.length;
      if (!r.same) differing++;
    }
    return { block: trial.name, version: trial.version, results, summary: { inputs: results.length, outputs, differing } };
  } finally {
    trial.dispose();
  }
}

/** The inputs: after an offset, from a time, or the latest ones; in offset order, at most `limit`. */
async function readInputs(engine: StreamEngine, channel: string, since: ReplayRequest['since'], limit: number): Promise<Entry[]> {
  if (since === undefined) return (await engine.read(channel, { limit })).entries;
  if ('offset' in since) return (await engine.read(channel, { after: since.offset, limit })).entries;
  const out: Entry[] = [];
  let after = 0;
  for (;;) {
    const page = await engine.read(channel, { after, limit: PAGE });
    for (const e of page.entries) {
      if (e.time >= since.time) out.push(e);
      if (out.length === limit) return out;
    }
    const last = page.entries.at(-1);
    if (last === undefined || last.offset >= page.last) return out;
    after = last.offset;
  }
}

/**
 * Fills each result's `deployed` with the stored messages whose lineage names its input and the
 * block. Looked for on the channels the replayed version published to, the deployed block's literal
 * grants and the channels it wrote recently; never under `into` (those are replays' own outputs).
 */
async function findDeployed(
  deps: ReplayDeps,
  block: string,
  publishes: readonly string[],
  into: string | undefined,
  inputs: readonly Entry[],
  results: ReplayResult[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const channels = new Set<string>(publishes.filter((p) => !isPattern(p)));
  for (const r of results) for (const o of r.outputs) channels.add(o.channel);
  for (const c of (await deps.writtenChannels?.(block)) ?? []) channels.add(c);
  const byInput = new Map<string, ReplayResult>();
  inputs.forEach((e, i) => byInput.set(`${e.channel}\n${e.epoch}\n${e.offset}`, results[i] as ReplayResult));
  for (const channel of channels) {
    // One read per channel the version wrote, which may be thousands: not for a caller who left.
    if (signal?.aborted === true) return;
    if (into !== undefined && channel.startsWith(`${into}.`)) continue;
    const page = await deps.engine.read(channel, { limit: PAGE });
    for (const e of page.entries) {
      if (e.meta === undefined) continue;
      const l = decodeEnvelope(e.meta).lineage;
      if (l?.block !== block) continue;
      const r = byInput.get(`${l.channel}\n${l.epoch}\n${l.offset}`);
      r?.deployed.push({ channel: e.channel, offset: e.offset, data: JSON.parse(e.payload) as JsonValue });
    }
  }
}

/** The same channels and data, whatever the order. */
function sameOutputs(
  a: ReadonlyArray<{ channel: string; data: JsonValue }>,
  b: ReadonlyArray<{ channel: string; data: JsonValue }>,
): boolean {
  if (a.length !== b.length) return false;
  const key = (x: { channel: string; data: JsonValue }): string => JSON.stringify([x.channel, x.data]);
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((k, i) => k === sb[i]);
}
