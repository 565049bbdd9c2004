import { describe, expect, it } from 'vitest';
import { celsiusOf, runDevices } from './devices.js';

describe('simulated devices', () => {
  it('stay below the threshold unless hot', () => {
    for (let i = 0; i < 10; i++) {
      for (let k = 0; k < 10; k++) {
        expect(celsiusOf(i, k, false)).toBeLessThan(30);
        expect(celsiusOf(i, k, true)).toBeGreaterThan(30);
      }
    }
  });

  it('refuses bad device names and an unknown hot device', () => {
    expect(() => runDevices({ url: 'http://127.0.0.1:1', devices: ['a.b'] })).toThrow(/devices: "a.b"/);
    expect(() => runDevices({ url: 'http://127.0.0.1:1', devices: ['d1'], hot: 'd9' })).toThrow(/hot: "d9"/);
  });
});
