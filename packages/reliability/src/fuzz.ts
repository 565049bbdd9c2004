// Generators of hostile input for the broker fuzzer (test/fuzz.int.test.ts, fuzz.ts). Frames are
// built as raw JSON text, not with JSON.stringify, so they can carry what a JS value cannot: number
// literals past 2^53 (9007199254740993), lone surrogate escapes ("\ud800"), nesting 100,000 deep
// (which JSON.stringify itself could not write). Every frame carries a `kind`: `<value class>@<field>`
// for a hostile value put in one field, or the name of its generator; failures are reported by kind.
import fc from 'fast-check';
import type { Fragmenting } from './rawws.js';

/** A fuzzed WebSocket message. */
export interface FuzzFrame {
  /** What made it: `deep@type`, `number@since`, `platform`, `broken-json`, … */
  kind: string;
  data: string | Buffer;
  /** Sent as a binary frame (the broker answers INVALID_FRAME). */
  binary: boolean;
  /** Sent split into continuation frames; one message all the same, so one reply. */
  frag?: Fragmenting;
}

// ---------------------------------------------------------------------------------------------
// Hostile values, as JSON text

/** A JSON value nested `depth` levels: arrays `[[…]]`, objects `{"a":{"a":…}}`, or both in turn. */
export function deepValue(shape: 'array' | 'object' | 'mixed', depth: number): string {
  if (shape === 'array') return '['.repeat(depth) + ']'.repeat(depth);
  if (shape === 'object') return '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);
  const half = Math.ceil(depth / 2);
  return '[{"a":'.repeat(half) + '1' + '}]'.repeat(half);
}

/** Depths: mostly around the limits (32 for data, the ~10k at which recursion overflows), up to 100,000. */
const depth = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(33, 100, 1000, 2000, 5000) },
  { weight: 2, arbitrary: fc.constantFrom(10_000, 20_000) },
  { weight: 1, arbitrary: fc.integer({ min: 33, max: 100_000 }) },
  { weight: 1, arbitrary: fc.constant(100_000) },
);

/** Number literals of the wrong kind or size (past 2^53, past double range, negative, fractions). */
export const HOSTILE_NUMBERS = [
  '9007199254740993',
  '9007199254740992',
  '9007199254740991',
  '-9007199254740993',
  '1e300',
  '-1e300',
  '1e309',
  '-1',
  '-0',
  '0',
  '0.5',
  '1.0',
  '1e-7',
  '2147483648',
  '4294967296',
  '18446744073709551616',
  '123456789012345678901234567890',
  '1000',
  '1001',
  '1E2',
];
/** Strings that look like numbers to a lax parser (NaN-like, hex, padded, empty). */
export const NUMBERISH = [
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
  '"1e3"',
  '"0x10"',
  '" 1"',
  '"1 "',
  '""',
  '"-1"',
  '"9007199254740993"',
  '"null"',
  '"0"',
  '"1.5"',
  '"+1"',
];
/** Lengths around every documented limit: id 64, msgId 128, channel 200, token 8192, payload, 1 MB. */
const SIZES = [0, 1, 63, 64, 65, 127, 128, 129, 199, 200, 201, 8192, 8193, 262_145, 1_000_000];
const bigStrings = new Map<string, string>();
/** `"xxxx…"` of `n` characters (cached: the big ones are reused, not rebuilt per frame). */
function sized(n: number, c: string): string {
  const key = `${c}${n}`;
  let s = bigStrings.get(key);
  if (s === undefined) bigStrings.set(key, (s = `"${c.repeat(n)}"`));
  return s;
}
/** Lone surrogates, NUL, bidi controls, escapes a strict UTF-8 encoder would choke on. */
export const UNICODE = [
  '"\\ud800"',
  '"\\udfff"',
  '"a\\ud800b"',
  '"\\udc00\\ud800"',
  '"\\ud83d"',
  '"\\u0000"',
  '"\\u202e"',
  '"\\ufeff"',
  '"fz.\\ud800"',
  '"\\\\"',
  '"$"',
  '"$blocks.deployed"',
  '"fz.\\u0000"',
  '"é"',
  '"😀"',
  '"\\u2028"',
];

/** A hostile value and its class (the class names a failure's kind). */
export interface HostileValue {
  cls: 'deep' | 'number' | 'numberish' | 'size' | 'unicode' | 'json';
  raw: string;
}

