import type { AppendResult, StreamEngine } from '@tributary/engine';
import {
  channelProblem,
  depthExceeds,
  encodeEnvelope,
  ErrorCodes,
  TributaryError,
  type JsonValue,
  type Lineage,
} from '@tributary/protocol';
import type { Principal } from '@tributary/server';
import { authorize } from './auth.js';
import { startPublishSpan } from './trace-spans.js';

/** Who the platform's own messages are from (never checked: see {@link Publisher.publishPlatform}). */
const PLATFORM_PRINCIPAL: Principal = Object.freeze({ sub: 'tributary', admin: true, grants: Object.freeze({}) });

/** One publish, from whichever door it came in. */
export interface PublishRequest {
  channel: string;
  data: JsonValue;
  msgId?: string;
  /** Block composition hops so far (0 for clients). */
  hops?: number;
  /** For a block's publish: the message it was handling and the block version (stored in the envelope). */
  lineage?: Lineage;
  /**
   * W3C trace context the publisher sent (a client's frame or header, a block's invocation). The
   * publish span is its child, and the stored message carries the span's context on (see trace.ts).
   */
  traceparent?: string;
  principal: Principal;
  /** Which door it came in, for metrics. @defaultValue undefined (a client's: counted where it arrived) */
  transport?: 'block' | 'platform';
  /** Called right before the append is issued, after interceptors; throwing refuses the publish. */
  admit?: () => void;
  /** Publishes with one key are stored in issue order across channels (the engine's `orderKey`). */
  orderKey?: string;
}

/** Told of each stored message: the append's duration in seconds, its channel, result and request. */
export type AppendObserver = (seconds: number, channel: string, result: AppendResult, req: Readonly<PublishRequest>) => void;

/**
 * System channels that only the platform writes and that nodes act on (deploy notices, upload
 * events): a forged entry there would be read by every node as the platform's word. `publish`
 * refuses them to everyone, whatever the grants (insecure mode and the broker secret included); the
 * platform writes them through {@link Publisher.publishPlatform}.
 */
export const PLATFORM_CHANNEL_PREFIXES: readonly string[] = ['$blocks.', '$objects.'];

/** What an interceptor decides: keep, replace the data, or refuse the publish. */
export type InterceptResult = undefined | { data: JsonValue } | { reject: string };

/**
 * Runs on the publish path before the message is stored (before-publish blocks). It must be quick;
 * an exception rejects the publish (never a silent pass-through of an unchecked message).
 */
export interface PublishInterceptor {
  readonly name: string;
  matches(channel: string): boolean;
  intercept(request: Readonly<PublishRequest>): Promise<InterceptResult>;
}

/** Limits the publish path enforces. */
export interface PublisherLimits {
  maxPayloadBytes: number;
  maxDepth: number;
  /** @defaultValue 8 */
  maxHops: number;
}

/**
 * Validates, authorizes, runs interceptors and appends: the one publish path for WebSocket, HTTP,
 * blocks and the platform's own messages. A node builds it first and hands it to the broker, the
 * blocks runtime and images; interceptors (before-publish blocks) and observers (metrics, channel
 * stats) are added as those parts start.
 */
export class Publisher {
  readonly #engine: StreamEngine;
  readonly #limits: PublisherLimits;
  readonly #interceptors: PublishInterceptor[];
  readonly #observers: AppendObserver[] = [];

  constructor(engine: StreamEngine, limits: PublisherLimits, interceptors: readonly PublishInterceptor[] = [], onAppend?: AppendObserver) {
    this.#engine = engine;
    this.#limits = { maxPayloadBytes: limits.maxPayloadBytes, maxDepth: limits.maxDepth, maxHops: limits.maxHops };
    this.#interceptors = [...interceptors];
    if (onAppend !== undefined) this.#observers.push(onAppend);
  }

  /** The limits every publish is held to. */
  get limits(): Readonly<PublisherLimits> {
    return this.#limits;
  }

  /** Adds an interceptor, run after those added before it. */
  use(interceptor: PublishInterceptor): void {
    this.#interceptors.push(interceptor);
  }

  /** Adds an observer of stored messages; returns its removal. */
  observe(observer: AppendObserver): () => void {
    this.#observers.push(observer);
    return () => {
      const i = this.#observers.indexOf(observer);
      if (i !== -1) this.#observers.splice(i, 1);
    };
  }

  async publish(req: PublishRequest): Promise<AppendResult> {
    return (await this.submit(req)).result;
  }

