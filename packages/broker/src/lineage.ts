import type { Entry } from '@tributary/engine';
import { decodeEnvelope, type HistoryMessage } from '@tributary/protocol';
import type { Principal } from '@tributary/server';
import { can } from './auth.js';

/**
 * Lineage names the channel a message came from; a receiver sees it only where its grants let it
 * read that channel (subscribe or history), so lineage never tells a client about a channel it
 * could not read itself (docs/PROTOCOL.md, message frame).
 */
export function mayReadChannel(principal: Principal, channel: string): boolean {
  return can(principal, 'subscribe', channel) || can(principal, 'history', channel);
}

/** Parents remembered per connection before the memo starts again (a bound, not a tuning knob). */
const MEMO_LIMIT = 1024;

/**
 * {@link mayReadChannel} for one connection, remembered per parent channel: fan-out asks once per
 * message with lineage, and a grant check walks every grant. Forgotten when the credentials change
 * (an `auth` frame), since the answer depends on them.
 */
export class ReadCheck {
  #principal: Principal | undefined;
  readonly #memo = new Map<string, boolean>();

  allows(principal: Principal, channel: string): boolean {
    if (principal.admin) return true;
    if (principal !== this.#principal || this.#memo.size >= MEMO_LIMIT) {
      this.#principal = principal;
      this.#memo.clear();
    }
    let ok = this.#memo.get(channel);
    if (ok === undefined) {
      ok = mayReadChannel(principal, channel);
      this.#memo.set(channel, ok);
    }
    return ok;
  }
}

/**
 * A stored entry in its history form (the stored JSON text parsed), with its envelope: the
 * traceparent always, the lineage only when `mayRead` allows its parent channel.
 */
export function toHistoryMessage(e: Entry, mayRead: (channel: string) => boolean = () => false): HistoryMessage {
  const m: HistoryMessage = { offset: e.offset, time: e.time, data: JSON.parse(e.payload) as HistoryMessage['data'] };
  if (e.msgId !== undefined) m.msgId = e.msgId;
  if (e.meta !== undefined) {
    const env = decodeEnvelope(e.meta);
    if (env.lineage !== undefined && mayRead(env.lineage.channel)) m.lineage = env.lineage;
    if (env.traceparent !== undefined) m.traceparent = env.traceparent;
  }
  return m;
}
