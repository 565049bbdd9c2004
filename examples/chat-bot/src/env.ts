import type { ChatBotOptions } from './bot.js';

/** Where `pnpm start` listens. */
export const DEFAULT_URL = 'http://127.0.0.1:7700';

/**
 * The bot's options from the environment: `TRIBUTARY_URL` (default {@link DEFAULT_URL}),
 * `TRIBUTARY_TOKEN` (none: an insecure broker), `CHAT_ROOMS` (comma-separated, default `lobby`),
 * `CHAT_BOT_NAME` (default `chat-bot`).
 */
export function resolveBotEnv(env: Record<string, string | undefined>): ChatBotOptions {
  const options: ChatBotOptions = { url: env.TRIBUTARY_URL || DEFAULT_URL };
  if (env.TRIBUTARY_TOKEN) options.token = env.TRIBUTARY_TOKEN;
  if (env.CHAT_ROOMS) {
    const rooms = env.CHAT_ROOMS.split(',')
      .map((r) => r.trim())
      .filter((r) => r !== '');
    for (const r of rooms) {
      if (!/^[A-Za-z0-9_\-:@=]+$/.test(r)) throw new TypeError(`CHAT_ROOMS: ${JSON.stringify(r)} is not a channel segment`);
    }
    options.rooms = rooms;
  }
  if (env.CHAT_BOT_NAME) options.name = env.CHAT_BOT_NAME;
  return options;
}
