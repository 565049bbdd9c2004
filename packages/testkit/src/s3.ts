import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { freePort } from './ports.js';

/** A running S3-protocol server on loopback (s3rver behind a SigV4-verifying front). */
export interface S3Server {
  /** `http://127.0.0.1:<port>`: pass as the S3 client's endpoint, with path-style addressing. */
  endpoint: string;
  port: number;
  /** The bucket created at start. */
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Requests refused by the front (bad or missing signature, unknown key, a {@link deny}, a failed
   * `If-Match` or `x-amz-copy-source-if-match`), newest last.
   */
  refused: Array<{ method: string; path: string; code: string }>;
  /**
   * Every request that passed the front (`PUT /bucket/key?partNumber=2&uploadId=…` …), newest
   * last: to tell a multipart upload (s3rver's ETags do not) or a ranged read from a whole one.
   */
  requests: Array<{ method: string; path: string; range?: string }>;
  /**
   * Refuses, from now on, every request whose method is `method` and whose path contains `pathPart`
   * with 403 `AccessDenied`, as a bucket or IAM policy missing that permission would (e.g.
   * `deny('DELETE', '/.incoming/')` for credentials without `s3:DeleteObject` there). Returns a
   * function that lifts the refusal.
   */
  deny(method: string, pathPart: string): () => void;
  /**
   * Runs `fn` once, before the first later request `match` accepts is served (its conditions checked,
   * handed to s3rver): what another client does between two requests of a flow — e.g. a second PUT to
   * a presigned URL just before the broker's copy of what it checked.
   */
  before(match: (r: { method: string; path: string; headers: IncomingHttpHeaders }) => boolean, fn: () => Promise<unknown>): void;
  /**
   * Stops the server the hard way, as a crashed host would: the listener closes and every open
   * connection is destroyed, mid-body or not. Data stays on disk for {@link restart}. Idempotent.
   */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after {@link kill}). */
  restart(): Promise<void>;
  /** Kills the server and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startS3}. */
export interface StartS3Options {
  /** @defaultValue 'tributary-test' */
  bucket?: string;
  /** @defaultValue 'us-east-1' */
  region?: string;
}

/** The access key s3rver knows (its built-in account); the secret is ours, checked by the front. */
const ACCESS_KEY_ID = 'S3RVER';

