import { describe, expect, it } from 'vitest';
import { type CpuProfile, frameOf, groupOf, summarize } from './cpuprofile.js';

const ROOT = 'file:///work/repo';
const profile: CpuProfile = {
  startTime: 1_000,
  nodes: [
    { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    { id: 2, callFrame: { functionName: '#publish', url: `${ROOT}/packages/broker/src/session.ts`, lineNumber: 41 } },
    { id: 3, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    { id: 4, callFrame: { functionName: 'writeBuffer', url: '', lineNumber: -1 } },
    {
      id: 5,
      callFrame: {
        functionName: 'sendCommand',
        url: `${ROOT}/node_modules/.pnpm/ioredis@5.11.1/node_modules/ioredis/built/Redis.js`,
        lineNumber: 9,
      },
    },
  ],
  // At 1,100 µs a startup sample (before `from`), then 100 µs each.
  samples: [2, 2, 1, 3, 4, 5, 2, 1],
  timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100],
};

describe('summarize', () => {
  it('counts self time after `from`, without idle, by function and by where the code lives', () => {
    const s = summarize([profile], 1_150);
    // Busy samples at 1,200 (publish), 1,400 (GC), 1,500 (write), 1,600 (ioredis), 1,700 (publish).
    expect(s.busyMs).toBeCloseTo(0.5);
    expect(s.frames[0]).toEqual({ name: '#publish (packages/broker/src/session.ts)', share: 0.4 });
    expect(s.groups.map((g) => g.name)).toEqual(['@tributary/broker', 'garbage collection', 'socket writes (system calls)', 'ioredis']);
    expect(s.groups.reduce((sum, g) => sum + g.share, 0)).toBeCloseTo(1);
  });

  it('adds the profiles of several processes together', () => {
    expect(summarize([profile, profile], 0).busyMs).toBeCloseTo(1.2);
  });
});

describe('groupOf and frameOf', () => {
  it('names scoped dependencies, Node internals and anonymous functions', () => {
    expect(groupOf('x', `${ROOT}/node_modules/.pnpm/@opentelemetry+api@1.10.0/node_modules/@opentelemetry/api/build/index.js`)).toBe(
      '@opentelemetry/api',
    );
    expect(groupOf('onStreamRead', 'node:internal/stream_base_commons')).toBe('Node.js internals');
    expect(frameOf('', 'node:events', 469)).toBe('(anonymous) (node:events:470)');
    expect(frameOf('sendCommand', profile.nodes[4]?.callFrame.url as string, 9)).toBe('sendCommand (ioredis/built/Redis.js:10)');
  });
});
