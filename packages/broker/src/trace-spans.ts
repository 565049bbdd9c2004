import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import type { AppendResult } from '@tributary/engine';
import { formatTraceparent, isSystemChannel, parseTraceparent, type Lineage } from '@tributary/protocol';

/**
 * OpenTelemetry spans of the publish path, through the API only: with no tracer provider
 * registered (no SDK in the process) every call here is the API's no-op, and a traceparent the
 * publisher sent is stored as it came. A user who registers an SDK gets a `publish <channel>`
 * span per stored message, the child of the publisher's traceparent, and the stored message
 * carries that span's context on to the blocks it triggers (docs/OPERATIONS.md, Traces).
 */
const tracer = trace.getTracer('@tributary/broker');

/** The context a traceparent names, as a remote parent; the active context when there is none. */
export function parentContext(traceparent: string | undefined): Context {
  const ids = parseTraceparent(traceparent);
  if (ids === undefined) return context.active();
  return trace.setSpanContext(context.active(), { ...ids, isRemote: true });
}

/** A publish span under way: what to store as the message's traceparent, and how it ends. */
export interface PublishSpan {
  traceparent: string;
  stored(r: AppendResult): void;
  failed(err: unknown): void;
}

/** What a publish span is about (a `PublishRequest` is one). */
export interface PublishSpanInput {
  channel: string;
  msgId?: string;
  lineage?: Lineage;
  traceparent?: string;
}

/** Starts the span of one publish; undefined when there is no trace to be part of (no SDK, no traceparent). */
export function startPublishSpan(req: Readonly<PublishSpanInput>): PublishSpan | undefined {
  // The platform's own writes ($logs lines, dead letters, deploy notices) would each start a trace of
  // their own: they are traced only as part of one the publisher named.
  if (req.traceparent === undefined && isSystemChannel(req.channel)) return undefined;
  const span = tracer.startSpan(`publish ${req.channel}`, { kind: SpanKind.PRODUCER }, parentContext(req.traceparent));
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) {
    span.end();
    return undefined;
  }
  const recording = span.isRecording();
  if (recording) {
    span.setAttribute('messaging.system', 'tributary');
    span.setAttribute('messaging.operation.name', 'publish');
    span.setAttribute('messaging.destination.name', req.channel);
    if (req.msgId !== undefined) span.setAttribute('messaging.message.id', req.msgId);
    if (req.lineage !== undefined) {
      span.setAttribute('tributary.block', req.lineage.block);
      span.setAttribute('tributary.block.version', req.lineage.version);
    }
  }
  return {
    traceparent: formatTraceparent(sc),
    stored(r) {
      if (recording) {
        span.setAttribute('tributary.offset', r.offset);
        span.setAttribute('tributary.epoch', r.epoch);
        if (r.duplicate) span.setAttribute('tributary.duplicate', true);
      }
      span.end();
    },
    failed(err) {
      if (recording) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      }
      span.end();
    },
  };
}
