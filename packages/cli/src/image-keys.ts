import { deriveSigningKey, parseSigningKeys, UrlSigner, type SigningKey } from '@tributary/images';
import { INSECURE_IMAGE_SECRET } from '@tributary/node';
import { UsageError } from './args.js';

/**
 * The keys that sign image URLs, newest first: TRIBUTARY_IMAGE_KEYS (`id:secret,…`, for rotation),
 * else TRIBUTARY_IMAGE_KEY (one secret, key id `k1`), else derived from the broker secret, else the
 * development key in insecure mode. Errors name the variable, never a secret.
 */
export function imageSigningKeys(o: { secret?: string | undefined; insecure?: boolean | undefined }): SigningKey[] {
  const list = process.env.TRIBUTARY_IMAGE_KEYS;
  const one = process.env.TRIBUTARY_IMAGE_KEY;
  if (list !== undefined && list !== '' && one !== undefined && one !== '') {
    throw new UsageError('set TRIBUTARY_IMAGE_KEYS or TRIBUTARY_IMAGE_KEY, not both');
  }
  try {
    if (list !== undefined && list !== '') return parseSigningKeys(list);
  } catch (err) {
    throw new UsageError(`TRIBUTARY_IMAGE_KEYS: ${(err as Error).message}`);
  }
  if (one !== undefined && one !== '') {
    const keys = [{ id: 'k1', secret: one }];
    try {
      new UrlSigner(keys);
    } catch (err) {
      throw new UsageError(`TRIBUTARY_IMAGE_KEY: ${(err as Error).message}`);
    }
    return keys;
  }
  if (o.secret !== undefined && o.secret !== '') return [deriveSigningKey(o.secret)];
  if (o.insecure === true) return [deriveSigningKey(INSECURE_IMAGE_SECRET)];
  throw new UsageError('no image signing key: set TRIBUTARY_IMAGE_KEY(S), pass --secret (or TRIBUTARY_SECRET), or --insecure');
}