  /**
   * The platform's own messages on its channels ({@link PLATFORM_CHANNEL_PREFIXES}: deploy notices,
   * upload events): validated, sized and observed (metrics, channel stats) like any publish, but
   * neither authorized (nobody else may write there) nor intercepted (no block sees system channels
   * before they are stored).
   */
  async publishPlatform(channel: string, data: JsonValue, msgId?: string): Promise<AppendResult> {
    if (!PLATFORM_CHANNEL_PREFIXES.some((p) => channel.startsWith(p))) {
      throw new TributaryError(ErrorCodes.FORBIDDEN, `${channel} is not a platform channel`, { channel });
    }
    const problem = channelProblem(channel, false);
    if (problem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`, { channel });
    const req: PublishRequest = { channel, data, principal: PLATFORM_PRINCIPAL, transport: 'platform' };
    if (msgId !== undefined) req.msgId = msgId;
    return this.#append(req, this.#encode(channel, data), 0);
  }

  /**
   * Everything {@link publish} does up to issuing the append; resolves with the append's pending
   * result. Engines store one channel's appends in the order they were issued, so a caller that
   * awaits only this may issue its next publish while the previous one is being stored (pipelining;
   * with Redis they then share one append script).
   */
  async submit(req: PublishRequest): Promise<{ result: Promise<AppendResult> }> {
    const { channel } = req;
    const problem = channelProblem(channel, false);
    if (problem !== undefined) throw new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`, { channel });
    if (PLATFORM_CHANNEL_PREFIXES.some((p) => channel.startsWith(p))) {
      throw new TributaryError(ErrorCodes.FORBIDDEN, `${channel} is written by the platform only`, { channel });
    }
    authorize(req.principal, 'publish', channel);
    const hops = req.hops ?? 0;
    if (hops > this.#limits.maxHops) {
      throw new TributaryError(ErrorCodes.HOP_LIMIT, `message passed through ${hops} blocks (limit ${this.#limits.maxHops})`, {
        channel,
      });
    }
    let data = req.data;
    let payload = this.#encode(channel, data);
    for (const interceptor of this.#interceptors) {
      if (!interceptor.matches(channel)) continue;
      let verdict: InterceptResult;
      try {
        verdict = await interceptor.intercept({ ...req, data });
      } catch (err) {
        const code = err instanceof TributaryError ? err.code : ErrorCodes.REJECTED;
        const why = err instanceof Error ? err.message : String(err);
        throw new TributaryError(code === ErrorCodes.INTERNAL ? ErrorCodes.REJECTED : code, `${interceptor.name}: ${why}`, {
          channel,
          cause: err,
        });
      }
      if (verdict === undefined) continue;
      if ('reject' in verdict) throw new TributaryError(ErrorCodes.REJECTED, `${interceptor.name}: ${verdict.reject}`, { channel });
      data = verdict.data;
      payload = this.#encode(channel, data);
    }
    req.admit?.();
    return { result: this.#append(req, payload, hops) };
  }

  #append(req: PublishRequest, payload: string, hops: number): Promise<AppendResult> {
    const input: Parameters<StreamEngine['append']>[0] = { channel: req.channel, payload };
    if (req.msgId !== undefined) input.msgId = req.msgId;
    if (hops > 0) input.hops = hops;
    if (req.orderKey !== undefined) input.orderKey = req.orderKey;
    const span = startPublishSpan(req);
    const traceparent = span === undefined ? req.traceparent : span.traceparent;
    if (req.lineage !== undefined || traceparent !== undefined) input.meta = encodeEnvelope({ lineage: req.lineage, traceparent });
    const t0 = performance.now();
    return this.#engine.append(input).then(
      (r) => {
        const seconds = (performance.now() - t0) / 1000;
        span?.stored(r);
        for (const o of this.#observers) o(seconds, req.channel, r, req);
        return r;
      },
      (err: unknown) => {
        span?.failed(err);
        throw err;
      },
    );
  }

  /** Checks depth and size and returns the JSON text that will be stored. */
  #encode(channel: string, data: JsonValue): string {
    if (data === undefined) throw new TributaryError(ErrorCodes.INVALID_FRAME, 'data is required', { channel });
    if (depthExceeds(data, this.#limits.maxDepth)) {
      throw new TributaryError(ErrorCodes.INVALID_FRAME, `data is nested deeper than ${this.#limits.maxDepth} levels`, { channel });
    }
    const payload = JSON.stringify(data);
    const bytes = Buffer.byteLength(payload);
    if (bytes > this.#limits.maxPayloadBytes) {
      throw new TributaryError(ErrorCodes.PAYLOAD_TOO_LARGE, `data is ${bytes} bytes; the limit is ${this.#limits.maxPayloadBytes}`, {
        channel,
      });
    }
    return payload;
  }
}
