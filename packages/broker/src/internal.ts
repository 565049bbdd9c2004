/**
 * `@tributary/broker/internal`: the broker's shared parts, for this repository's tests, benchmarks
 * and fault-injection suites. Not a stable API: what is here changes with the broker's insides.
 */
import type { BrokerContext } from './context.js';
import { contexts } from './contexts.js';
import type { Broker } from './server.js';

export type { BrokerContext, BrokerCounters, SessionHandle } from './context.js';

/** The shared parts of a broker this process started: sessions, hub, engine, metrics … */
export function brokerContext(broker: Broker): BrokerContext {
  const ctx = contexts.get(broker);
  if (ctx === undefined) throw new TypeError('not a broker started by this process');
  return ctx;
}
