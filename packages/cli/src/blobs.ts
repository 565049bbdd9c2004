import { parseS3Url, resolveS3BlobStoreOptions, type S3BlobStoreOptions } from '@tributary/images';
import { UsageError } from './args.js';

/**
 * The blob store `tributary start` was asked for: S3 options for `--blobs s3://bucket/prefix` (or
 * TRIBUTARY_BLOBS), undefined for the disk store (the default, under `--data`). The rest comes from
 * the environment, as AWS tools take it: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN) — when unset, the AWS SDK's default chain (shared config files, container and
 * instance roles) — AWS_REGION or AWS_DEFAULT_REGION (default us-east-1), and an S3-compatible
 * store's endpoint from `--s3-endpoint`, TRIBUTARY_S3_ENDPOINT or AWS_ENDPOINT_URL_S3 (addressed
 * path-style). Checked here, once: a mistake is a UsageError naming what is wrong.
 */
export function blobsOption(
  blobsFlag: string | undefined,
  endpointFlag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): S3BlobStoreOptions | undefined {
  const blobs = blobsFlag ?? nonEmpty(env.TRIBUTARY_BLOBS);
  const endpoint = endpointFlag ?? nonEmpty(env.TRIBUTARY_S3_ENDPOINT) ?? nonEmpty(env.AWS_ENDPOINT_URL_S3);
  const from = blobsFlag !== undefined ? '--blobs' : 'TRIBUTARY_BLOBS';
  if (blobs === undefined) {
    if (endpointFlag !== undefined) throw new UsageError('--s3-endpoint needs --blobs s3://bucket/prefix');
    return undefined;
  }
  if (!blobs.startsWith('s3://'))
    throw new UsageError(
      `${from} must be s3://bucket/prefix (the disk store is the default; --data DIR sets its folder), got ${JSON.stringify(blobs)}`,
    );
  const keyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secret = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if ((keyId === undefined) !== (secret === undefined))
    throw new UsageError(
      'set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither (then the AWS SDK looks for credentials itself)',
    );
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  const o: S3BlobStoreOptions = {
    ...parseUrl(blobs, from),
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(keyId === undefined || secret === undefined
      ? {}
      : { credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(sessionToken === undefined ? {} : { sessionToken }) } }),
  };
  try {
    resolveS3BlobStoreOptions(o);
  } catch (err) {
    throw new UsageError(`${from}: ${(err as Error).message}`);
  }
  return o;
}

function parseUrl(url: string, from: string): { bucket: string; prefix: string } {
  try {
    return parseS3Url(url);
  } catch (err) {
    throw new UsageError(`${from}: ${(err as Error).message}`);
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}
