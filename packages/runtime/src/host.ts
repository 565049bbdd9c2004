import type { KeyValueStore } from '@tributary/engine';
import { compilePattern, ErrorCodes, isValidChannel, type JsonValue, type Lineage } from '@tributary/protocol';
import { BlockError, BlockErrorCodes } from './errors.js';
import { LOG_LIMITS, MAX_FETCH_BODY_CHARS, MAX_KV_VALUE_CHARS } from './limits.js';
import { redact, redactCut } from './redact.js';
import type { HostHandler } from './sandbox.js';

export { redact } from './redact.js';

/** How a block publishes: `hops` is the triggering message's hop count + 1. */
export interface PublishOptions {
  msgId?: string;
  hops: number;
  block: string;
  /** The message being handled and the block version, when there is one (after-publish, replays). */
  lineage?: Lineage;
  /** The invocation's W3C trace context, carried on to what it publishes. */
  traceparent?: string;
}

/** Publishes on behalf of a block (see {@link PublishOptions}). */
export type PublishFn = (channel: string, data: JsonValue, options: PublishOptions) => Promise<{ offset: number }>;

/** A log line a block wrote. */
export interface BlockLogLine {
  block: string;
  version: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: JsonValue;
  time: number;
}

/** A further capability offered to blocks through `ctx.call(module, method, args)` (e.g. images). */
export type HostModule = Readonly<Record<string, (args: JsonValue, caller: { block: string }) => Promise<JsonValue>>>;

/** Limits of `ctx.fetch`. */
export interface FetchLimits {
  /** @defaultValue 5000 */
  timeoutMs: number;
  /** @defaultValue 1_048_576 */
  maxBytes: number;
}

/** What the host gives one deployed block. */
export interface HostServices {
  block: string;
  version: string;
  publish: PublishFn;
  /** Channel patterns the block may publish to. */
  publishes: readonly string[];
  kv: KeyValueStore;
  /** Hosts `ctx.fetch` may reach (exact host names, or `*.example.com`). */
  fetchAllow: readonly string[];
  fetchLimits: FetchLimits;
  /** Writes a line; `hops` is the invocation's hop count + 1, carried into `$logs.<block>`. */
  log: (line: BlockLogLine, hops: number) => void;
  /** Told how many log lines an invocation dropped (past its per-invocation limits). */
  logsDropped?: (dropped: number, hops: number) => void;
  /** Takes one publish from the block's per-second budget; false refuses it (RATE_LIMITED). */
  admitPublish?: () => boolean;
  /** Values never written to logs. */
  secrets: Readonly<Record<string, string>>;
  modules: Readonly<Record<string, HostModule>>;
}

const MAX_KV_VALUE = MAX_KV_VALUE_CHARS;

/** Builds the host side of a block's modules. Every argument is validated: it came from untrusted code. */
export function createHostHandler(s: HostServices): HostHandler {
  const mayPublish = s.publishes.map(compilePattern);
  const ns = `block:${s.block}`;
  return async (inv, op, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    switch (op) {
      case 'publish': {
        const channel = args.channel;
        if (!isValidChannel(channel)) throw refused(`invalid channel ${JSON.stringify(channel)}`);
        if (!mayPublish.some((m) => m(channel))) {
          throw refused(`block ${s.block} has no grant to publish to ${channel} (publishes: ${s.publishes.join(', ') || 'none'})`);
        }
        // After the grant check: a refused publish spends no token.
        if (s.admitPublish?.() === false) {
          throw new BlockError(
            BlockErrorCodes.RATE_LIMITED,
            `block ${s.block} is over its publishes per second; publish to ${channel} refused`,
          );
        }
        const opts: PublishOptions = { hops: inv.hops + 1, block: s.block };
        if (typeof args.msgId === 'string') opts.msgId = args.msgId;
        const origin = inv.origin;
        if (origin?.parent !== undefined) opts.lineage = { ...origin.parent, block: s.block, version: s.version };
        if (origin?.traceparent !== undefined) opts.traceparent = origin.traceparent;
        try {
          return await s.publish(channel, args.data as JsonValue, opts);
        } catch (err) {
          // The broker's hop limit keeps its own code (docs/PROTOCOL.md): the handler and the dead
          // letter see HOP_LIMIT, which names the loop, not a generic refusal.
          if ((err as { code?: unknown }).code === ErrorCodes.HOP_LIMIT) {
            throw new BlockError(BlockErrorCodes.HOP_LIMIT, `publish to ${channel} refused: ${(err as Error).message}`, { cause: err });
          }
          // So is the broker's size check (bytes of UTF-8, which the isolate's count of characters
          // cannot see past): the same code as a refusal inside the isolate.
          if ((err as { code?: unknown }).code === ErrorCodes.PAYLOAD_TOO_LARGE) {
            throw new BlockError(BlockErrorCodes.PAYLOAD_TOO_LARGE, `publish to ${channel} refused: ${(err as Error).message}`, {
              cause: err,
            });
          }
          throw refused(`publish to ${channel} failed: ${(err as Error).message}`, err);
        }
      }
      case 'kv.get':
        return (await s.kv.get(ns, key(args))) ?? null;
      case 'kv.set': {
        const value = args.value;
        if (typeof value !== 'string') throw refused(`kv values are strings up to ${MAX_KV_VALUE} chars`);
        if (value.length > MAX_KV_VALUE) {
          throw new BlockError(BlockErrorCodes.PAYLOAD_TOO_LARGE, `kv value is ${value.length} characters (limit ${MAX_KV_VALUE})`);
        }
        await s.kv.set(ns, key(args), value, ttl(args));
        return null;
      }
      case 'kv.incr': {
        const by = args.by;
        if (typeof by !== 'number' || !Number.isSafeInteger(by)) throw refused('kv.incr takes an integer');
        return s.kv.incr(ns, key(args), by, ttl(args));
      }
      case 'kv.del':
        return s.kv.del(ns, key(args));
      case 'log': {
        const level = args.level;
        if (level !== 'debug' && level !== 'info' && level !== 'warn' && level !== 'error') return null;
        // The isolate already cut the message and the fields' JSON (with slack for a secret across
        // the cut, and their full lengths): redact, then cut to the cap with a marker. The host cuts
        // again whatever the isolate sent, in case it did not.
        const cap = LOG_LIMITS.lineChars;
        const line: BlockLogLine = {
          block: s.block,
          version: s.version,
          level,
          message: redactCut(String(args.message).slice(0, cap * 2), Number(args.length), cap, s.secrets, false),
          time: Date.now(),
        };
        if (typeof args.fields === 'string') {
          const json = args.fields.slice(0, cap * 2);
          const full = Number(args.fieldsLength);
          const redacted = redact(json, s.secrets, true);
          // Whole JSON stays JSON; a cut one does not parse, so it is kept as text.
          line.fields =
            !(full > json.length) && json.length <= cap && redacted.length <= cap
              ? parseOr(redacted)
              : redactCut(json, full, cap, s.secrets, true);
        }
        s.log(line, inv.hops + 1);
        return null;
      }
      case 'log.dropped': {
        // From the sandbox, not the block: the lines an invocation dropped, written as one line.
        const dropped = Number(args.dropped);
        if (Number.isSafeInteger(dropped) && dropped > 0) s.logsDropped?.(dropped, inv.hops + 1);
        return null;
      }
      case 'fetch':
        return blockFetch(args, s);
      case 'call': {
        // Own properties only: `constructor` or `__proto__` would otherwise reach the host's Object.
        const mod = typeof args.module === 'string' && Object.hasOwn(s.modules, args.module) ? s.modules[args.module] : undefined;
        const fn = mod !== undefined && typeof args.method === 'string' && Object.hasOwn(mod, args.method) ? mod[args.method] : undefined;
        if (typeof fn !== 'function') throw refused(`no host module method ${String(args.module)}.${String(args.method)}`);
        return fn(args.args as JsonValue, { block: s.block });
      }
      default:
        throw refused(`unknown host operation ${op}`);
    }
  };
}

