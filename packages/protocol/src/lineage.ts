/**
 * Lineage and trace context: what the envelope of a stored message says about where it came from,
 * beside (never inside) the user's data. Engines store it as one opaque text field
 * (`Entry.meta`); this module is the one codec for it.
 */

/** Where a message a block published came from: its input message and the block version. */
export interface Lineage {
  /** The input message's channel. */
  channel: string;
  /** The input message's offset in `epoch`. */
  offset: number;
  epoch: string;
  /** The block that published this message while handling the input. */
  block: string;
  /** That block's version (the hash of its bundle, as listed by `GET /v1/admin/blocks`). */
  version: string;
}

/** The envelope fields of a stored message besides position, time, msgId and hops. */
export interface Envelope {
  lineage?: Lineage;
  /** W3C trace context (https://www.w3.org/TR/trace-context/#traceparent-header) of the message. */
  traceparent?: string;
}

/**
 * A W3C `traceparent`: version, 32 hex trace id, 16 hex parent id, 2 hex flags, all lower case.
 * Version `ff` and all-zero ids are invalid (trace-context §3.2.2).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** True when `value` is a valid W3C `traceparent` (version 00's shape). */
export function isTraceparent(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = TRACEPARENT.exec(value);
  if (m === null) return false;
  return m[1] !== 'ff' && !/^0+$/.test(m[2] as string) && !/^0+$/.test(m[3] as string);
}

/** The fields of a `traceparent`, shaped as OpenTelemetry's `SpanContext` (which needs no import here). */
export interface TraceIds {
  traceId: string;
  spanId: string;
  /** Bit 0: sampled. */
  traceFlags: number;
}

/** A valid `traceparent`'s ids; undefined for anything else. */
export function parseTraceparent(value: unknown): TraceIds | undefined {
  if (!isTraceparent(value)) return undefined;
  return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), traceFlags: Number.parseInt(value.slice(53, 55), 16) };
}

/** The version-00 `traceparent` of `ids`. */
export function formatTraceparent(ids: TraceIds): string {
  return `00-${ids.traceId}-${ids.spanId}-${(ids.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The stored form: short keys, because every block publish carries one. */
interface Stored {
  c?: string;
  o?: number;
  e?: string;
  b?: string;
  v?: string;
  t?: string;
}

/** The envelope as the engine stores it (JSON text); '' when there is nothing to store. */
export function encodeEnvelope(e: Envelope): string {
  const s: Stored = {};
  if (e.lineage !== undefined) {
    s.c = e.lineage.channel;
    s.o = e.lineage.offset;
    s.e = e.lineage.epoch;
    s.b = e.lineage.block;
    s.v = e.lineage.version;
  }
  if (e.traceparent !== undefined) s.t = e.traceparent;
  return s.c === undefined && s.t === undefined ? '' : JSON.stringify(s);
}

/**
 * The envelope of a stored message; empty for none. Text that is not one (written by something
 * else) reads as empty rather than failing the read: lineage is a diagnosis aid, never a reason
 * to lose a message.
 */
export function decodeEnvelope(text: string | undefined): Envelope {
  if (text === undefined || text === '') return {};
  let s: Stored;
  try {
    s = JSON.parse(text) as Stored;
  } catch {
    return {};
  }
  if (typeof s !== 'object' || s === null) return {};
  const out: Envelope = {};
  if (typeof s.c === 'string' && typeof s.o === 'number' && typeof s.e === 'string' && typeof s.b === 'string' && typeof s.v === 'string') {
    out.lineage = { channel: s.c, offset: s.o, epoch: s.e, block: s.b, version: s.v };
  }
  if (isTraceparent(s.t)) out.traceparent = s.t;
  return out;
}
