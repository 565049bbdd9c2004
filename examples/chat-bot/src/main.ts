// Runs the chat bot until Ctrl-C: `node --import tsx examples/chat-bot/src/main.ts`.
import { resolveBotEnv } from './env.js';
import { startChatBot } from './bot.js';

const options = resolveBotEnv(process.env);
const bot = await startChatBot(options);
console.log(`chat-bot connected to ${options.url}; rooms: ${[...bot.rooms].join(', ')} (others join on their first message)`);
await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await bot.close();
