import type { KeyValueStore } from '@tributary/engine';
import type { Logger } from 'pino';
import type { DeployedBlock } from '../deployed.js';

/** What an interval trigger needs from its runner. */
export interface IntervalDeps {
  kv: KeyValueStore;
  /** This runner's consumer name: the lease holder. */
  consumer: string;
  /** The block's running version now (a redeploy swaps it), undefined once it is gone. */
  current: () => DeployedBlock | undefined;
  log: Logger | undefined;
}

/**
 * Runs an interval block once per period across every runner on the engine: whoever takes the
 * period's lease in the kv store runs the tick. Returns the stop function.
 */
export function startInterval(block: DeployedBlock, seconds: number, deps: IntervalDeps): () => void {
  const periodMs = seconds * 1000;
  let lastSlot = -1;
  const tick = async (): Promise<void> => {
    const slot = Math.floor(Date.now() / periodMs);
    if (slot === lastSlot) return;
    lastSlot = slot;
    const won = await deps.kv.claim('$interval', `${block.name}:${slot}`, deps.consumer, periodMs * 2);
    const current = deps.current();
    if (won && current !== undefined) await current.run({ time: slot * periodMs }, 0);
  };
  const timer = setInterval(
    () => void tick().catch((err) => deps.log?.warn({ err, block: block.name }, 'interval failed')),
    Math.min(1000, periodMs / 4),
  );
  timer.unref();
  return () => clearInterval(timer);
}