async function blockFetch(args: Record<string, unknown>, s: HostServices): Promise<JsonValue> {
  let url: URL;
  try {
    url = new URL(String(args.url));
  } catch {
    throw refused(`invalid URL ${String(args.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused(`only http(s) URLs may be fetched`);
  if (url.username !== '' || url.password !== '') throw refused('URLs with credentials are not allowed');
  if (!s.fetchAllow.some((h) => hostMatches(h, url.hostname))) {
    throw refused(`host ${url.hostname} is not on block ${s.block}'s fetch allow-list`);
  }
  const init = (args.init ?? {}) as { method?: unknown; headers?: unknown; body?: unknown };
  // The isolate refuses a longer body before copying it out; checked again here.
  if (typeof init.body === 'string' && init.body.length > MAX_FETCH_BODY_CHARS) {
    throw new BlockError(BlockErrorCodes.PAYLOAD_TOO_LARGE, `fetch body is ${init.body.length} characters (limit ${MAX_FETCH_BODY_CHARS})`);
  }
  const headers: Record<string, string> = {};
  if (typeof init.headers === 'object' && init.headers !== null) {
    for (const [k, v] of Object.entries(init.headers)) if (typeof v === 'string') headers[k] = v;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), s.fetchLimits.timeoutMs);
  try {
    const res = await fetch(url, {
      method: typeof init.method === 'string' ? init.method : 'GET',
      headers,
      body: typeof init.body === 'string' ? init.body : null,
      // A redirect could leave the allow-list: refuse to follow.
      redirect: 'manual',
      signal: controller.signal,
    });
    const text = await readCapped(res, s.fetchLimits.maxBytes);
    return { status: res.status, headers: Object.fromEntries(res.headers), text };
  } catch (err) {
    if (err instanceof BlockError) throw err;
    const why = controller.signal.aborted ? `timed out after ${s.fetchLimits.timeoutMs} ms` : (err as Error).message;
    throw refused(`fetch ${url.hostname} failed: ${why}`, err);
  } finally {
    clearTimeout(timer);
  }
}

async function readCapped(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw refused(`fetch response exceeds ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return pattern === host;
}

function key(args: Record<string, unknown>): string {
  const k = args.key;
  if (typeof k !== 'string' || k.length === 0 || k.length > 512) throw refused('kv keys are strings of 1–512 chars');
  return k;
}

function ttl(args: Record<string, unknown>): number | undefined {
  const t = args.ttlSeconds;
  if (t === undefined || t === null) return undefined;
  if (typeof t !== 'number' || !(t > 0)) throw refused('ttlSeconds must be a positive number');
  return Math.ceil(t * 1000);
}

function parseOr(json: string): JsonValue {
  try {
    return JSON.parse(json) as JsonValue;
  } catch {
    return json;
  }
}

function refused(message: string, cause?: unknown): BlockError {
  return new BlockError(BlockErrorCodes.HOST_REFUSED, message, { cause });
}
