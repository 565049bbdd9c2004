import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp, { type Sharp } from 'sharp';

/** One upload the fake accepted. */
export interface FakeUpload {
  publicId: string;
  /** Every form field except the file, as received. */
  params: Record<string, string>;
  /** The eager transformation strings, in order. */
  eager: string[];
  bytes: number;
}

/** A running fake Cloudinary upload API. */
export interface FakeCloudinary {
  /** Base URL to use as the SDK's `upload_prefix`. */
  url: string;
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  /** `cloudinary://key:secret@cloud?upload_prefix=…` for this fake. */
  cloudinaryUrl: string;
  /** Accepted uploads, oldest first. */
  uploads: FakeUpload[];
  /** Requests refused (bad signature, stale, unknown key …), with Cloudinary's error message. */
  rejected: Array<{ status: number; message: string }>;
  stop(): Promise<void>;
}

/** Options of {@link startFakeCloudinary}. */
export interface StartFakeCloudinaryOptions {
  cloudName?: string;
  apiKey?: string;
  apiSecret?: string;
  /** The account's signature algorithm. @defaultValue 'sha1' */
  signatureAlgorithm?: 'sha1' | 'sha256';
}

/**
 * A local stand-in for Cloudinary's Upload API (`POST /v1_1/<cloud>/image/upload`), for tests that
 * cannot reach the real service. It checks what Cloudinary checks the way Cloudinary documents it
 * (https://cloudinary.com/documentation/authentication_signatures): the api_key, the timestamp (≤ 1 h
 * old), and the signature — every parameter except file, cloud_name, resource_type and api_key,
 * sorted by name, `name=value` joined with `&` (with `&` inside values escaped as `%26`, signature
 * version 2), the API secret appended, SHA-1 (or SHA-256) in hex. Refusals use Cloudinary's status
 * codes and `{ "error": { "message" } }` body. Accepted uploads are decoded and every eager
 * transformation is really applied with sharp, so widths, heights, formats and bytes in the response
 * are real, and the outputs can be fetched from the `secure_url`s (served by the fake itself).
 *
 * It implements the subset of transformation parameters @tributary/images emits (c, w, h, g, x, y,
 * b, a, e_blur, e_grayscale, r, f, q, fl_animated, fl_awebp) — an independent parser, so it checks
 * that mapping too. Every frame of an animation is decoded and transformed; what comes out follows
 * Cloudinary's documented rules (see applyTransformation), so a mapping that loses an animation
 * gets a still image back, as it would from Cloudinary.
 */
