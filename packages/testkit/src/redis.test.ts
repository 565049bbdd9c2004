import { describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { startRedis } from './redis.js';

async function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => s.write('PING\r\n'));
    s.on('data', (d) => {
      resolve(d.toString().trim());
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('startRedis', () => {
  it('spawns a redis-server on a free loopback port that answers, and stops it', async () => {
    const redis = await startRedis({ honourEnv: false });
    expect(redis.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(redis.port).not.toBe(6379);
    expect(await ping(redis.port)).toBe('+PONG');
    await redis.stop();
    await expect(ping(redis.port)).rejects.toThrow();
  });
});
