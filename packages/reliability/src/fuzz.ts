import fc from 'fast-check';

/** Client frame types and a valid example of each, the seeds that mutations start from. */
export const VALID_FRAMES: ReadonlyArray<Record<string, unknown>> = [
  { type: 'subscribe', channel: 'fz.a' },
  { type: 'subscribe', channel: 'fz.*', presence: false },
  { type: 'subscribe', channel: 'fz.b', since: { offset: 1, epoch: 'x' } },
  { type: 'unsubscribe', channel: 'fz.a' },
  { type: 'publish', channel: 'fz.a', data: { n: 1 }, msgId: 'm1' },
  { type: 'history', channel: 'fz.a', since: 0, limit: 10 },
  { type: 'presence', channel: 'fz.a' },
  { type: 'ping' },
  { type: 'auth', token: 'x' },
];

const FIELDS = ['type', 'id', 'channel', 'data', 'msgId', 'since', 'limit', 'presence', 'token', 'offset', 'epoch'];

/** One mutation of a valid frame: a field removed, replaced by any JSON, renamed, or the frame wrapped. */
const mutatedFrame: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(...VALID_FRAMES),
    fc.constantFrom(...FIELDS),
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('delete', 'replace', 'replace', 'add', 'wrap', 'channel'),
    fc.string({ unit: 'binary', maxLength: 40 }),
  )
  .map(([frame, field, value, op, text]) => {
    const f: Record<string, unknown> = { ...frame };
    if (op === 'delete') delete f[field];
    else if (op === 'replace' || op === 'add') f[field] = value;
    else if (op === 'channel') f.channel = text;
    else return JSON.stringify([f, value]);
    return JSON.stringify(f);
  });

/** Truncations and byte flips of valid frames' JSON. */
const brokenJson: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...VALID_FRAMES), fc.nat(), fc.string({ maxLength: 3 }))
  .map(([frame, at, junk]) => {
    const s = JSON.stringify(frame);
    const i = at % (s.length + 1);
    return at % 2 === 0 ? s.slice(0, i) : s.slice(0, i) + junk + s.slice(i + 1);
  });

/** A data value nested `depth` deep. */
export const deepData = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/** What a fuzzed WebSocket frame is: text (maybe invalid UTF-8) or a binary frame. */
export interface FuzzFrame {
  data: string | Buffer;
  binary: boolean;
}

/**
 * Random and mutated frames: arbitrary strings and bytes (invalid UTF-8 included), any JSON,
 * mutations of every valid frame type, broken JSON, deep nesting and over-size data (below the hard
 * frame cap of `4 × maxPayloadBytes + 4 KiB`, which closes the connection by design).
 */
export function frameArbitrary(maxPayloadBytes: number): fc.Arbitrary<FuzzFrame> {
  const text = (a: fc.Arbitrary<string>): fc.Arbitrary<FuzzFrame> => a.map((data) => ({ data, binary: false }));
  return fc.oneof(
    { weight: 30, arbitrary: text(mutatedFrame) },
    { weight: 10, arbitrary: text(brokenJson) },
    { weight: 10, arbitrary: text(fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null')) },
    { weight: 10, arbitrary: text(fc.string({ unit: 'binary', maxLength: 200 })) },
    { weight: 10, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ data: Buffer.from(b), binary: false })) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ data: Buffer.from(b), binary: true })) },
    { weight: 3, arbitrary: fc.integer({ min: 20, max: 300 }).map((d) => ({ data: `{"type":"publish","channel":"fz.deep","data":${deepData(d)}}`, binary: false })) },
    { weight: 3, arbitrary: fc.integer({ min: maxPayloadBytes, max: 3 * maxPayloadBytes }).map((n) => ({ data: JSON.stringify({ type: 'publish', channel: 'fz.big', data: 'x'.repeat(n) }), binary: false })) },
  );
}

/** An HTTP request for the fuzzer. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

const PATHS = ['/v1/channels/fz.a/messages', '/v1/channels/fz.a/presence', '/healthz', '/metrics', '/v1/blocks/nope/x',
  '/v1/admin/blocks', '/v1/uploads', '/v1/blobs/x', '/v1/images/a/b/c', '/v1/channels/', '/', '/v1/ws'];

/** Random and mutated HTTP requests against every route (bodies: JSON, broken JSON, bytes, deep, big). */
export function requestArbitrary(): fc.Arbitrary<FuzzRequest> {
  const path = fc.oneof(
    fc.constantFrom(...PATHS),
    fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 })).map(([p, s]) => p + encodeURIComponent(s)),
    fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 })).map(([p, s]) => `${p}?since=${encodeURIComponent(s)}&limit=${encodeURIComponent(s)}`),
    fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
  );
  const body = fc.oneof(
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ data: v })),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
    fc.integer({ min: 40, max: 200 }).map((d) => `{"data":${deepData(d)}}`),
    fc.constant(JSON.stringify({ data: 'x'.repeat(300_000) })),
  );
  const headers = fc.oneof(
    fc.constant({} as Record<string, string>),
    fc.constant({ 'content-type': 'application/json' }),
    fc.string({ maxLength: 30 }).map((t) => ({ authorization: `Bearer ${t.replace(/[^\x21-\x7e]/g, 'x')}` })),
  );
  return fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'), path, headers, body });
}
