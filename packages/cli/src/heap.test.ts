import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BROKER_V8_FLAGS } from './heap.js';

const WORKLOAD = fileURLToPath(new URL('../test/fixtures/pretenure-workload.cjs', import.meta.url));

/** Young-generation collections while the workload allocates objects that outlive one. */
async function minorCollections(flags: readonly string[]): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [WORKLOAD, ...flags], { timeout: 60_000 });
  return (JSON.parse(stdout) as { minor: number }).minor;
}

describe('the V8 flags tributary start applies', () => {
  it('keep short-lived objects young: V8 no longer allocates a site that survived collections straight into the old generation', async () => {
    const untuned = await minorCollections([]);
    const tuned = await minorCollections(BROKER_V8_FLAGS);
    // By default V8 pretenures the site: its objects skip the young generation, so few young
    // collections happen while it allocates (about 8 against 37 measured). Should the default
    // stop doing that (a newer V8), the flag may no longer matter: measure again before keeping it.
    expect(tuned).toBeGreaterThan(2 * untuned);
  }, 120_000);
});
