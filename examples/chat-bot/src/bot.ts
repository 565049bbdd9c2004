import { TributaryClient, type JsonValue, type Message, type PresenceEvent, type PresenceMember } from '@tributary/client';
import { formatStats, HELP, parseCommand, weather } from './commands.js';

/** The chat-stats block's channel (blocks/chat-stats): `{ room, count }` per counted message. */
export const STATS_CHANNEL = 'stats.chat';
/** Rooms are the channels `chat.<room>`. */
export const ROOM_PATTERN = 'chat.*';

/** Options of {@link startChatBot}. */
export interface ChatBotOptions {
  /** The broker: `http://host:port` or `ws://host:port/v1/ws`. */
  url: string;
  /** A token with subscribe/publish/presence/history on `chat.*` and subscribe/history on `stats.chat`; none for an insecure broker. */
  token?: string;
  /**
   * Rooms to join at once (presence, so joins and leaves are announced). Other rooms are joined
   * when their first message arrives.
   * @defaultValue `['lobby']`
   */
  rooms?: string[];
  /**
   * The name the bot signs its messages with.
   * @defaultValue `'chat-bot'`
   */
  name?: string;
  /** Where the bot reports what it does. @defaultValue `console.log` */
  log?: (line: string) => void;
}

/** What users publish to a room (anything else is ignored). */
export type ChatMessage = { text?: string; user?: string; bot?: boolean };

/** What the bot publishes to a room. */
export type BotMessage = {
  text: string;
  /** Always true: other bots and the chat-stats block skip bot messages. */
  bot: true;
  user: string;
  /** The offset of the command answered. */
  replyTo?: number;
  /** For announcements: who joined or left (the member's clientId). */
  event?: 'join' | 'leave';
  member?: string;
  /** For `/stats`: the counts per room. */
  stats?: Record<string, number>;
};

/** A running bot. */
export interface ChatBot {
  client: TributaryClient;
  /** The rooms joined so far. */
  readonly rooms: ReadonlySet<string>;
  close(): Promise<void>;
}

/**
 * Starts the bot: answers `/weather`, `/stats`, `/who` and `/help` in every `chat.<room>`, and
 * announces joins and leaves in the rooms it joined.
 *
 * Presence is per channel (a pattern cannot carry it), so the bot holds one exact subscription with
 * `presence: true` per room, plus a `chat.*` pattern subscription that only discovers new rooms: the
 * first message of an unknown room makes the bot join it from just before that message (`since`), so
 * that message and the ones after it arrive once, in order, through the room's own subscription.
 */
export async function startChatBot(options: ChatBotOptions): Promise<ChatBot> {
  const name = options.name ?? 'chat-bot';
  const log = options.log ?? ((line: string) => console.log(line));
  const client = new TributaryClient({ url: options.url, ...(options.token === undefined ? {} : { token: options.token }) });
  // Every clientId the bot had (it changes on reconnect), so it never announces itself.
  const selves = new Set<string>();
  const rooms = new Set<string>();
  const counts = new Map<string, number>();
  client.on('connected', ({ clientId }) => selves.add(clientId));
  client.on('error', (err) => log(`error ${err.code}: ${err.message}`));

  const say = async (channel: string, msg: BotMessage, msgId: string): Promise<void> => {
    await client.publish(channel, msg, { msgId });
  };
  const nameOf = (m: PresenceMember): string => m.user ?? (selves.has(m.clientId) ? name : `guest-${m.clientId.slice(0, 6)}`);

  const answer = async (channel: string, text: string, msg: Message<ChatMessage>): Promise<void> => {
    const cmd = parseCommand(text);
    if (cmd === undefined) return;
    const reply: BotMessage = { text: '', bot: true, user: name, replyTo: msg.offset };
    switch (cmd.name) {
      case 'weather':
        reply.text = weather(cmd.args);
        break;
      case 'stats':
        reply.text = formatStats(counts);
        reply.stats = Object.fromEntries(counts);
        break;
      case 'who': {
        const members = await client.presence(channel);
        reply.text = `here now: ${members.map(nameOf).sort().join(', ')}`;
        break;
      }
      case 'help':
        reply.text = HELP;
        break;
      default:
        reply.text = `unknown command /${cmd.name}; ${HELP}`;
    }
    // Derived from the command's position: a replay after a reconnect answers once.
    await say(channel, reply, `${name}:reply:${msg.channel}:${msg.epoch}:${msg.offset}`);
    log(`${channel}: /${cmd.name} → ${reply.text}`);
  };

  const onRoomMessage = (msg: Message<ChatMessage>): void => {
    const data = msg.data;
    if (typeof data !== 'object' || data === null || data.bot === true || typeof data.text !== 'string') return;
    answer(msg.channel, data.text, msg).catch((err: unknown) => log(`${msg.channel}: cannot answer: ${String(err)}`));
  };

  const onPresence = (e: PresenceEvent): void => {
    if (selves.has(e.member.clientId)) return;
    const who = nameOf(e.member);
    const text = `${who} ${e.type === 'join' ? 'joined' : 'left'}`;
    const msg: BotMessage = { text, bot: true, user: name, event: e.type, member: e.member.clientId };
    say(e.channel, msg, `${name}:${e.type}:${e.channel}:${e.member.clientId}:${e.member.since}`)
      .then(() => log(`${e.channel}: ${text}`))
      .catch((err: unknown) => log(`${e.channel}: cannot announce: ${String(err)}`));
  };

  const join = async (channel: string, since?: { offset: number; epoch: string }): Promise<void> => {
    rooms.add(channel);
    try {
      await client.subscribe<ChatMessage>(channel, onRoomMessage, {
        presence: true,
        onPresence,
        ...(since === undefined ? {} : { since }),
      });
      log(`joined ${channel}`);
    } catch (err) {
      rooms.delete(channel); // the room's next message retries
      throw err;
    }
  };

  // Counts: the latest `{ room, count }` per room wins; counts only grow, so max() also copes with
  // two runners of the block publishing a room's counts out of order.
  const fold = (data: JsonValue): void => {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) return;
    const { room, count } = data;
    if (typeof room === 'string' && typeof count === 'number') counts.set(room, Math.max(counts.get(room) ?? 0, count));
  };
  const loadCounts = async (): Promise<{ offset: number; epoch: string }> => {
    const page = await client.history(STATS_CHANNEL, { limit: 1000 });
    counts.clear();
    for (const m of page.messages) fold(m.data);
    return { offset: page.last, epoch: page.epoch };
  };

  try {
    await client.connect();
    const since = await loadCounts();
    // An exact channel resumes from its last offset after a reconnect; if the history it needs is
    // gone, the counts are reloaded.
    await client.subscribe(STATS_CHANNEL, (m) => fold(m.data), {
      since,
      onRecovery: ({ recovered }) => {
        if (!recovered) loadCounts().catch((err: unknown) => log(`cannot reload counts: ${String(err)}`));
      },
    });
    // The configured rooms first, so the pattern below never races them.
    for (const room of options.rooms ?? ['lobby']) await join(`chat.${room}`);
    await client.subscribe<ChatMessage>(ROOM_PATTERN, (msg) => {
      if (rooms.has(msg.channel)) return; // the room's own subscription delivers it
      join(msg.channel, { offset: msg.offset - 1, epoch: msg.epoch }).catch((err: unknown) =>
        log(`cannot join ${msg.channel}: ${String(err)}`),
      );
    });
  } catch (err) {
    await client.close();
    throw err;
  }

  return {
    client,
    rooms,
    close: () => client.close(),
  };
}
