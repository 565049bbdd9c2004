import { Ajv, type ValidateFunction } from 'ajv';
import { channelProblem, MAX_CHANNEL_LENGTH } from './channels.js';
import { ErrorCodes, type ErrorCode } from './codes.js';
import type { ClientFrame, ClientFrameType, RequestId } from './frames.js';
import { isTraceparent } from './lineage.js';

// Integers a client sends are bounded to what a JS number holds exactly: past 2^53 two offsets
// compare equal, and Redis would refuse them with an error that is not the client's to read.
const safeInteger = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const requestId = {
  anyOf: [
    { type: 'string', maxLength: 64 },
    { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
  ],
};
// Only the type here: the naming rules (length included) are checked after the schema, so every
// bad name is INVALID_CHANNEL whichever door it came through.
const channel = { type: 'string' };

/** JSON Schemas (draft-07) of every client frame, keyed by `type`. Published in docs/PROTOCOL.md. */
export const clientFrameSchemas: Readonly<Record<ClientFrameType, object>> = {
  subscribe: {
    type: 'object',
    required: ['type', 'channel'],
    additionalProperties: false,
    properties: {
      type: { const: 'subscribe' },
      id: requestId,
      channel,
      since: {
        type: 'object',
        required: ['offset', 'epoch'],
        additionalProperties: false,
        properties: {
          offset: safeInteger,
          epoch: { type: 'string', maxLength: 64 },
        },
      },
      presence: { type: 'boolean' },
    },
  },
  unsubscribe: {
    type: 'object',
    required: ['type', 'channel'],
    additionalProperties: false,
    properties: { type: { const: 'unsubscribe' }, id: requestId, channel },
  },
  publish: {
    type: 'object',
    required: ['type', 'channel', 'data'],
    additionalProperties: false,
    properties: {
      type: { const: 'publish' },
      id: requestId,
      channel,
      data: {},
      msgId: { type: 'string', minLength: 1, maxLength: 128 },
      // W3C trace-context's traceparent (version 00's shape); all-zero ids are refused by the parser.
      traceparent: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' },
    },
  },
  history: {
    type: 'object',
    required: ['type', 'channel'],
    additionalProperties: false,
    properties: {
      type: { const: 'history' },
      id: requestId,
      channel,
      since: safeInteger,
      limit: { type: 'integer', minimum: 1, maximum: 1000 },
    },
  },
  presence: {
    type: 'object',
    required: ['type', 'channel'],
    additionalProperties: false,
    properties: { type: { const: 'presence' }, id: requestId, channel },
  },
  ping: {
    type: 'object',
    required: ['type'],
    additionalProperties: false,
    properties: { type: { const: 'ping' }, id: requestId },
  },
  auth: {
    type: 'object',
    required: ['type', 'token'],
    additionalProperties: false,
    properties: { type: { const: 'auth' }, id: requestId, token: { type: 'string', minLength: 1, maxLength: 8192 } },
  },
};

const ajv = new Ajv({ allErrors: false, strict: true });
const validators = new Map<string, ValidateFunction>(
  Object.entries(clientFrameSchemas).map(([type, schema]) => [type, ajv.compile(schema)]),
);

/** Default maximum nesting depth of a message's `data`. */
export const DEFAULT_MAX_DEPTH = 32;

/** The result of {@link parseClientFrame}. */
export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; id?: RequestId; channel?: string };

/**
 * Parses and validates one client frame: JSON, then the frame's schema, then channel-name rules
 * (patterns only in subscribe/unsubscribe) and the nesting depth of `data`. Never throws.
 */
export function parseClientFrame(text: string, maxDepth = DEFAULT_MAX_DEPTH): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCodes.BAD_JSON, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCodes.INVALID_FRAME, message: 'frame must be a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const id = readId(obj.id);
  // Before anything recurses into the frame (schema validation, error messages, JSON.stringify):
  // JSON.parse builds any depth iteratively, but recursive walkers overflow the stack on it. `data`
  // sits one level below the frame, so the frame may be one level deeper than `data` may.
  if (depthExceeds(obj, maxDepth + 1)) {
    const message = `frame is nested deeper than ${maxDepth} levels`;
    const channel = typeof obj.channel === 'string' && obj.channel.length <= MAX_CHANNEL_LENGTH ? obj.channel : undefined;
    return withId(
      channel === undefined
        ? { ok: false, code: ErrorCodes.INVALID_FRAME, message }
        : { ok: false, code: ErrorCodes.INVALID_FRAME, message, channel },
      id,
    );
  }
  const type = obj.type;
  const validate = typeof type === 'string' ? validators.get(type) : undefined;
  if (validate === undefined || !Object.hasOwn(clientFrameSchemas, type as string)) {
    return withId({ ok: false, code: ErrorCodes.UNKNOWN_TYPE, message: `unknown frame type ${describe(type)}` }, id);
  }
  if (!validate(obj)) {
    const e = validate.errors?.[0];
    const where = e ? `${e.instancePath || '/'} ${e.message ?? ''}`.trim() : 'invalid';
    return withId({ ok: false, code: ErrorCodes.INVALID_FRAME, message: `${type}: ${where}` }, id);
  }
  const frame = obj as unknown as ClientFrame;
  if ('channel' in frame) {
    const allowPattern = frame.type === 'subscribe' || frame.type === 'unsubscribe';
    const problem = channelProblem(frame.channel, allowPattern);
    if (problem !== undefined) {
      return withId({ ok: false, code: ErrorCodes.INVALID_CHANNEL, message: `channel ${problem}`, channel: frame.channel }, id);
    }
  }
  if (frame.type === 'publish' && frame.traceparent !== undefined && !isTraceparent(frame.traceparent)) {
    return withId(
      { ok: false, code: ErrorCodes.INVALID_FRAME, message: 'traceparent is not a valid W3C traceparent', channel: frame.channel },
      id,
    );
  }
  if (frame.type === 'publish' && depthExceeds(frame.data, maxDepth)) {
    return withId(
      { ok: false, code: ErrorCodes.INVALID_FRAME, message: `data is nested deeper than ${maxDepth} levels`, channel: frame.channel },
      id,
    );
  }
  return { ok: true, frame };
}

function readId(v: unknown): RequestId | undefined {
  if (typeof v === 'string' && v.length <= 64) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  return undefined;
}

/** A client value named in an error message: short, and never serialised whole (it may be huge or deep). */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  if (v === undefined) return '(missing)';
  if (v === null) return 'null';
  return `(a${Array.isArray(v) ? 'n array' : typeof v === 'object' ? 'n object' : ` ${typeof v}`})`;
}

function withId<T extends object>(r: T, id: RequestId | undefined): T & { id?: RequestId } {
  return id === undefined ? r : { ...r, id };
}

/**
 * True when `value` nests objects/arrays deeper than `max`. Iterative, so hostile input cannot
 * overflow the stack here (JSON.stringify later would).
 */
export function depthExceeds(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
    }
  }
  return false;
}