export async function startFakeCloudinary(options: StartFakeCloudinaryOptions = {}): Promise<FakeCloudinary> {
  const cloudName = options.cloudName ?? 'demo-fake';
  const apiKey = options.apiKey ?? String(100_000_000_000_000 + Math.floor(Math.random() * 1e12));
  const apiSecret = options.apiSecret ?? randomBytes(20).toString('base64url');
  const algorithm = options.signatureAlgorithm ?? 'sha1';
  const uploads: FakeUpload[] = [];
  const rejected: FakeCloudinary['rejected'] = [];
  const delivered = new Map<string, { data: Buffer; type: string }>();
  let base = '';

  const fail = (res: ServerResponse, status: number, message: string): void => {
    rejected.push({ status, message });
    send(res, status, { error: { message } });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => fail(res, 500, `General Error: ${(err as Error).message}`));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'GET') {
      const hit = delivered.get(path);
      if (hit === undefined) return fail(res, 404, 'Resource not found');
      res.writeHead(200, { 'content-type': hit.type, 'content-length': hit.data.length });
      return void res.end(hit.data);
    }
    const m = /^\/v1_1\/([^/]+)\/image\/upload$/.exec(path);
    if (req.method !== 'POST' || m === null) return fail(res, 404, 'Resource not found');
    if (m[1] !== cloudName) return fail(res, 401, `Invalid cloud_name ${m[1]}`);
    const body = await readAll(req);
    const form = await new Request('http://fake/', {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? '' },
      body,
    }).formData();
    const params: Record<string, string> = {};
    let file: Buffer | undefined;
    for (const [k, v] of form.entries()) {
      if (k === 'file') file = typeof v === 'string' ? Buffer.from(v) : Buffer.from(await v.arrayBuffer());
      else if (typeof v === 'string') params[k] = v;
    }
    if (params.api_key === undefined) return fail(res, 401, 'Must supply api_key');
    if (params.api_key !== apiKey) return fail(res, 401, `Invalid api_key ${params.api_key}`);
    if (params.signature === undefined) return fail(res, 401, 'Missing required parameter - signature');
    if (params.timestamp === undefined) return fail(res, 401, 'Missing required parameter - timestamp');
    const toSign = stringToSign(params);
    const expected = createHash(algorithm)
      .update(toSign + apiSecret)
      .digest('hex');
    if (params.signature !== expected) return fail(res, 401, `Invalid Signature ${params.signature}. String to sign - '${toSign}'.`);
    const age = Date.now() / 1000 - Number(params.timestamp);
    if (!(age < 3600)) return fail(res, 400, `Stale request - reported time is ${params.timestamp} which is more than 1 hour ago`);
    if (file === undefined) return fail(res, 400, 'Missing required parameter - file');
    let meta: sharp.Metadata;
    try {
      meta = await sharp(file).metadata();
    } catch {
      return fail(res, 400, 'Invalid image file');
    }
    const publicId = params.public_id ?? randomBytes(10).toString('hex');
    const version = Math.floor(Date.now() / 1000);
    const format = meta.format === 'jpeg' ? 'jpg' : String(meta.format);
    const eager = params.eager === undefined || params.eager === '' ? [] : params.eager.split('|');
    const original = await sharp(file).rotate().toBuffer({ resolveWithObject: true });
    const asset = (transformation: string, data: Buffer, fmt: string): string => {
      const p = `/${cloudName}/image/upload/${transformation === '' ? '' : `${transformation}/`}v${version}/${publicId}.${fmt}`;
      delivered.set(p, { data, type: `image/${fmt === 'jpg' ? 'jpeg' : fmt}` });
      return `${base}${p}`;
    };
    const eagerOut = [];
    for (const t of eager) {
      let out: { data: Buffer; info: sharp.OutputInfo; format: string };
      try {
        out = await applyTransformation(file, t, format, meta.pages ?? 1);
      } catch (err) {
        return fail(res, 400, `Invalid transformation component - ${t}: ${(err as Error).message}`);
      }
      const url = asset(t, out.data, out.format);
      eagerOut.push({
        transformation: t,
        width: out.info.width,
        height: out.info.height,
        bytes: out.data.length,
        format: out.format,
        url: url.replace(/^https:/, 'http:'),
        secure_url: url,
      });
    }
    const url = asset('', file, format);
    uploads.push({ publicId, params, eager, bytes: file.length });
    send(res, 200, {
      asset_id: randomBytes(16).toString('hex'),
      public_id: publicId,
      version,
      version_id: randomBytes(16).toString('hex'),
      signature: createHash('sha1').update(`public_id=${publicId}&version=${version}${apiSecret}`).digest('hex'),
      width: original.info.width,
      height: original.info.height,
      format,
      // Cloudinary reports the frames of a multi-page original.
      ...((meta.pages ?? 1) > 1 ? { pages: meta.pages } : {}),
      resource_type: 'image',
      created_at: new Date(version * 1000).toISOString(),
      tags: [],
      bytes: file.length,
      type: 'upload',
      etag: createHash('md5').update(file).digest('hex'),
      placeholder: false,
      url: url.replace(/^https:/, 'http:'),
      secure_url: url,
      asset_folder: '',
      display_name: publicId.split('/').pop(),
      original_filename: 'file',
      api_key: apiKey,
      ...(eager.length > 0 ? { eager: eagerOut } : {}),
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    cloudName,
    apiKey,
    apiSecret,
    cloudinaryUrl: `cloudinary://${apiKey}:${apiSecret}@${cloudName}?upload_prefix=${encodeURIComponent(base)}${algorithm === 'sha256' ? '&signature_algorithm=sha256' : ''}`,
    uploads,
    rejected,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Cloudinary's string to sign (signature version 2). */
export function stringToSign(params: Record<string, string>): string {
  const excluded = new Set(['file', 'cloud_name', 'resource_type', 'api_key', 'signature']);
  return Object.keys(params)
    .filter((k) => !excluded.has(k) && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k] as string}`.replace(/&/g, '%26'))
    .join('&');
}

const GRAVITY: Record<string, string> = {
  center: 'centre',
  north: 'north',
  south: 'south',
  east: 'east',
  west: 'west',
  north_east: 'northeast',
  north_west: 'northwest',
  south_east: 'southeast',
  south_west: 'southwest',
};

/**
 * Cloudinary's frame limit for a synchronous transformation of an animation: longer ones are
 * truncated to it (https://cloudinary.com/documentation/animated_images, "Length limitations").
 */
export const FAKE_SYNC_MAX_FRAMES = 100;

/** Parsed components of a chained transformation string; `fl_` values of a component are collected. */
function parseTransformation(transformation: string): { components: Array<Record<string, string>>; flags: Set<string> } {
  const flags = new Set<string>();
  const components = transformation.split('/').map((comp) => {
    const p: Record<string, string> = {};
    for (const kv of comp.split(',')) {
      const i = kv.indexOf('_');
      if (i <= 0) throw new Error(`bad parameter ${kv}`);
      const key = kv.slice(0, i);
      const value = kv.slice(i + 1);
      if (key === 'fl') {
        // Several flags are one fl_ joined by dots, or repeated fl_ parameters.
        for (const f of value.split('.')) {
          if (!KNOWN_FLAGS.has(f)) throw new Error(`unknown flag ${f}`);
          flags.add(f);
        }
      } else p[key] = value;
    }
    return p;
  });
  return { components, flags };
}

/** The flags this fake understands; anything else is refused, as a typo would be by Cloudinary. */
const KNOWN_FLAGS = new Set(['animated', 'awebp']);

/**
 * Applies a chained transformation string (`c_fill,h_10,w_10/f_webp`) to every frame of the input
 * (each decoded on its own, so an animation's frames are all really read), one component per pass,
 * then encodes as Cloudinary documents: GIF keeps the animation; WebP keeps it only with `fl_awebp`
 * (else the first frame, "instead of only from the first still frame"); other formats are still.
 * At most {@link FAKE_SYNC_MAX_FRAMES} frames are kept, as Cloudinary truncates synchronous ones.
 */
async function applyTransformation(
  file: Buffer,
  transformation: string,
  inputFormat: string,
  pages: number,
): Promise<{ data: Buffer; info: sharp.OutputInfo; format: string; pages: number }> {
  const { components, flags } = parseTransformation(transformation);
  let format = inputFormat;
  let quality: number | undefined;
  for (const p of components) {
    if (p.f !== undefined) format = p.f;
    if (p.q !== undefined) quality = Number(p.q);
  }
  const keeps = format === 'gif' || (format === 'webp' && flags.has('awebp'));
  const frames: Buffer[] = [];
  for (let page = 0; page < Math.min(pages, FAKE_SYNC_MAX_FRAMES); page++) {
    const frame = await applyComponents(await sharp(file, { page }).rotate().png().toBuffer(), components);
    frames.push(frame);
  }
  const kept = keeps ? frames : frames.slice(0, 1);
  const first = await sharp(kept[0] as Buffer).metadata();
  const width = first.width ?? 0;
  const height = first.height ?? 0;
  const raw = await Promise.all(kept.map((f) => sharp(f).ensureAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer()));
  const delays = (await sharp(file).metadata()).delay;
  let out = sharp(Buffer.concat(raw), {
    raw: { width, height: height * kept.length, channels: 4, ...(kept.length > 1 ? { pageHeight: height } : {}) },
  });
  const anim = kept.length > 1 ? { loop: 0, ...(delays === undefined ? {} : { delay: delays.slice(0, kept.length) }) } : {};
  const q = quality === undefined ? {} : { quality };
  if (format === 'jpg' || format === 'jpeg') out = out.flatten({ background: '#ffffff' }).jpeg(q);
  else if (format === 'webp') out = out.webp({ ...q, ...anim });
  else if (format === 'avif') out = out.avif(q);
  else if (format === 'gif') out = out.gif(anim);
  else out = out.png();
  const { data, info } = await out.toBuffer({ resolveWithObject: true });
  return { data, info: { ...info, height }, format: format === 'jpeg' ? 'jpg' : format, pages: kept.length };
}

/** Runs the components but `f`/`q` (the encoding) on one still frame; a PNG comes back. */
async function applyComponents(frame: Buffer, components: Array<Record<string, string>>): Promise<Buffer> {
  let current = frame;
  for (const p of components) {
    const meta = await sharp(current).metadata();
    const W = meta.width ?? 0;
    const H = meta.height ?? 0;
    let img: Sharp = sharp(current);
    const w = p.w === undefined ? undefined : Number(p.w);
    const h = p.h === undefined ? undefined : Number(p.h);
    const position = p.g === undefined || p.g === 'auto' ? (p.g === 'auto' ? sharp.strategy.attention : 'centre') : GRAVITY[p.g];
    if (p.g !== undefined && p.g !== 'auto' && position === undefined) throw new Error(`unknown gravity ${p.g}`);
    const bg = p.b?.startsWith('rgb:') === true ? `#${p.b.slice(4)}` : '#ffffff';
    switch (p.c) {
      case undefined:
        break;
      case 'scale':
        img = img.resize({ ...(w === undefined ? {} : { width: w }), ...(h === undefined ? {} : { height: h }), fit: 'fill' });
        break;
      case 'fit':
        img = img.resize({ ...(w === undefined ? {} : { width: w }), ...(h === undefined ? {} : { height: h }), fit: 'inside' });
        break;
      case 'limit':
        img = img.resize({
          ...(w === undefined ? {} : { width: w }),
          ...(h === undefined ? {} : { height: h }),
          fit: 'inside',
          withoutEnlargement: true,
        });
        break;
      case 'fill':
        img = img.resize({ width: w as number, height: h as number, fit: 'cover', position });
        break;
      case 'pad':
        img = img.resize({ width: w as number, height: h as number, fit: 'contain', position, background: bg });
        break;
      case 'crop': {
        const cw = Math.min(w ?? W, W);
        const ch = Math.min(h ?? H, H);
        let left: number;
        let top: number;
        if (p.x !== undefined || p.y !== undefined) {
          left = Math.min(Number(p.x ?? 0), W - 1);
          top = Math.min(Number(p.y ?? 0), H - 1);
        } else {
          const g = p.g ?? 'center';
          left = g.includes('west') ? 0 : g.includes('east') ? W - cw : Math.floor((W - cw) / 2);
          top = g.includes('north') ? 0 : g.includes('south') ? H - ch : Math.floor((H - ch) / 2);
        }
        img = img.extract({ left, top, width: Math.min(cw, W - left), height: Math.min(ch, H - top) });
        break;
      }
      default:
        throw new Error(`unsupported crop mode ${p.c}`);
    }
    if (p.a !== undefined) {
      if (p.a === 'hflip') img = img.flop();
      else if (p.a === 'vflip') img = img.flip();
      else img = img.rotate(Number(p.a), { background: bg });
    }
    if (p.e !== undefined) {
      if (p.e === 'grayscale') img = img.grayscale();
      else if (p.e.startsWith('blur')) img = img.blur(Math.max(0.3, Number(p.e.split(':')[1] ?? 100) / 20));
      else throw new Error(`unsupported effect ${p.e}`);
    }
    current = await img.png().toBuffer();
    if (p.r !== undefined) {
      const m2 = await sharp(current).metadata();
      const cw = m2.width ?? 0;
      const ch = m2.height ?? 0;
      const rx = p.r === 'max' ? cw / 2 : Number(p.r);
      const ry = p.r === 'max' ? ch / 2 : Number(p.r);
      const mask = Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${cw}" height="${ch}"><rect width="${cw}" height="${ch}" rx="${rx}" ry="${ry}"/></svg>`,
      );
      current = await sharp(current)
        .ensureAlpha()
        .composite([{ input: mask, blend: 'dest-in' }])
        .png()
        .toBuffer();
    }
  }
  return current;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