interface S3rverApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  configureBuckets(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverApp;

/**
 * Starts an S3-protocol server on a free loopback port: [s3rver](https://github.com/jamhall/s3rver)
 * (npm) in this process, storing in a temp directory, with one bucket. s3rver implements the S3
 * REST API (objects, ranges, multipart, copy, presigned URLs) but, by its own docs, does not verify
 * Signature Version 4 and streams a PUT body straight into the object's file. Two things real S3
 * does are therefore added by a front in this process, so tests of credentials, presigned URLs and
 * interrupted uploads mean something:
 * - **every request's SigV4 signature is verified** (header or query form, against the secret
 *   generated here): a wrong secret is `SignatureDoesNotMatch`, an unknown key `InvalidAccessKeyId`,
 *   both 403, as S3 answers. The signed headers are recomputed from what arrived, so a presigned
 *   PUT whose Content-Length or Content-Type differ from the signed ones is refused. The payload
 *   hash is taken as declared (S3 would also hash the body; the SDK signs `UNSIGNED-PAYLOAD` for
 *   streams anyway).
 * - **a PUT (object or part) is handed to s3rver only once its body arrived in full**: S3 never
 *   shows a partial object, while s3rver would show the bytes received so far of an upload whose
 *   connection died.
 * - **`If-Match` on GET/HEAD and `x-amz-copy-source-if-match` on a copy are enforced** (412
 *   `PreconditionFailed` when they name another ETag than the object's now), which s3rver ignores.
 * Not implemented by s3rver and so untested against it: checksums, object lock, versioning.
 */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  let S3rver: S3rverCtor;
  try {
    S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  } catch (err) {
    throw new Error(
      `startS3: the s3rver package could not be loaded (it is a dependency of @tributary/testkit: run pnpm install): ${(err as Error).message}`,
    );
  }
  const bucket = options.bucket ?? 'tributary-test';
  const region = options.region ?? 'us-east-1';
  const secretAccessKey = randomBytes(20).toString('base64url');
  const dir = await mkdtemp(join(tmpdir(), 'tributary-s3-'));
  const port = await freePort();
  const refused: S3Server['refused'] = [];
  const requests: S3Server['requests'] = [];
  const denials = new Set<{ method: string; pathPart: string }>();
  const hooks = new Set<{ match: Parameters<S3Server['before']>[0]; fn: () => Promise<unknown> }>();
  let server: Server | undefined;

  const listen = async (): Promise<void> => {
    const app = new S3rver({ directory: dir, silent: true, configureBuckets: [{ name: bucket }], vhostBuckets: false });
    await app.configureBuckets();
    const handle = app.callback();
    const srv = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const policy = [...denials].some((d) => d.method === req.method && path.includes(d.pathPart));
      const problem = policy ? denied('AccessDenied', 'Access Denied') : verifySigV4(req, { [ACCESS_KEY_ID]: secretAccessKey });
      if (problem !== undefined) {
        refused.push({ method: req.method ?? '', path: req.url ?? '', code: problem.code });
        return refuse(req, res, problem);
      }
      const range = req.headers.range;
      requests.push({ method: req.method ?? '', path: req.url ?? '', ...(range === undefined ? {} : { range }) });
      const forward = (): void => {
        if (req.method === 'PUT' && req.headers['x-amz-copy-source'] === undefined) {
          spool(req).then(
            (whole) => handle(whole, res),
            () => res.destroy(),
          );
          return;
        }
        handle(req, res);
      };
      const hook = [...hooks].find((h) => h.match({ method: req.method ?? '', path: req.url ?? '', headers: req.headers }));
      if (hook !== undefined) hooks.delete(hook);
      // The request waits (unread) for the hook; then its conditions are checked against the objects
      // as they are now, which s3rver does not do itself.
      (hook === undefined ? Promise.resolve() : hook.fn())
        .then(() => preconditionFailed(req, dir))
        .then(
          (failed) => {
            if (!failed) return forward();
            refused.push({ method: req.method ?? '', path: req.url ?? '', code: 'PreconditionFailed' });
            refuse(req, res, {
              status: 412,
              code: 'PreconditionFailed',
              message: 'At least one of the pre-conditions you specified did not hold',
            });
          },
          () => res.destroy(),
        );
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (err) =>
        reject(new Error(`startS3: could not listen on 127.0.0.1:${port}: ${(err as Error).message}`, { cause: err })),
      );
      srv.listen(port, '127.0.0.1', () => resolve());
    });
    server = srv;
  };

  const kill = async (): Promise<void> => {
    const srv = server;
    server = undefined;
    if (srv === undefined) return;
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    srv.closeAllConnections();
    await closed;
  };

  await listen();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    region,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey,
    refused,
    requests,
    before: (match, fn) => void hooks.add({ match, fn }),
    deny: (method, pathPart) => {
      const d = { method, pathPart };
      denials.add(d);
      return () => void denials.delete(d);
    },
    kill,
    restart: async () => {
      if (server !== undefined) throw new Error('startS3: restart() after kill()');
      await listen();
    },
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Whether an `If-Match` (GET, HEAD) or `x-amz-copy-source-if-match` (copy) names another ETag than
 * the object's now — S3 answers 412 then. The ETag is s3rver's, the MD5 it keeps beside each object
 * (`<name>._S3rver_object.md5`). A missing object is left to s3rver to answer (404).
 */
