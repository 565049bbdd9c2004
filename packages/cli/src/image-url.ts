import { parseSpec, UrlSigner, type TransformSpec } from '@tributary/images';
import { brokerUrl, intOption, parse, UsageError } from './args.js';
import { imageSigningKeys } from './image-keys.js';

export const imageUrlHelp = `tributary image-url KEY [options]

Prints a signed on-the-fly image URL for the stored object KEY (e.g. uploads/ab12…): opening it
transforms, caches and serves the image. Signs offline, as 'tributary token' does, with the key the
broker uses: env TRIBUTARY_IMAGE_KEYS or TRIBUTARY_IMAGE_KEY, else derived from --secret /
TRIBUTARY_SECRET, else (--insecure) the development key of 'tributary start --insecure'.

  --width N, --height N   resize (default mode fit: inside the box, aspect kept)
  --mode M                scale | fit | limit | fill | pad
  --format F              auto (default: negotiated from Accept) | jpeg | png | webp | avif | original
  --quality Q             1–100
  --spec JSON             a whole transform spec instead (docs/IMAGES.md), e.g.
                          '{"v":1,"steps":[{"op":"grayscale"}],"output":{"format":"webp"}}'
  --url BASE              broker base URL (env TRIBUTARY_URL, default http://127.0.0.1:7700)
  --secret S, --insecure  where the signing key comes from (see above)

  tributary image-url uploads/ab12 --width 320 --format webp`;

const MODES = ['scale', 'fit', 'limit', 'fill', 'pad'];

export async function imageUrl(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    width: { type: 'string' },
    height: { type: 'string' },
    mode: { type: 'string' },
    format: { type: 'string' },
    quality: { type: 'string' },
    spec: { type: 'string' },
    url: { type: 'string' },
    secret: { type: 'string' },
    insecure: { type: 'boolean' },
  });
  const [key, ...extra] = positionals;
  if (key === undefined || extra.length > 0) throw new UsageError('image-url takes one KEY');
  // An explicit --insecure means the development key, even with TRIBUTARY_SECRET in the environment.
  const secret = values.secret ?? (values.insecure === true ? undefined : process.env.TRIBUTARY_SECRET);
  const signer = new UrlSigner(imageSigningKeys({ secret, insecure: values.insecure }));
  try {
    process.stdout.write(`${brokerUrl(values.url)}${signer.path(specOf(values), key)}\n`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message);
  }
  return 0;
}

function specOf(v: { width?: string; height?: string; mode?: string; format?: string; quality?: string; spec?: string }): TransformSpec {
  if (v.spec !== undefined) {
    if (v.width ?? v.height ?? v.mode ?? v.format ?? v.quality)
      throw new UsageError('--spec replaces --width, --height, --mode, --format and --quality');
    let json: unknown;
    try {
      json = JSON.parse(v.spec);
    } catch {
      throw new UsageError('--spec must be JSON');
    }
    return parseSpec(json);
  }
  const width = intOption('width', v.width, 1);
  const height = intOption('height', v.height, 1);
  if (v.mode !== undefined && !MODES.includes(v.mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}`);
  const resize: Record<string, unknown> = { op: 'resize', mode: v.mode ?? 'fit' };
  if (width !== undefined) resize.width = width;
  if (height !== undefined) resize.height = height;
  const steps = width === undefined && height === undefined ? [] : [resize];
  const output: Record<string, unknown> = { format: v.format ?? 'auto' };
  if (v.quality !== undefined) output.quality = intOption('quality', v.quality, 1);
  return parseSpec({ v: 1, steps, output });
}
