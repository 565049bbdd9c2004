// The default suite's short soak: 15 s of the same mixed load as `pnpm --filter
// @tributary/reliability soak` (2 minutes), with the same growth and queue assertions.
import { describe, expect, it } from 'vitest';
import { runSoak } from '../src/soak.js';

describe('short soak', () => {
  it('keeps RSS and queues flat and delivers exactly once under 15 s of mixed load', async () => {
    const r = await runSoak(15_000, 500);
    console.log(
      `soak 15 s: ${r.published} published, ${r.delivered} delivered, ${r.churnSubscribes} churn subscribes, ${r.reconnects} reconnects; ${r.verdict}`,
    );
    expect(r.deliveryErrors).toEqual([]);
    expect(r.verdict).toMatch(/^ok/);
  }, 60_000);
});
