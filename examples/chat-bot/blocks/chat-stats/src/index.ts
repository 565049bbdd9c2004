import { defineBlock, type BlockMessage } from '@tributary/block';

/** Where the block publishes every room's new count. */
export const STATS_CHANNEL = 'stats.chat';

/** What the block publishes to {@link STATS_CHANNEL}: the room's count after this message. */
export type RoomCount = {
  /** The room: the channel without its `chat.` prefix (`chat.lobby` → `lobby`). */
  room: string;
  /** Messages counted in the room so far (never decreases). */
  count: number;
};

// Markers only need to outlive the redelivery of one message (retries take seconds); a day is ample.
const MARKER_TTL_SECONDS = 86_400;

/**
 * Whether a chat message counts: bot messages (`bot: true`, e.g. the chat bot's replies and
 * announcements) and commands (text starting with `/`) do not, so the counts are what people said.
 */
export function counts(msg: Pick<BlockMessage, 'data'>): boolean {
  const data = msg.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return true;
  if (data.bot === true) return false;
  return !(typeof data.text === 'string' && data.text.startsWith('/'));
}

/**
 * Counts messages per chat room in the block's kv (`incr`, so any number of runners share the work)
 * and publishes each new count to `stats.chat`. The kv is private to this block, so a reader (the chat
 * bot) learns the counts from that channel: the latest message per room is its count.
 *
 * Delivery is at least once: a marker per message records the count it produced, so a retry
 * republishes that count instead of counting the message twice, and the msgId derived from the
 * input makes the republish land once.
 */
export default defineBlock({
  name: 'chat-stats',
  trigger: { afterPublish: 'chat.*' },
  publishes: [STATS_CHANNEL],
  async handle(msg, ctx) {
    if (!counts(msg)) return;
    const room = msg.channel.slice('chat.'.length);
    const marker = `done:${msg.channel}:${msg.epoch}:${msg.offset}`;
    const done = await ctx.kv.get(marker);
    let count: number;
    if (done === undefined) {
      count = await ctx.kv.incr(`count:${room}`);
      await ctx.kv.set(marker, String(count), { ttlSeconds: MARKER_TTL_SECONDS });
    } else {
      count = Number(done);
    }
    const update: RoomCount = { room, count };
    await ctx.publish(STATS_CHANNEL, update, { msgId: `stats:${msg.channel}:${msg.epoch}:${msg.offset}` });
  },
});