export const hostileValue: fc.Arbitrary<HostileValue> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('array', 'object', 'mixed') as fc.Arbitrary<'array' | 'object' | 'mixed'>, depth)
      .map(([shape, d]): HostileValue => ({ cls: 'deep', raw: deepValue(shape, d) })),
  },
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS).map((raw): HostileValue => ({ cls: 'number', raw })) },
  { weight: 2, arbitrary: fc.constantFrom(...NUMBERISH).map((raw): HostileValue => ({ cls: 'numberish', raw })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...SIZES), fc.constantFrom('x', 'é', 'a.'))
      .map(([n, c]): HostileValue => ({ cls: 'size', raw: sized(n >= 262_145 && c !== 'x' ? n / 2 : n, c) })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...UNICODE).map((raw): HostileValue => ({ cls: 'unicode', raw })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
        fc.constantFrom('null', 'true', 'false', '[]', '{}', '{"offset":1,"epoch":"x"}', '[1]', '{"__proto__":1}'),
      )
      .map((raw): HostileValue => ({ cls: 'json', raw })),
  },
);

// ---------------------------------------------------------------------------------------------
// Frames

/** A frame as ordered fields of raw JSON text. */
type RawFrame = Array<[string, string]>;
const enc = (f: RawFrame): string => `{${f.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

/** Valid frames of every client type, as raw fields: the templates hostile values are put into. */
export const TEMPLATES: Readonly<Record<string, RawFrame>> = {
  subscribe: [
    ['type', '"subscribe"'],
    ['channel', '"fz.a"'],
  ],
  'subscribe-since': [
    ['type', '"subscribe"'],
    ['channel', '"fz.b"'],
    ['since', '{"offset":1,"epoch":"x"}'],
  ],
  'subscribe-presence': [
    ['type', '"subscribe"'],
    ['channel', '"fz.*"'],
    ['presence', 'false'],
  ],
  unsubscribe: [
    ['type', '"unsubscribe"'],
    ['channel', '"fz.a"'],
  ],
  publish: [
    ['type', '"publish"'],
    ['channel', '"fz.a"'],
    ['data', '{"n":1}'],
    ['msgId', '"m1"'],
  ],
  history: [
    ['type', '"history"'],
    ['channel', '"fz.a"'],
    ['since', '0'],
    ['limit', '10'],
  ],
  presence: [
    ['type', '"presence"'],
    ['channel', '"fz.a"'],
  ],
  ping: [['type', '"ping"']],
  auth: [
    ['type', '"auth"'],
    ['token', '"x"'],
  ],
};
/** Field positions a hostile value goes in: every protocol field, the nested `since` ones, the frame itself. */
export const FIELDS = [
  'type',
  'id',
  'channel',
  'data',
  'since',
  'msgId',
  'token',
  'limit',
  'presence',
  'offset',
  'epoch',
  'since.offset',
  'since.epoch',
  'frame',
] as const;

/** One hostile value in one field of one frame type (`kind` = `<class>@<field>`). */
const fieldFrame: fc.Arbitrary<FuzzFrame> = fc
  .tuple(fc.constantFrom(...Object.keys(TEMPLATES)), fc.constantFrom(...FIELDS), hostileValue, fc.option(fc.nat(), { nil: undefined }))
  .map(([t, field, v, id]) => {
    const kind = `${v.cls}@${field}`;
    if (field === 'frame') return { kind, data: v.raw, binary: false };
    const f: RawFrame = (TEMPLATES[t] as RawFrame).map(([k, x]) => [k, x]);
    if (id !== undefined && field !== 'id') f.push(['id', String(id)]);
    const set = (k: string, raw: string): void => {
      const at = f.findIndex(([name]) => name === k);
      if (at >= 0) f[at] = [k, raw];
      else f.push([k, raw]);
    };
    if (field === 'since.offset') set('since', `{"offset":${v.raw},"epoch":"x"}`);
    else if (field === 'since.epoch') set('since', `{"offset":1,"epoch":${v.raw}}`);
    else set(field, v.raw);
    return { kind, data: enc(f), binary: false };
  });

/** Valid frames on real channels, with offsets and limits anywhere in range (incl. past what is stored). */
const validFrame: fc.Arbitrary<FuzzFrame> = fc
  .tuple(
    fc.constantFrom('fz.a', 'fz.b', 'fz.c.d', 'fz.*', 'fz.>'),
    fc.nat({ max: 5 }),
    fc.constantFrom(0, 1, 5, 999, 1000, 2 ** 31, Number.MAX_SAFE_INTEGER),
    fc.integer({ min: 1, max: 1000 }),
    fc.nat(),
  )
  .map(([channel, op, offset, limit, id]) => {
    const name = channel.includes('*') || channel.includes('>') ? 'fz.a' : channel;
    const frames = [
      { type: 'subscribe', id, channel },
      { type: 'subscribe', id, channel: name, since: { offset, epoch: 'x' } },
      { type: 'publish', id, channel: name, data: { n: id }, msgId: `m${id % 50}` },
      { type: 'history', id, channel: name, since: offset, limit },
      { type: 'unsubscribe', id, channel },
      { type: 'presence', id, channel: name },
    ];
    return { kind: 'valid', data: JSON.stringify(frames[op]), binary: false };
  });

/** Channels the platform itself writes (the blocks runtime follows `$blocks.deployed`), and other system channels. */
export const PLATFORM_CHANNELS = ['$blocks.deployed', '$objects.created', '$blocks.fz', '$dlq.fz', '$logs.fz'];
/** Junk for a platform channel: what a notice reader must not trust (null, wrong types, odd names). */
const platformJunk = fc.oneof(
  fc.constantFrom(
    'null',
    '1',
    '"x"',
    '[]',
    '{}',
    'true',
    '{"name":null}',
    '{"name":5}',
    '{"name":"fz-none"}',
    '{"name":"$index"}',
    '{"name":"__proto__"}',
    '{"name":"constructor"}',
    '{"name":"fz-none","removed":true}',
    '{"name":{"a":1}}',
    '{"name":["x"]}',
    '{"name":"\\ud800"}',
    `{"name":${sized(300, 'x')}}`,
    '{"name":"fz-none","version":null}',
    deepValue('array', 32),
  ),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
);
/** Publishes of junk to platform channels, and subscribe/history/presence on them. */
const platformFrame: fc.Arbitrary<FuzzFrame> = fc
  .tuple(fc.constantFrom(...PLATFORM_CHANNELS), platformJunk, fc.nat({ max: 9 }), fc.nat())
  .map(([channel, junk, op, id]) => {
    const c = JSON.stringify(channel);
    const frames = [
      `{"type":"subscribe","id":${id},"channel":${c}}`,
      `{"type":"history","id":${id},"channel":${c},"limit":5}`,
      `{"type":"presence","id":${id},"channel":${c}}`,
      `{"type":"subscribe","id":${id},"channel":"$blocks.*"}`,
    ];
    return {
      kind: 'platform',
      data: op < frames.length ? (frames[op] as string) : `{"type":"publish","id":${id},"channel":${c},"data":${junk}}`,
      binary: false,
    };
  });

/** One mutation of a valid frame: a field removed, replaced by any JSON, renamed, or the frame wrapped. */
const mutatedFrame: fc.Arbitrary<FuzzFrame> = fc
  .tuple(
    fc.constantFrom(...Object.values(TEMPLATES)),
    fc.constantFrom(...FIELDS.slice(0, 11)),
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('delete', 'replace', 'replace', 'wrap', 'channel'),
    fc.string({ unit: 'binary', maxLength: 40 }),
  )
  .map(([t, field, value, op, text]) => {
    const f = Object.fromEntries(t.map(([k, v]) => [k, JSON.parse(v) as unknown])) as Record<string, unknown>;
    if (op === 'delete') delete f[field];
    else if (op === 'replace') f[field] = value;
    else if (op === 'channel') f.channel = text;
    else return { kind: 'mutated', data: JSON.stringify([f, value]), binary: false };
    return { kind: 'mutated', data: JSON.stringify(f), binary: false };
  });

/** Truncations and byte flips of valid frames' JSON. */
const brokenJson: fc.Arbitrary<FuzzFrame> = fc
  .tuple(fc.constantFrom(...Object.values(TEMPLATES)), fc.nat(), fc.string({ maxLength: 3 }))
  .map(([t, at, junk]) => {
    const s = enc(t);
    const i = at % (s.length + 1);
    return { kind: 'broken-json', data: at % 2 === 0 ? s.slice(0, i) : s.slice(0, i) + junk + s.slice(i + 1), binary: false };
  });

/** Invalid UTF-8 inside an otherwise valid frame: a stray continuation byte, an encoded surrogate, an overlong form, 0xff. */
const BAD_UTF8 = [
  [0x80],
  [0xc3, 0x28],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xff],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xe2, 0x82],
];
const invalidUtf8: fc.Arbitrary<FuzzFrame> = fc
  .tuple(fc.constantFrom(...Object.values(TEMPLATES)), fc.constantFrom(...BAD_UTF8), fc.nat())
  .map(([t, bad, at]) => {
    const s = Buffer.from(enc(t));
    const i = at % (s.length + 1);
    return { kind: 'invalid-utf8', data: Buffer.concat([s.subarray(0, i), Buffer.from(bad), s.subarray(i)]), binary: false };
  });

/** Frames that are not JSON objects, or not text: any JSON, random text, random bytes, binary frames. */
const junkFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v): FuzzFrame => ({ kind: 'any-json', data: JSON.stringify(v) ?? 'null', binary: false })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((data): FuzzFrame => ({ kind: 'text', data, binary: false })),
  fc.uint8Array({ maxLength: 200 }).map((b): FuzzFrame => ({ kind: 'bytes', data: Buffer.from(b), binary: false })),
  fc
    .oneof(
      fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      fc.constantFrom(...Object.values(TEMPLATES)).map((t) => Buffer.from(enc(t))),
    )
    .map((data): FuzzFrame => ({ kind: 'binary', data, binary: true })),
  fc
    .constantFrom('', ' ', '{}', '[]', 'null', '{"type":null}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"type":"toString"}')
    .map((data): FuzzFrame => ({ kind: 'edge', data, binary: false })),
);

/** Cuts a message into 2–5 fragments (byte boundaries, so a UTF-8 character may be split), pings between them or not. */
const fragmenting: fc.Arbitrary<Fragmenting | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      cuts: fc.array(fc.integer({ min: 1, max: 1 << 20 }), { minLength: 1, maxLength: 4 }),
      pings: fc.nat({ max: 3 }).map((n) => n === 0),
    }),
  },
);

/** Every generator by kind family, with its weight in the stream. */
export const FAMILIES: ReadonlyArray<{ name: string; weight: number; arbitrary: fc.Arbitrary<FuzzFrame> }> = [
  { name: 'field', weight: 45, arbitrary: fieldFrame },
  { name: 'valid', weight: 12, arbitrary: validFrame },
  { name: 'platform', weight: 6, arbitrary: platformFrame },
  { name: 'mutated', weight: 15, arbitrary: mutatedFrame },
  { name: 'broken-json', weight: 6, arbitrary: brokenJson },
  { name: 'invalid-utf8', weight: 4, arbitrary: invalidUtf8 },
  { name: 'junk', weight: 12, arbitrary: junkFrame },
];

/**
 * Fuzzed frames, every one below the hard frame cap (4 × maxPayloadBytes + 4 KiB; frames over it
 * close the connection by design and are sent on their own connections): `families` picks
 * generators by name (all by default). About one in nine is sent fragmented.
 */
export function frameArbitrary(families: readonly string[] = FAMILIES.map((f) => f.name)): fc.Arbitrary<FuzzFrame> {
  const chosen = FAMILIES.filter((f) => families.includes(f.name));
  if (chosen.length === 0) throw new Error(`no frame family among ${families.join(',')}; known: ${FAMILIES.map((f) => f.name).join(',')}`);
  return fc.tuple(fc.oneof(...chosen), fragmenting).map(([f, frag]) => {
    if (frag === undefined) return f;
    const len = Buffer.byteLength(f.data);
    if (len < 2) return f;
    // Cuts become fragment lengths that leave at least one byte for the last fragment.
    let left = len - 1;
    const cuts: number[] = [];
    for (const c of frag.cuts) {
      if (left <= 0) break;
      const n = 1 + (c % left);
      cuts.push(n);
      left -= n;
    }
    return { ...f, frag: { cuts, pings: frag.pings } };
  });
}

/**
 * Frames `[chunk × n, (chunk + 1) × n)` of the stream for `seed`: each chunk is sampled on its own
 * seed, so a run of any length is generated lazily (the big frames are not all held at once) and
 * is the same for the same seed.
 */
export function framesChunk(arb: fc.Arbitrary<FuzzFrame>, seed: number, chunk: number, n: number): FuzzFrame[] {
  return fc.sample(arb, { seed: (seed ^ Math.imul(chunk + 1, 0x9e3779b1)) | 0, numRuns: n });
}

/** The frame as text for a report: kind, size, fragments, and its start (and end) cut to `max` characters. */
export function describeFrame(f: FuzzFrame, max = 160): string {
  const text =
    typeof f.data === 'string' ? f.data : f.binary ? `<binary ${f.data.toString('hex').slice(0, 80)}>` : f.data.toString('latin1');
  const size = Buffer.byteLength(f.data);
  const shown = text.length <= max ? text : `${text.slice(0, max - 40)}…(${text.length - max + 20} more)…${text.slice(-20)}`;
  const frag = f.frag === undefined ? '' : `, in ${f.frag.cuts.length + 1} fragments${f.frag.pings ? ' with a ping between' : ''}`;
  return `[${f.kind}, ${size} bytes${frag}] ${JSON.stringify(shown)}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** An HTTP request for the fuzzer. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

