import type { AuthOptions } from '@tributary/broker';
import { MemoryEngine, type StreamEngine } from '@tributary/engine';
import { RedisEngine } from '@tributary/engine/redis';
import { pino } from 'pino';
import { intOption, parse, UsageError } from './args.js';
import { imageSigningKeys } from './image-keys.js';
import { startNode } from '@tributary/node';

export const startHelp = `tributary start [options]

Starts a broker (WebSocket + HTTP on one port).

  --port N          port to listen on (default 7700, env TRIBUTARY_PORT; 0 picks a free one)
  --host H          interface (default 127.0.0.1)
  --redis URL       share channels through Redis (env TRIBUTARY_REDIS_URL); default: embedded engine
  --secret S        HMAC secret for tokens, ≥ 32 bytes (env TRIBUTARY_SECRET)
  --insecure        no auth, loopback only: for local development
  --blocks DIR      load every block folder (with a block.json) under DIR; repeatable
                    (default: ./blocks when it exists)
  --data DIR        blob store (uploads, derived images, image cache) (default ./.tributary/blobs)
  --cloudinary URL  transform images on Cloudinary: cloudinary://key:secret@cloud (env CLOUDINARY_URL);
                    default: sharp in-process
                    image URL signing keys: env TRIBUTARY_IMAGE_KEY (one secret, ≥ 32 bytes) or
                    TRIBUTARY_IMAGE_KEYS ('id:secret,id:secret', newest first: rotation); default:
                    derived from the secret, or a fixed development key with --insecure
                    ('tributary image-url' signs URLs)
  --runners N       block runner processes at most (default: the number of cores); block code
                    runs in them, never in the broker's process
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
      secret: { type: 'string' },
      insecure: { type: 'boolean' },
      blocks: { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'write-coalesce-ms': { type: 'string' },
      runners: { type: 'string' },
      data: { type: 'string' },
      cloudinary: { type: 'string' },
    },
    false,
  );
  const secret = values.secret ?? process.env.TRIBUTARY_SECRET;
  let auth: AuthOptions;
  if (secret !== undefined && secret !== '') auth = { secret };
  else if (values.insecure === true) auth = { insecure: true };
  else throw new UsageError('pass --secret (or TRIBUTARY_SECRET) for token auth, or --insecure for local development');
  const logger = pino({ level: values['log-level'] ?? 'info', base: { service: 'tributary' } });
  const redisUrl = values.redis ?? process.env.TRIBUTARY_REDIS_URL;
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
  const engine: StreamEngine = redisUrl ? new RedisEngine({ url: redisUrl, onListenerError }) : new MemoryEngine({ onListenerError });
  const port = intOption('port', values.port ?? process.env.TRIBUTARY_PORT) ?? 7700;
  const blockDirs = values.blocks ?? ['blocks'];
  const cloudinary = values.cloudinary ?? process.env.CLOUDINARY_URL;
  const images = {
    dataDir: values.data ?? './.tributary/blobs',
    ...(cloudinary ? { cloudinary } : {}),
    signingKeys: imageSigningKeys({ secret, insecure: auth.insecure }),
  };
  const writeCoalesceMs = intOption('write-coalesce-ms', values['write-coalesce-ms']);
  const runners = intOption('runners', values.runners);
  if (runners !== undefined && runners < 1) throw new UsageError('--runners must be at least 1');
  const node = await startNode({
    engine,
    auth,
    port,
    host: values.host ?? '127.0.0.1',
    logger,
    blockDirs,
    images,
    ...(runners === undefined ? {} : { runners: { size: runners } }),
    ...(writeCoalesceMs === undefined ? {} : { broker: { writeCoalesceMs } }),
  });
  const { broker } = node;
  countInternal = (where) => broker.countInternalError(where);
  const names = node.blocks.runner.list().map((b) => `${b.name}@${b.version}`);
  const mode = auth.insecure === true ? 'INSECURE: no auth, local development only' : 'token auth';
  process.stdout.write(
    `tributary listening on ${broker.url} (WebSocket ${broker.wsUrl}; engine ${engine.kind}; ${mode})\n` +
      `blocks: ${names.length === 0 ? 'none' : names.join(', ')}\n`,
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