async function preconditionFailed(req: IncomingMessage, dir: string): Promise<boolean> {
  let wanted: string | undefined;
  let object: string | undefined;
  const copySource = req.headers['x-amz-copy-source'];
  if (req.method === 'PUT' && typeof copySource === 'string') {
    wanted = header(req, 'x-amz-copy-source-if-match');
    object = decodeURIComponent(copySource.split('?')[0] ?? '').replace(/^\//, '');
  } else if (req.method === 'GET' || req.method === 'HEAD') {
    wanted = header(req, 'if-match');
    object = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\//, '');
  }
  if (wanted === undefined || object === undefined) return false;
  const parts = object.split('/');
  const name = parts.pop() ?? '';
  let md5: string;
  try {
    md5 = (await readFile(join(dir, ...parts, `${name}._S3rver_object.md5`), 'utf8')).trim();
  } catch {
    return false;
  }
  const strip = (t: string): string => t.trim().replace(/^W\//, '').replace(/"/g, '');
  return !wanted.split(',').some((t) => strip(t) === '*' || strip(t) === strip(md5));
}

/** Reads a request body in full and returns a stand-in request that replays it. */
async function spool(req: IncomingMessage): Promise<IncomingMessage> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  if (!req.complete) throw new Error('request aborted');
  const whole = Readable.from(chunks.length === 0 ? [] : [Buffer.concat(chunks)]) as unknown as IncomingMessage;
  // What Koa and s3rver read of a request besides its body.
  for (const k of ['headers', 'rawHeaders', 'url', 'method', 'httpVersion', 'httpVersionMajor', 'httpVersionMinor', 'socket'] as const) {
    Object.defineProperty(whole, k, { value: req[k], writable: true });
  }
  Object.defineProperty(whole, 'connection', { value: req.socket });
  Object.defineProperty(whole, 'complete', { value: true });
  return whole;
}

interface Problem {
  status: number;
  code: string;
  message: string;
}

function refuse(req: IncomingMessage, res: ServerResponse, p: Problem): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${p.code}</Code><Message>${p.message}</Message></Error>`;
  res.writeHead(p.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(req.method === 'HEAD' ? undefined : body);
  req.resume();
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string): Buffer => createHmac('sha256', key).update(s, 'utf8').digest();
/** RFC 3986 encoding, as SigV4 canonicalises query names and values. */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Verifies an AWS Signature Version 4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html),
 * header or presigned-query form, recomputing the canonical request from what arrived. Returns the
 * refusal S3 would answer, or undefined when the signature is valid. Anonymous requests are refused.
 */
function verifySigV4(req: IncomingMessage, secrets: Record<string, string>): Problem | undefined {
  const url = new URL(req.url ?? '/', 'http://x');
  const rawQuery = (req.url ?? '').includes('?') ? (req.url as string).slice((req.url as string).indexOf('?') + 1) : '';
  const q = url.searchParams;
  let credential: string | undefined;
  let signedHeaders: string | undefined;
  let signature: string | undefined;
  let amzDate: string | undefined;
  let payloadHash: string;
  const presigned = q.get('X-Amz-Algorithm') !== null;
  if (presigned) {
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
      return denied('AuthorizationQueryParametersError', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256');
    credential = q.get('X-Amz-Credential') ?? undefined;
    signedHeaders = q.get('X-Amz-SignedHeaders') ?? undefined;
    signature = q.get('X-Amz-Signature') ?? undefined;
    amzDate = q.get('X-Amz-Date') ?? undefined;
    payloadHash = q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
    const expires = Number(q.get('X-Amz-Expires'));
    const t = parseAmzDate(amzDate);
    if (t === undefined || !Number.isFinite(expires)) return denied('AuthorizationQueryParametersError', 'bad X-Amz-Date or X-Amz-Expires');
    if (Date.now() > t + expires * 1000) return denied('AccessDenied', 'Request has expired');
  } else {
    const auth = req.headers.authorization;
    if (auth === undefined) return denied('AccessDenied', 'Anonymous access is forbidden');
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$/.exec(auth.trim());
    if (m === null) return denied('AuthorizationHeaderMalformed', 'The authorization header is malformed');
    [, credential, signedHeaders, signature] = m;
    amzDate = header(req, 'x-amz-date');
    payloadHash = header(req, 'x-amz-content-sha256') ?? '';
    if (payloadHash === '') return { status: 400, code: 'InvalidRequest', message: 'Missing required header: x-amz-content-sha256' };
    const t = parseAmzDate(amzDate);
    if (t === undefined || Math.abs(Date.now() - t) > 15 * 60_000)
      return denied('RequestTimeTooSkewed', 'The request time is too far from the server time');
  }
  if (credential === undefined || signedHeaders === undefined || signature === undefined || amzDate === undefined)
    return denied('AccessDenied', 'incomplete signature');
  const [keyId, date, region, service, terminator] = credential.split('/');
  const secret = keyId === undefined ? undefined : secrets[keyId];
  if (secret === undefined) return denied('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (date === undefined || region === undefined || service !== 's3' || terminator !== 'aws4_request')
    return denied('AuthorizationHeaderMalformed', 'bad credential scope');
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return denied('AccessDenied', 'host must be a signed header');
  const query = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const [k, v] = i === -1 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
      return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v))] as const;
    })
    .filter(([k]) => k !== 'X-Amz-Signature')
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = names.map((n) => `${n}:${(header(req, n) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, url.pathname, query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return denied('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function denied(code: string, message: string): Problem {
  return { status: 403, code, message };
}

/** `20240101T000000Z` in ms, or undefined. */
function parseAmzDate(s: string | undefined): number | undefined {
  const m = s === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}
