import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { decodeEnvelope, formatTraceparent, parseTraceparent } from '@tributary/protocol';
import type { InvocationOrigin } from './sandbox.js';

/**
 * The stored message an invocation handles, as far as lineage and tracing need it: its position
 * and its envelope text (`Entry.meta`, which holds the message's own traceparent).
 */
export interface SourceMessage {
  channel: string;
  offset: number;
  epoch: string;
  meta?: string | undefined;
}

/** An invocation's span under way, and the origin its publishes carry on. */
export interface InvocationSpan {
  origin: InvocationOrigin;
  /** Ends the span: with `error` it is marked failed. */
  end(error?: unknown): void;
}

/**
 * Through the OpenTelemetry API only: with no tracer provider registered this is the API's no-op,
 * and an input's traceparent is carried on unchanged (a W3C intermediary that records nothing).
 */
const tracer = trace.getTracer('@tributary/runtime');

/**
 * Starts the span of one invocation of `block` on `message`, the child of the message's trace
 * context, and says what the invocation's publishes carry: the message as their parent (lineage)
 * and the span's trace context — so device → block → alert is one trace.
 */
export function startInvocation(block: { name: string; version: string }, message: SourceMessage): InvocationSpan {
  const incoming = message.meta === undefined ? undefined : decodeEnvelope(message.meta).traceparent;
  const ids = parseTraceparent(incoming);
  const parent = ids === undefined ? context.active() : trace.setSpanContext(context.active(), { ...ids, isRemote: true });
  const span = tracer.startSpan(`invoke ${block.name}`, { kind: SpanKind.CONSUMER }, parent);
  const sc = span.spanContext();
  const origin: InvocationOrigin = { parent: { channel: message.channel, offset: message.offset, epoch: message.epoch } };
  if (isSpanContextValid(sc)) origin.traceparent = formatTraceparent(sc);
  else if (incoming !== undefined) origin.traceparent = incoming;
  const recording = span.isRecording();
  if (recording) {
    span.setAttribute('messaging.system', 'tributary');
    span.setAttribute('messaging.operation.name', 'process');
    span.setAttribute('messaging.destination.name', message.channel);
    span.setAttribute('tributary.offset', message.offset);
    span.setAttribute('tributary.epoch', message.epoch);
    span.setAttribute('tributary.block', block.name);
    span.setAttribute('tributary.block.version', block.version);
  }
  return {
    origin,
    end(error) {
      if (recording && error !== undefined) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string') span.setAttribute('tributary.error.code', code);
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      span.end();
    },
  };
}
