import type { AuthOptions } from '@tributary/broker';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine, type RedisEngineOptions, type RedisNode } from '@tributary/engine/redis';
import { pino } from 'pino';
import { intOption, parse, UsageError } from './args.js';
import { blobsOption } from './blobs.js';
import { tuneHeap } from './heap.js';
import { imageSigningKeys } from './image-keys.js';
import { startNode } from '@tributary/node';

export const startHelp = `tributary start [options]

Starts a broker (WebSocket + HTTP on one port).

  --port N          port to listen on (default 7700, env TRIBUTARY_PORT; 0 picks a free one)
  --host H          interface (default 127.0.0.1)
  --redis URL       share channels through Redis (env TRIBUTARY_REDIS_URL); default: embedded engine
  --redis-cluster HOST:PORT,HOST:PORT
                    share channels through a Redis Cluster (Redis ≥ 7: sharded pub/sub), given some
                    of its nodes; the rest are discovered (env TRIBUTARY_REDIS_CLUSTER). Either this
                    or --redis; a flag overrides both environment variables
  --secret S        HMAC secret for tokens, ≥ 32 bytes (env TRIBUTARY_SECRET)
  --insecure        no auth, loopback only: for local development
  --blocks DIR      load every block folder (with a block.json) under DIR; repeatable
                    (default: ./blocks when it exists)
  --data DIR        blob store (uploads, derived images, image cache) (default ./.tributary/blobs)
  --blobs s3://BUCKET/PREFIX
                    keep blobs on S3 instead (env TRIBUTARY_BLOBS); credentials and region from
                    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else
                    the AWS SDK's default chain); --data then holds only the local image cache
  --s3-endpoint URL an S3-compatible store (MinIO, Ceph, R2 …), addressed path-style
                    (env TRIBUTARY_S3_ENDPOINT or AWS_ENDPOINT_URL_S3)
  --cloudinary URL  transform images on Cloudinary: cloudinary://key:secret@cloud (env CLOUDINARY_URL);
                    default: sharp in-process
                    image URL signing keys: env TRIBUTARY_IMAGE_KEY (one secret, ≥ 32 bytes) or
                    TRIBUTARY_IMAGE_KEYS ('id:secret,id:secret', newest first: rotation); default:
                    derived from the secret, or a fixed development key with --insecure
                    ('tributary image-url' signs URLs)
  --runners N       block runner processes at most (default: the number of cores); block code
                    runs in them, never in the broker's process
  --busy-poll-us N  after each message to or from a runner, poll this long instead of sleeping:
                    lower block latency for some CPU (default 0: off; see docs/BLOCKS.md)
  --write-coalesce-ms N
                    adaptive write coalescing, ms (default 0: off; see the broker's writeCoalesceMs)
  --log-level L     trace|debug|info|warn|error (default info)`;

