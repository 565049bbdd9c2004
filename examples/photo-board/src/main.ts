// Runs the photo board until Ctrl-C: `pnpm --filter @tributary-examples/photo-board start`
// (or `node --import tsx examples/photo-board/src/main.ts`). Env: PORT (default 7700),
// TRIBUTARY_SECRET (token auth; without it, insecure local-development mode), DATA_DIR.
import { pino } from 'pino';
import { startPhotoBoard } from './board.js';

const port = process.env.PORT === undefined ? 7700 : Number(process.env.PORT);
const secret = process.env.TRIBUTARY_SECRET;
const board = await startPhotoBoard({
  port,
  ...(secret === undefined ? {} : { secret }),
  ...(process.env.DATA_DIR === undefined ? {} : { dataDir: process.env.DATA_DIR }),
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
