import { describe, expect, it } from 'vitest';
import { createToken } from '../src/index.js';
import { broker, SECRET, socket } from './helpers.js';

describe('presence', () => {
  it('announces joins and leaves to presence subscribers and lists who is here now', async () => {
    const b = await broker({ auth: { secret: SECRET } });
    const tok = (sub: string) => createToken({ secret: SECRET, sub, grants: { 'room.*': ['subscribe', 'presence'] } });
    const alice = await socket(`${b.wsUrl}?token=${await tok('alice')}`);
    await alice.request({ type: 'subscribe', channel: 'room.1', presence: true });
    const bob = await socket(`${b.wsUrl}?token=${await tok('bob')}`);
    await bob.request({ type: 'subscribe', channel: 'room.1', presence: true });
    expect(await alice.next((f) => f.type === 'join' && (f.member as { user: string }).user === 'bob')).toMatchObject({
      channel: 'room.1',
    });
    const here = await alice.request({ type: 'presence', channel: 'room.1' });
    expect((here.members as Array<{ user: string }>).map((m) => m.user).sort()).toEqual(['alice', 'bob']);
    await bob.close();
    expect(await alice.next((f) => f.type === 'leave')).toMatchObject({ member: { user: 'bob' } });
    const after = await alice.request({ type: 'presence', channel: 'room.1' });
    expect((after.members as Array<{ user: string }>).map((m) => m.user)).toEqual(['alice']);
    const http = await fetch(`${b.url}/v1/channels/room.1/presence`, { headers: { authorization: `Bearer ${SECRET}` } });
    expect(((await http.json()) as { members: unknown[] }).members).toHaveLength(1);
  });
});