/** Runs the broker until SIGINT/SIGTERM. */
export async function start(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      redis: { type: 'string' },
      'redis-cluster': { type: 'string' },
      secret: { type: 'string' },
      insecure: { type: 'boolean' },
      blocks: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'write-coalesce-ms': { type: 'string' },
      runners: { type: 'string' },
      'busy-poll-us': { type: 'string' },
      data: { type: 'string' },
      blobs: { type: 'string' },
      's3-endpoint': { type: 'string' },
      cloudinary: { type: 'string' },
    },
    false,
  );
  const secret = values.secret ?? process.env.TRIBUTARY_SECRET;
  let auth: AuthOptions;
  if (secret !== undefined && secret !== '') auth = { secret };
  else if (values.insecure === true) auth = { insecure: true };
  else throw new UsageError('pass --secret (or TRIBUTARY_SECRET) for token auth, or --insecure for local development');
  // Before anything allocates for traffic (see heap.ts).
  tuneHeap();
  const logger = pino({ level: values['log-level'] ?? 'info', base: { service: 'tributary' } });
  const redis = redisOption(values.redis, values['redis-cluster']);
  const s3 = blobsOption(values.blobs, values['s3-endpoint']);
  // A bug in one listener or promise chain is logged and counted, never the end of the process: a
  // broker serves many clients, and one of them must not be able to take it down.
  let countInternal: (where: string) => void = () => {};
  const onListenerError = (err: unknown, channel: string): void => {
    countInternal('listener');
    logger.error({ err, channel }, 'an engine listener failed');
  };
  process.on('unhandledRejection', (err) => {
    countInternal('unhandled');
    logger.error({ err }, 'unhandled rejection');
  });
  const engine: StreamEngine = redis ? new RedisEngine({ ...redis, onListenerError }) : new MemoryEngine({ onListenerError });
  const port = intOption('port', values.port ?? process.env.TRIBUTARY_PORT) ?? 7700;
  const blockDirs = values.blocks ?? ['blocks'];
  const cloudinary = values.cloudinary ?? process.env.CLOUDINARY_URL;
  const images = {
    dataDir: values.data ?? './.tributary/blobs',
    ...(s3 === undefined ? {} : { s3 }),
    ...(cloudinary ? { cloudinary } : {}),
    signingKeys: imageSigningKeys({ secret, insecure: auth.insecure }),
  };
  const writeCoalesceMs = intOption('write-coalesce-ms', values['write-coalesce-ms']);
  const runners = intOption('runners', values.runners);
  if (runners !== undefined && runners < 1) throw new UsageError('--runners must be at least 1');
  const busyPollUs = intOption('busy-poll-us', values['busy-poll-us'], 0);
  if (busyPollUs !== undefined && busyPollUs > 10_000) throw new UsageError('--busy-poll-us is at most 10000');
  const runnerPool = { ...(runners === undefined ? {} : { size: runners }), ...(busyPollUs === undefined ? {} : { busyPollUs }) };
  const node = await startNode({
    engine,
    auth,
    port,
    host: values.host ?? '127.0.0.1',
    logger,
    blockDirs,
    images,
    ...(Object.keys(runnerPool).length === 0 ? {} : { runners: runnerPool }),
    ...(writeCoalesceMs === undefined ? {} : { broker: { writeCoalesceMs } }),
  });
  const { broker } = node;
  countInternal = (where) => broker.countInternalError(where);
  const names = node.blocks.runner.list().map((b) => `${b.name}@${b.version}`);
  const mode = auth.insecure === true ? 'INSECURE: no auth, local development only' : 'token auth';
  process.stdout.write(
    `tributary listening on ${broker.url} (WebSocket ${broker.wsUrl}; engine ${engine.kind}; ${mode})\n` +
      `blocks: ${names.length === 0 ? 'none' : names.join(', ')}\n` +
      `blobs: ${s3 === undefined ? `disk ${images.dataDir}` : `s3://${s3.bucket}/${s3.prefix ?? ''}${s3.endpoint === undefined ? '' : ` at ${s3.endpoint}`}`}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info('shutting down');
  await node.close();
  await engine.close();
  return 0;
}

/**
 * Which Redis to use: `--redis` / `--redis-cluster`, then TRIBUTARY_REDIS_URL /
 * TRIBUTARY_REDIS_CLUSTER (a flag overrides both variables); undefined for the embedded engine.
 * A single server and a cluster are mutually exclusive at the same level: which one was meant
 * cannot be guessed.
 */
function redisOption(
  urlFlag: string | undefined,
  clusterFlag: string | undefined,
): Pick<RedisEngineOptions, 'url' | 'cluster'> | undefined {
  const flags = urlFlag !== undefined || clusterFlag !== undefined;
  const url = flags ? urlFlag : emptyToUndefined(process.env.TRIBUTARY_REDIS_URL);
  const cluster = flags ? clusterFlag : emptyToUndefined(process.env.TRIBUTARY_REDIS_CLUSTER);
  if (url !== undefined && cluster !== undefined) {
    throw new UsageError(
      flags
        ? 'pass either --redis (one server) or --redis-cluster (a Cluster), not both'
        : 'TRIBUTARY_REDIS_URL and TRIBUTARY_REDIS_CLUSTER are both set: keep one',
    );
  }
  if (cluster !== undefined) return { cluster: { nodes: clusterNodes(cluster, flags ? '--redis-cluster' : 'TRIBUTARY_REDIS_CLUSTER') } };
  if (url === undefined) return undefined;
  if (!/^rediss?:\/\/./.test(url)) throw new UsageError(`${flags ? '--redis' : 'TRIBUTARY_REDIS_URL'} must be a redis:// or rediss:// URL`);
  return { url };
}

function emptyToUndefined(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

/**
 * Seed nodes as ioredis' Cluster takes them, from `host:port,host:port` (an IPv6 host in brackets:
 * `[::1]:7000`). Validated here, once, so a typo is a usage error naming the bad entry rather than
 * a connection that retries forever.
 */
function clusterNodes(text: string, name: string): RedisNode[] {
  const entries = text.split(',').map((e) => e.trim());
  return entries.map((entry) => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(entry);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) {
      throw new UsageError(`${name}: ${JSON.stringify(entry)} is not host:port (e.g. 10.0.0.1:7000,10.0.0.2:7000)`);
    }
    return { host: (m[1] ?? m[2]) as string, port };
  });
}
