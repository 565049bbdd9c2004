import type { BrokerContext } from './context.js';

/** Each started broker's context, for '@tributary/broker/internal' (see internal.ts). */
export const contexts = new WeakMap<object, BrokerContext>();
