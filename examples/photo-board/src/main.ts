// Runs the photo board until Ctrl-C: `pnpm --filter @tributary-examples/photo-board start`
// (or `node --import tsx examples/photo-board/src/main.ts`). Env: PORT (default 7700),
// TRIBUTARY_SECRET (token auth; without it, insecure local-development mode), DATA_DIR, and for
// blobs on S3: TRIBUTARY_BLOBS=s3://bucket/prefix, TRIBUTARY_S3_ENDPOINT (an S3-compatible store),
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION — as `tributary start --blobs` reads them.
import { pino } from 'pino';
import { startPhotoBoard, type PhotoBoardOptions } from './board.js';

const port = process.env.PORT === undefined ? 7700 : Number(process.env.PORT);
const secret = process.env.TRIBUTARY_SECRET;
const board = await startPhotoBoard({
  port,
  ...(secret === undefined ? {} : { secret }),
  ...(process.env.DATA_DIR === undefined ? {} : { dataDir: process.env.DATA_DIR }),
  ...s3FromEnv(),
  logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }),
});
const token = await board.pageToken();
if (token === undefined) {
  console.log(`photo-board (INSECURE: no auth, local development only): open ${board.url}`);
} else {
  // The fragment never reaches a server or its logs; the page reads it and drops it from the address bar.
  console.log(`photo-board (token auth): open ${board.url}#token=${token}\n(the token expires in 1 h)`);
}
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await board.close();

/** The S3 store the environment names (TRIBUTARY_BLOBS), if any. */
function s3FromEnv(): Pick<PhotoBoardOptions, 's3'> {
  const url = process.env.TRIBUTARY_BLOBS;
  if (url === undefined || url === '') return {};
  const m = /^s3:\/\/([^/]+)\/?(.*?)\/?$/.exec(url);
  if (m === null) throw new Error(`TRIBUTARY_BLOBS must be s3://bucket/prefix, got ${url}`);
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: key, AWS_REGION: region, TRIBUTARY_S3_ENDPOINT: endpoint } = process.env;
  return {
    s3: {
      bucket: m[1] as string,
      prefix: m[2] as string,
      ...(region ? { region } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(id && key ? { credentials: { accessKeyId: id, secretAccessKey: key } } : {}),
    },
  };
}
