import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createToken } from '../src/index.js';
import { broker, SECRET, socket } from './helpers.js';

const secure = () => broker({ auth: { secret: SECRET } });

describe('auth', () => {
  it('lets a token do what its grants say and refuses the rest with FORBIDDEN', async () => {
    const b = await secure();
    const token = await createToken({
      secret: SECRET,
      sub: 'bot-1',
      grants: { 'chat.*': ['subscribe', 'publish'], 'news.>': ['subscribe', 'history'] },
    });
    const s = await socket(`${b.wsUrl}?token=${token}`);
    expect(s.frames[0]).toMatchObject({ type: 'welcome' });
    expect(await s.request({ type: 'subscribe', channel: 'chat.room1' })).toMatchObject({ type: 'subscribed' });
    expect(await s.request({ type: 'subscribe', channel: 'chat.*' })).toMatchObject({ type: 'subscribed' });
    expect(await s.request({ type: 'subscribe', channel: 'news.*' })).toMatchObject({ type: 'subscribed' });
    expect(await s.request({ type: 'publish', channel: 'chat.room1', data: 1 })).toMatchObject({ type: 'ack' });
    expect(await s.request({ type: 'publish', channel: 'news.today', data: 1 })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s.request({ type: 'subscribe', channel: 'chat.>' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s.request({ type: 'history', channel: 'chat.room1' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s.request({ type: 'presence', channel: 'chat.room1' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s.request({ type: 'subscribe', channel: 'chat.room2', presence: true })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s.request({ type: 'subscribe', channel: 'secret' })).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses missing, forged, tampered and expired tokens with typed errors and close code 4001', async () => {
    const b = await secure();
    const good = await createToken({ secret: SECRET, grants: { '>': ['subscribe'] } });
    const forged = await createToken({ secret: 'another-secret-that-is-32-bytes-or-more', grants: { '>': ['publish'] } });
    const [h, p, sig] = good.split('.') as [string, string, string];
    const body = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...body, grants: { '>': ['publish'] } })).toString('base64url')}.${sig}`;
    const expired = await new SignJWT({ grants: { '>': ['subscribe'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('tributary')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
      .sign(new TextEncoder().encode(SECRET));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    const cases: Array<[string, string]> = [
      ['', 'UNAUTHORIZED'],
      [`?token=${forged}`, 'UNAUTHORIZED'],
      [`?token=${tampered}`, 'UNAUTHORIZED'],
      [`?token=${none}`, 'UNAUTHORIZED'],
      [`?token=${expired}`, 'TOKEN_EXPIRED'],
    ];
    for (const [query, code] of cases) {
      const s = await socket(`${b.wsUrl}${query}`);
      expect(s.frames[0]).toMatchObject({ type: 'error', code });
      expect(await s.closed).toEqual({ code: 4001, reason: code });
    }
    const ok = await socket(`${b.wsUrl}?token=${good}`);
    expect(ok.frames[0]).toMatchObject({ type: 'welcome' });
  });

  it('closes a connection with TOKEN_EXPIRED when its token runs out, unless an auth frame renewed it', async () => {
    const b = await secure();
    const short = await createToken({ secret: SECRET, grants: { '>': ['subscribe'] }, ttlSeconds: 1 });
    const renewed = await socket(`${b.wsUrl}?token=${short}`);
    const lapsed = await socket(`${b.wsUrl}?token=${short}`);
    const fresh = await createToken({ secret: SECRET, grants: { '>': ['subscribe'] }, ttlSeconds: 60 });
    expect(await renewed.request({ type: 'auth', token: fresh })).toMatchObject({ type: 'authed' });
    expect(await lapsed.closed).toEqual({ code: 4001, reason: 'TOKEN_EXPIRED' });
    expect(lapsed.frames.at(-1)).toMatchObject({ type: 'error', code: 'TOKEN_EXPIRED' });
    expect(await renewed.request({ type: 'subscribe', channel: 'x' })).toMatchObject({ type: 'subscribed' });
  });

  it('ends subscriptions that new credentials from an auth frame no longer allow, and announces expiry in welcome', async () => {
    const b = await secure();
    const wide = await createToken({ secret: SECRET, grants: { 'chat.*': ['subscribe'], news: ['subscribe'] }, ttlSeconds: 600 });
    const s = await socket(`${b.wsUrl}?token=${wide}`);
    expect(s.frames[0]).toMatchObject({ type: 'welcome', expiresAt: expect.any(Number) });
    await s.request({ type: 'subscribe', channel: 'chat.a' });
    await s.request({ type: 'subscribe', channel: 'news' });
    const narrow = await createToken({ secret: SECRET, grants: { news: ['subscribe'] }, ttlSeconds: 600 });
    expect(await s.request({ type: 'auth', token: narrow })).toMatchObject({ type: 'authed' });
    expect(s.frames.find((f) => f.type === 'unsubscribed' && f.channel === 'chat.a')).toBeDefined();
    expect(s.frames.find((f) => f.type === 'error' && f.code === 'FORBIDDEN' && f.channel === 'chat.a')).toBeDefined();
    const pub = await socket(`${b.wsUrl}?token=${SECRET}`);
    await pub.request({ type: 'publish', channel: 'chat.a', data: 'hidden' });
    await pub.request({ type: 'publish', channel: 'news', data: 'shown' });
    await s.next((f) => f.type === 'message' && f.channel === 'news');
    expect(s.frames.filter((f) => f.type === 'message' && f.channel === 'chat.a')).toHaveLength(0);
  });

  it('keeps $system channels out of reach of wildcard grants', async () => {
    const b = await secure();
    const all = await createToken({ secret: SECRET, grants: { '>': ['subscribe', 'publish'] } });
    const dlq = await createToken({ secret: SECRET, grants: { '$dlq.>': ['subscribe'] } });
    const s1 = await socket(`${b.wsUrl}?token=${all}`);
    expect(await s1.request({ type: 'subscribe', channel: '$dlq.alert' })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await s1.request({ type: 'publish', channel: '$dlq.alert', data: 1 })).toMatchObject({ code: 'FORBIDDEN' });
    const s2 = await socket(`${b.wsUrl}?token=${dlq}`);
    expect(await s2.request({ type: 'subscribe', channel: '$dlq.alert' })).toMatchObject({ type: 'subscribed' });
  });

  it('refuses insecure mode on a non-loopback host and short secrets', async () => {
    await expect(broker({ host: '0.0.0.0', auth: { insecure: true } })).rejects.toThrow(/loopback/);
    await expect(broker({ auth: { secret: 'short' } })).rejects.toThrow(/auth.secret/);
  });
});
