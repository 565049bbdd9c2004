import { deriveSigningKey, parseSigningKeys, type SigningKey } from '@tributary/images';
import { UsageError } from './args.js';

/**
 * Not a secret: what a node in insecure mode derives its image-URL key from, so that `tributary
 * image-url --insecure` signs URLs that `tributary start --insecure` (and the examples) serve, across
 * restarts. Insecure mode has no auth at all and listens on loopback only.
 */
export const INSECURE_IMAGE_SECRET = 'tributary insecure development mode: no auth';

/**
 * The keys that sign image URLs, newest first: TRIBUTARY_IMAGE_KEY (`id:secret,…` for rotation, or
 * one bare secret), else derived from the broker secret, else the development key in insecure mode.
 */
export function imageSigningKeys(o: { secret?: string | undefined; insecure?: boolean | undefined }): SigningKey[] {
  const env = process.env.TRIBUTARY_IMAGE_KEY;
  try {
    if (env !== undefined && env !== '') return parseSigningKeys(env);
  } catch (err) {
    throw new UsageError(`TRIBUTARY_IMAGE_KEY: ${(err as Error).message}`);
  }
  if (o.secret !== undefined && o.secret !== '') return [deriveSigningKey(o.secret)];
  if (o.insecure === true) return [deriveSigningKey(INSECURE_IMAGE_SECRET)];
  throw new UsageError('no image signing key: set TRIBUTARY_IMAGE_KEY, pass --secret (or TRIBUTARY_SECRET), or --insecure');
}
