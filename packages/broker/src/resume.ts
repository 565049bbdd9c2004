import type { StreamEngine } from '@tributary/engine';
import type { ServerFrame, SubscribeFrame } from '@tributary/protocol';
import { encodeFrames } from './hub.js';
import type { Subscription } from './subscription.js';

/** Entries fetched per round trip while replaying history for a resume. */
const REPLAY_PAGE = 1000;

/** What a resume needs from its connection. */
export interface ResumeIo {
  send(frame: ServerFrame): void;
  /** Resolves once the connection's queue has room for more (a replay is paced by its reader). */
  room(): Promise<void>;
  closed(): boolean;
}

/**
 * Starts a channel subscription: from now (no `since`), or resumed after `since` — the stored
 * messages after it replayed in order, paged and paced by the reader, before live ones — when the
 * position is still in the log and its epoch matches; otherwise `recovered: false` from now.
 */
export async function startChannel(engine: StreamEngine, sub: Subscription, frame: SubscribeFrame, io: ResumeIo): Promise<void> {
  const { channel, since } = frame;
  const reply = <T extends object>(f: T): T => (frame.id === undefined ? f : { ...f, id: frame.id });
  if (since === undefined) {
    const state = await engine.state(channel);
    sub.startAfter(state.epoch, state.last);
    return io.send(reply({ type: 'subscribed', channel, pattern: false, epoch: state.epoch, offset: state.last }));
  }
  let page = await engine.read(channel, { after: since.offset, limit: REPLAY_PAGE });
  const recovered = page.epoch === since.epoch && since.offset <= page.last && page.first <= since.offset + 1;
  if (!recovered) {
    sub.startAfter(page.epoch, page.last);
    return io.send(reply({ type: 'subscribed', channel, pattern: false, epoch: page.epoch, offset: page.last, recovered: false }));
  }
  sub.startAfter(since.epoch, since.offset);
  io.send(reply({ type: 'subscribed', channel, pattern: false, epoch: page.epoch, offset: page.last, recovered: true }));
  const target = page.last;
  for (;;) {
    let last = since.offset;
    for (const e of page.entries) {
      await io.room();
      if (io.closed()) return;
      const { frame, restricted } = encodeFrames(e);
      sub.replay(e, frame, restricted);
      last = e.offset;
    }
    if (last >= target || page.entries.length === 0 || io.closed()) break;
    page = await engine.read(channel, { after: last, limit: REPLAY_PAGE });
    if (page.epoch !== since.epoch) break;
  }
}