const PATHS = [
  '/v1/channels/fz.a/messages',
  '/v1/channels/fz.a/presence',
  '/healthz',
  '/readyz',
  '/metrics',
  '/v1/blocks/nope/x',
  '/v1/admin/blocks',
  '/v1/admin/overview',
  '/v1/admin/channels',
  '/v1/admin/blocks/nope/dlq',
  '/v1/uploads',
  '/v1/blobs/x',
  '/v1/images/a/b/c',
  '/v1/channels/',
  '/',
  '/v1/ws',
  '/v1/channels/$blocks.deployed/messages',
  '/v1/channels/$objects.created/messages',
  '/v1/channels/%24blocks.deployed/messages',
  '/v1/channels/%ED%A0%80/messages',
  '/v1/channels/fz.%00/messages',
];

/**
 * Random and mutated HTTP requests against every route. Bodies: JSON, hostile values as `data`
 * (deep to 100,000, numbers past 2^53, 1 MB strings), broken JSON, bytes; queries with hostile
 * numbers. `bearers` are Authorization values to use besides junk ones (a valid token, the secret).
 */
export function requestArbitrary(bearers: readonly string[] = []): fc.Arbitrary<FuzzRequest> {
  const q = fc.oneof(
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
    fc.constantFrom(...HOSTILE_NUMBERS, 'NaN', '', '-', '%', '1%00'),
  );
  const path = fc.oneof(
    fc.constantFrom(...PATHS),
    fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 })).map(([p, s]) => p + encodeURIComponent(s)),
    fc.tuple(fc.constantFrom(...PATHS), q, q).map(([p, a, b]) => `${p}?since=${a}&limit=${b}`),
    fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
  );
  const body = fc.oneof(
    fc.constant(undefined),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ data: v })),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
    hostileValue.map((v) => `{"data":${v.raw}}`),
    hostileValue.map((v) => `{"data":1,"msgId":${v.raw}}`),
    hostileValue.map((v) => v.raw),
    platformJunk.map((j) => `{"data":${j}}`),
    fc.string({ unit: 'binary', maxLength: 100 }),
    fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b)),
  );
  const auth = fc.oneof(
    fc.constant({} as Record<string, string>),
    fc.string({ maxLength: 30 }).map((t) => ({ authorization: `Bearer ${t.replace(/[^\x21-\x7e]/g, 'x')}` })),
    ...(bearers.length === 0 ? [] : [fc.constantFrom(...bearers).map((b) => ({ authorization: `Bearer ${b}` }))]),
  );
  // Mostly JSON bodies (the API answers others with 415 before reading them), sometimes not.
  const type = fc.constantFrom<Record<string, string>>(
    { 'content-type': 'application/json' },
    { 'content-type': 'application/json' },
    { 'content-type': 'application/json; charset=utf-8' },
    {},
    { 'content-type': 'text/plain' },
  );
  const headers = fc.tuple(auth, type).map(([a, t]) => ({ ...a, ...t }));
  return fc.record({ method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'), path, headers, body });
}
