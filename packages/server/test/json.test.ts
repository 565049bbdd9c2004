import { afterEach, describe, expect, it } from 'vitest';
import { json } from '../src/index.js';
import { serve } from './serve.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('json', () => {
  it('writes the status, the JSON body, its type and its length in bytes, and extra headers', async () => {
    const s = await serve((_req, res) => json(res, 201, { text: 'héllo ☃' }, { 'www-authenticate': 'Bearer' }));
    cleanups.push(s.close);
    const r = await fetch(s.url);
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
    const text = await r.text();
    expect(Number(r.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(JSON.parse(text)).toEqual({ text: 'héllo ☃' });
  });

  it('does nothing once the headers were sent: no second response on the connection', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
      json(res, 500, { error: { code: 'INTERNAL' } });
      res.end();
    });
    cleanups.push(s.close);
    const r = await fetch(s.url);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('first');
  });
});
