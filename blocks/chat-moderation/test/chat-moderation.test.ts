import type { BlockRunner } from '@tributary/runtime';
import { describe, expect, it } from 'vitest';
import { deployBlock, memoryEngine } from './harness.js';

/** Runs the broker's before-publish hook (the block in its isolate) on one chat message. */
function moderate(runner: BlockRunner, data: unknown, channel = 'chat.lobby') {
  return runner.interceptor.intercept({ channel, data: data as never });
}

async function moderator(config?: Record<string, unknown>, manifestConfig = true): Promise<BlockRunner> {
  return (await deployBlock(memoryEngine(), { manifestConfig, ...(config === undefined ? {} : { config }) })).runner;
}

describe('chat-moderation', () => {
  it('masks banned words, case-insensitively and only as whole words, keeping the other fields', async () => {
    const runner = await moderator();
    expect(runner.list()[0]).toMatchObject({ name: 'chat-moderation', trigger: { kind: 'beforePublish', patterns: ['chat.>'] } });
    expect(await moderate(runner, { text: 'Damn, this HELL of a hello… crap!', user: 'ann' })).toEqual({
      data: { text: '****, this **** of a hello… ****!', user: 'ann' },
    });
    expect(await moderate(runner, { text: 'damned damnation shell hellish crap_stack', user: 'ann' })).toBeUndefined();
    // Letters of any script count as word characters: "damné" is another word.
    expect(await moderate(runner, { text: 'damné damn' })).toEqual({ data: { text: 'damné ****' } });
    expect(runner.interceptor.matches('chat.rooms.42')).toBe(true);
    expect(runner.interceptor.matches('news')).toBe(false);
  });

  it('lets clean messages through unchanged', async () => {
    const runner = await moderator();
    expect(await moderate(runner, { text: 'hello world' })).toBeUndefined();
    expect(await moderate(runner, { text: '', user: 'bob' })).toBeUndefined();
  });

  it('rejects messages with a blocked word, whole-word and case-insensitively', async () => {
    const runner = await moderator();
    expect(await moderate(runner, { text: 'get FREE-CRYPTO now' })).toEqual({
      reject: 'chat-moderation: message contains a blocked word ("FREE-CRYPTO")',
    });
    expect(await moderate(runner, { text: 'what a Scam, damn' })).toEqual({ reject: expect.stringContaining('blocked word ("Scam")') });
    expect(await moderate(runner, { text: 'scammers and free-cryptography' })).toBeUndefined();
  });

  it('rejects messages that are not { text: string, user?: string }', async () => {
    const runner = await moderator();
    const cases: Array<[unknown, string]> = [
      [{ text: 42 }, 'text must be a string'],
      [{ user: 'ann' }, 'text must be a string'],
      [{ text: null }, 'text must be a string'],
      [{ text: 'hi', user: 7 }, 'user must be a string'],
      ['hello', 'a chat message is an object { text, user? }'],
      [['hello'], 'a chat message is an object { text, user? }'],
      [null, 'a chat message is an object { text, user? }'],
    ];
    for (const [data, reason] of cases) expect(await moderate(runner, data)).toEqual({ reject: `chat-moderation: ${reason}` });
  });

  it('uses its configured lists, matching words literally', async () => {
    const runner = await moderator({ banned: ['a.b', 'ice cream'], blocked: ['c++'] });
    expect(await moderate(runner, { text: 'a.b axb Ice Cream icecream' })).toEqual({ data: { text: '*** axb ********* icecream' } });
    expect(await moderate(runner, { text: 'I like C++!' })).toEqual({ reject: expect.stringContaining('"C++"') });
    expect(await moderate(runner, { text: 'damn' })).toBeUndefined();
  });

  it('masks a default list and blocks nothing when the config names no lists', async () => {
    const runner = await moderator({}, false);
    expect(await moderate(runner, { text: 'oh crap' })).toEqual({ data: { text: 'oh ****' } });
    expect(await moderate(runner, { text: 'a scam' })).toBeUndefined();
  });

  it('rejects every message when its config is invalid, naming the field', async () => {
    const runner = await moderator({ blocked: 'scam' });
    const err = await moderate(runner, { text: 'hello' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REJECTED', message: expect.stringMatching(/config\.blocked must be a list of non-empty strings/) });
  });
});
