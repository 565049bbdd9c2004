import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TributaryClient, type Message } from '@tributary/client';
import { afterEach, describe, expect, it } from 'vitest';
// The real `tributary` command, spawned as a process (what `pnpm tributary start` runs).
import { eventually } from '@tributary/testkit';
import { startCli } from '../../../packages/cli/test/cli.js';
import { startChatBot, type BotMessage, type ChatMessage } from '../src/bot.js';

const BLOCKS = fileURLToPath(new URL('../blocks', import.meta.url));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** `tributary start --insecure --blocks examples/chat-bot/blocks` on a free port. */
async function broker(): Promise<string> {
  const data = await mkdtemp(join(tmpdir(), 'chat-bot-'));
  cleanups.push(() => rm(data, { recursive: true, force: true }));
  const { url, proc } = await startCli(['--insecure', '--blocks', BLOCKS, '--data', data]);
  cleanups.push(() => proc.stop());
  await proc.waitFor((l) => l.startsWith('blocks: ') && l.includes('chat-stats@'));
  return url;
}

/** A chat user: a client subscribed to one room with presence, recording what it receives. */
async function user(
  url: string,
  room: string,
): Promise<{ client: TributaryClient; inbox: Array<Message<ChatMessage & Partial<BotMessage>>> }> {
  const client = new TributaryClient({ url });
  cleanups.push(() => client.close());
  await client.connect();
  const inbox: Array<Message<ChatMessage & Partial<BotMessage>>> = [];
  await client.subscribe<ChatMessage & Partial<BotMessage>>(`chat.${room}`, (m) => void inbox.push(m), { presence: true });
  return { client, inbox };
}

type Inbox = Array<Message<ChatMessage & Partial<BotMessage>>>;
/** Publishes a command and waits for the bot's reply to it. */
async function ask(
  client: TributaryClient,
  inbox: Inbox,
  room: string,
  text: string,
): Promise<BotMessage & { stats?: Record<string, number> }> {
  const { offset } = await client.publish(`chat.${room}`, { text, user: 'tester' });
  const reply = await eventually(() => inbox.find((m) => m.data.bot === true && m.data.replyTo === offset), {
    message: `reply to ${text}`,
    timeoutMs: 15_000,
  });
  return reply.data as BotMessage;
}

describe('chat-bot against `tributary start --insecure --blocks examples/chat-bot/blocks`', () => {
  it('answers commands, counts messages through the chat-stats block, and announces presence', async () => {
    const url = await broker();
    const lines: string[] = [];
    const bot = await startChatBot({ url, rooms: ['lobby'], log: (l) => lines.push(l) });
    cleanups.push(() => bot.close());

    const alice = await user(url, 'lobby');
    // The bot announces alice's arrival in the room, and alice sees the bot there.
    const joined = await eventually(() => alice.inbox.find((m) => m.data.event === 'join' && m.data.member === alice.client.clientId), {
      message: 'join announcement',
      timeoutMs: 15_000,
    });
    expect(joined.data).toMatchObject({ bot: true, user: 'chat-bot', text: `guest-${alice.client.clientId?.slice(0, 6)} joined` });
    expect((await alice.client.presence('chat.lobby')).map((m) => m.clientId)).toEqual(
      expect.arrayContaining([bot.client.clientId, alice.client.clientId]),
    );

    expect((await ask(alice.client, alice.inbox, 'lobby', '/weather Paris')).text).toBe('Paris: 18 °C, cloudy');
    expect((await ask(alice.client, alice.inbox, 'lobby', '/weather Atlantis')).text).toMatch(/^I don't know the weather in Atlantis/);
    expect((await ask(alice.client, alice.inbox, 'lobby', '/dance')).text).toMatch(/^unknown command \/dance; commands:/);

    // A room the bot was not told about: it joins on the room's first message and answers it.
    const bob = await user(url, 'kitchen');
    expect((await ask(bob.client, bob.inbox, 'kitchen', '/who')).text).toBe(
      `here now: chat-bot, guest-${bob.client.clientId?.slice(0, 6)}`,
    );
    expect(bot.rooms.has('chat.kitchen')).toBe(true);

    // Three messages in the lobby, one in the kitchen; commands and the bot's own messages do not count.
    for (const text of ['hi', 'anyone?', 'hello!']) await alice.client.publish('chat.lobby', { text, user: 'alice' });
    await bob.client.publish('chat.kitchen', { text: 'coffee is ready', user: 'bob' });
    const stats = await eventually(
      async () => {
        const reply = await ask(alice.client, alice.inbox, 'lobby', '/stats');
        return reply.stats?.lobby === 3 && reply.stats.kitchen === 1 ? reply : undefined;
      },
      { message: 'counts', timeoutMs: 15_000 },
    );
    expect(stats.text).toBe('messages per room: kitchen: 1, lobby: 3');

    // Bob walks into the lobby and out again: both are announced.
    const bobInLobby = new TributaryClient({ url });
    cleanups.push(() => bobInLobby.close());
    await bobInLobby.connect();
    await bobInLobby.subscribe('chat.lobby', () => {}, { presence: true });
    const bobId = bobInLobby.clientId;
    await eventually(() => alice.inbox.find((m) => m.data.event === 'join' && m.data.member === bobId), {
      message: 'bob joined',
      timeoutMs: 15_000,
    });
    await bobInLobby.close();
    const left = await eventually(() => alice.inbox.find((m) => m.data.event === 'leave' && m.data.member === bobId), {
      message: 'bob left',
      timeoutMs: 15_000,
    });
    expect(left.data.text).toBe(`guest-${bobId?.slice(0, 6)} left`);

    // Every answer was published once.
    const replies = alice.inbox.filter((m) => m.data.replyTo !== undefined);
    expect(new Set(replies.map((m) => m.data.replyTo)).size).toBe(replies.length);
    expect(lines).toContain('joined chat.kitchen');
  });
});
