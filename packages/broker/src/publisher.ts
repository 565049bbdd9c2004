import type { AppendResult, StreamEngine } from '@tributary/engine';
import { channelProblem, depthExceeds, ErrorCodes, TributaryError, type JsonValue } from '@tributary/protocol';
import { authorize, type Principal } from './auth.js';

/** One publish, from whichever door it came in. */
export interface PublishRequest {
  channel: string;
  data: JsonValue;
  msgId?: string;
  /** Block composition hops so far (0 for clients). */
  hops?: number;
  principal: Principal;
  /** Called right before the append is issued, after interceptors; throwing refuses the publish. */
  admit?: () => void;
}

/**
 * System channels that only the platform writes and that nodes act on (deploy notices, upload
 * events): a forged entry there would be read by every node as the platform's word. The platform
 * appends to them through the engine, so this path refuses them to everyone, whatever the grants
 * (insecure mode and the broker secret included).
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

/** Validates, authorizes, runs interceptors and appends: the one publish path for WS, HTTP and blocks. */
export class Publisher {
  constructor(
    private readonly engine: StreamEngine,
    private readonly limits: PublisherLimits,
    private readonly interceptors: readonly PublishInterceptor[],
    /** Observes each engine append: its duration in seconds (metrics), channel and result (channel stats). */
    private readonly onAppend?: (seconds: number, channel: string, result: AppendResult) => void,
  ) {}

  async publish(req: PublishRequest): Promise<AppendResult> {
    return (await this.submit(req)).result;
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
    if (hops > this.limits.maxHops) {
      throw new TributaryError(ErrorCodes.HOP_LIMIT, `message passed through ${hops} blocks (limit ${this.limits.maxHops})`, {
        channel,
      });
    }
    let data = req.data;
    let payload = this.#encode(channel, data);
    for (const interceptor of this.interceptors) {
      if (!interceptor.matches(channel)) continue;
      let verdict: InterceptResult;
      try {
        verdict = await interceptor.intercept({ ...req, data });
      } catch (err) {
        const code = err instanceof TributaryError ? err.code : ErrorCodes.REJECTED;
        const why = err instanceof Error ? err.message : String(err);
        throw new TributaryError(code === ErrorCodes.INTERNAL ? ErrorCodes.REJECTED : code,
          `${interceptor.name}: ${why}`, { channel, cause: err });
      }
      if (verdict === undefined) continue;
      if ('reject' in verdict) throw new TributaryError(ErrorCodes.REJECTED, `${interceptor.name}: ${verdict.reject}`, { channel });
      data = verdict.data;
      payload = this.#encode(channel, data);
    }
    req.admit?.();
    const input: Parameters<StreamEngine['append']>[0] = { channel, payload };
    if (req.msgId !== undefined) input.msgId = req.msgId;
    if (hops > 0) input.hops = hops;
    const t0 = performance.now();
    const result = this.engine.append(input).then((r) => {
      this.onAppend?.((performance.now() - t0) / 1000, channel, r);
      return r;
    });
    return { result };
  }

  /** Checks depth and size and returns the JSON text that will be stored. */
  #encode(channel: string, data: JsonValue): string {
    if (data === undefined) throw new TributaryError(ErrorCodes.INVALID_FRAME, 'data is required', { channel });
    if (depthExceeds(data, this.limits.maxDepth)) {
      throw new TributaryError(ErrorCodes.INVALID_FRAME, `data is nested deeper than ${this.limits.maxDepth} levels`, { channel });
    }
    const payload = JSON.stringify(data);
    const bytes = Buffer.byteLength(payload);
    if (bytes > this.limits.maxPayloadBytes) {
      throw new TributaryError(ErrorCodes.PAYLOAD_TOO_LARGE,
        `data is ${bytes} bytes; the limit is ${this.limits.maxPayloadBytes}`, { channel });
    }
    return payload;
  }
}
