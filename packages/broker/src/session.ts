import type { Entry } from '@tributary/engine';
import {
  CloseCodes,
  ErrorCodes,
  isPattern,
  parseClientFrame,
  PROTOCOL_VERSION,
  TributaryError,
  type ClientFrame,
  type ErrorCode,
  type HistoryFrame,
  type PresenceFrame,
  type PresenceMember,
  type PublishFrame,
  type RequestId,
  type ServerFrame,
  type SubscribeFrame,
  type UnsubscribeFrame,
  type WelcomeFrame,
} from '@tributary/protocol';
import type { Logger } from 'pino';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Principal } from '@tributary/server';
import { authorize, can } from './auth.js';
import { Credentials } from './credentials.js';
import { startChannel } from './resume.js';
import { socketOf } from './liveness.js';
import { encodeMessage, textFrame } from './hub.js';
import { ReadCheck, toHistoryMessage } from './lineage.js';
import type { BrokerContext } from './context.js';
import { Subscription } from './subscription.js';

/** Frames a session may have waiting to be handled before it stops reading its socket. */
export const MAX_PENDING_FRAMES = 256;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/**
 * Engine failures a client retries. After one, the publishes queued behind the failed one are failed
 * too, unstored, so that retrying them in order stores them in order.
 */
const RETRIABLE: ReadonlySet<string> = new Set([ErrorCodes.UNAVAILABLE, ErrorCodes.TIMEOUT]);
/**
 * How long a slow consumer being closed may take to read its backlog and the close frame, ms. Its
 * progress cannot be watched meanwhile: Node counts a write as pending until the kernel took all of
 * it, and one write may hold the whole backlog.
 */
const SLOW_CLOSE_GRACE_MS = 10_000;

/**
 * One WebSocket connection. Frames are handled one at a time in arrival order. A publish's turn ends
 * once its append is issued, not stored: engines store a channel's appends in issue order, and
 * appends sharing an order key (this connection's id) in issue order across channels too, so
 * publishes are pipelined whatever channels they alternate between. On an engine that cannot order
 * across channels (a Redis Cluster), a publish to another channel than those in flight first waits
 * for them. Any other frame waits for the publishes in flight, so a history or subscribe sees them.
 * Replies go out in request order (an ack waits for the replies before it). A client's publishes
 * are thus stored in the order it sent them, across channels too. When too many frames wait or are
 * in flight, the socket is paused, which pushes back on the client through TCP instead of
 * buffering without bound.
 */
export class Session {
  readonly id: string;
  readonly #ws: WebSocket;
  readonly #ctx: BrokerContext;
  readonly #log: Logger | undefined;
  readonly #credentials: Credentials;
  #subs = new Map<string, Subscription>();
  readonly #reads = new ReadCheck();
  #presenceStops = new Map<string, () => Promise<void>>();
  #chain: Promise<void> = Promise.resolve();
  /**
   * Publishes issued and not yet answered (they never reject); all to `#inflightChannel` when the
   * engine does not order across channels.
   */
  #inflight = new Set<Promise<void>>();
  #inflightChannel = '';
  /** The latest publish's reply (ack or error) sent: the next reply goes after it. */
  #replied: Promise<void> = Promise.resolve();
  /** Frames waiting or in flight. */
  #pending = 0;
  /** Frames received so far; a frame's number is its place in this count. */
  #received = 0;
  /**
   * After a retriable publish failure: frames numbered below this were received before the failure
   * was answered, so a publish among them is failed unstored (see {@link RETRIABLE}).
   */
  #fenceBelow = 0;
  #fenceError: TributaryError | undefined;
  #paused = false;
  #closed = false;

  /**
   * `early`: frames that arrived while the credentials were being checked, handled first, in order
   * (a client may send right after the socket opens, before `welcome`).
   */
  constructor(id: string, ws: WebSocket, principal: Principal, ctx: BrokerContext, early: ReadonlyArray<[Buffer, boolean]> = []) {
    this.id = id;
    this.#ws = ws;
    this.#ctx = ctx;
    this.#log = ctx.log?.child({ conn: id });
    this.#credentials = new Credentials(principal, () => {
      this.#error(undefined, ErrorCodes.TOKEN_EXPIRED, 'token expired; reconnect or send an auth frame with a fresh token');
      this.close(CloseCodes.UNAUTHORIZED, ErrorCodes.TOKEN_EXPIRED);
    });
    ws.on('message', (data, isBinary) => this.#enqueue(data as Buffer, isBinary));
    ws.on('close', () => void this.dispose());
    ws.on('error', (err) => this.#log?.debug({ err }, 'socket error'));
    const welcome: WelcomeFrame = {
      type: 'welcome',
      version: PROTOCOL_VERSION,
      clientId: id,
      node: ctx.options.nodeId,
      maxPayloadBytes: ctx.options.maxPayloadBytes,
    };
    // Lets a client refresh its token (auth frame) before it expires, without decoding it.
    if (principal.expiresAt !== undefined) welcome.expiresAt = principal.expiresAt;
    this.send(welcome);
    for (const [data, isBinary] of early) this.#enqueue(data, isBinary);
    // Reading stopped while the early frames piled up; from here the session's own bound decides.
    if (!this.#paused && ws.isPaused) ws.resume();
  }

  /**
   * Sends a frame object, framed here and written to the socket as {@link sendMessage} does (an ack
   * per publish: ws's send cost a header buffer, an options object and two socket chunks each).
   */
  send(frame: ServerFrame): void {
    const socket = this.#writable();
    if (socket === undefined) return;
    // Corked until after this turn: a turn's frames leave in one writev.
    this.#ctx.corker.hold(socket, false);
    socket.write(textFrame(JSON.stringify(frame)));
  }

  /**
   * Writes a `message` frame's wire bytes ({@link encodeMessage}) straight to the socket, where
   * they may wait for the write-coalescing window (see Corker). Safe beside ws's own writes: with
   * permessage-deflate off, ws writes synchronously and never queues, so order is kept.
   */
  sendMessage(wire: Buffer): void {
    const socket = this.#writable();
    if (socket === undefined) return;
    this.#ctx.corker.hold(socket, true);
    socket.write(wire);
  }

  /**
   * The socket, if open and its queue is within the bound; else closes a slow consumer. The queue is
   * checked before the write, not with it: a reply larger than the bound (a long history page) is
   * written whole to a reader that keeps up; replies and replays wait for room first ({@link #room}).
   */
  #writable(): Socket | undefined {
    if (this.#closed || this.#ws.readyState !== 1) return undefined;
    if (this.#ws.bufferedAmount > this.#ctx.options.maxQueueBytes) {
      this.#closeSlow('outgoing queue full');
      return undefined;
    }
    return socketOf(this.#ws);
  }

  /** True when this connection may read `channel`, so it gets lineage naming it (see {@link ReadCheck}). */
  mayRead(channel: string): boolean {
    return this.#reads.allows(this.#credentials.principal, channel);
  }

  /** A subscription's live buffer overflowed during its replay: this reader is a slow consumer. */
  overflow(): void {
    this.#closeSlow('live messages overflowed during a replay');
  }

  /** Closes the connection with `code`; a peer that does not finish the handshake is cut after 2 s. */
  close(code: number, reason: string): void {
    if (this.#ws.readyState === 1) this.#ws.close(code, reason);
    const kill = setTimeout(() => this.#ws.terminate(), 2000);
    kill.unref();
    void this.dispose();
  }

  /**
   * Closes a slow consumer with 4008. The close frame queues behind the backlog, so a reader that is
   * slow but alive is given {@link SLOW_CLOSE_GRACE_MS} to reach it; one that has not by then is cut
   * off, and sees 1006 instead. Nothing more is written to it meanwhile, so what it holds stays
   * within the queue bound.
   */
  #closeSlow(why: string): void {
    this.#ctx.metrics.slowConsumers++;
    this.#ctx.prom.slowConsumers.inc();
    this.#log?.warn({ queued: this.#ws.bufferedAmount, why }, 'closing slow consumer');
    if (this.#ws.readyState === 1) this.#ws.close(CloseCodes.SLOW_CONSUMER, 'slow consumer: outgoing queue full');
    void this.dispose();
    const cut = setTimeout(() => {
      // Everything (the close frame too) is with the kernel: ws's own close timeout ends it from here.
      if (this.#ws.bufferedAmount > 0) this.#ws.terminate();
    }, SLOW_CLOSE_GRACE_MS);
    cut.unref();
  }

  /**
   * Waits until the outgoing queue is at most half the bound, so a long reply or replay is paced by
   * the reader instead of tripping the slow-consumer limit. Resolves at once when closed.
   */
  async #room(): Promise<void> {
    const low = this.#ctx.options.maxQueueBytes / 2;
    while (!this.#closed && this.#ws.readyState === 1 && this.#ws.bufferedAmount > low) {
      // Corked bytes are not on their way yet: release them before waiting on the reader.
      this.#ctx.corker.flush();
      const socket = socketOf(this.#ws);
      if (socket === undefined) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          socket.off('drain', done);
          socket.off('close', done);
          resolve();
        };
        // 'drain' fires only after a write that returned false; the timer covers the rest.
        const t = setTimeout(done, 50);
        socket.once('drain', done);
        socket.once('close', done);
      });
    }
  }

  /** Releases subscriptions and presence; idempotent. */
  async dispose(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#credentials.stop();
    this.#ctx.sessions.delete(this);
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    await Promise.allSettled([
      ...subs.map((s) => this.#ctx.hub.leave(s.key, s)),
      ...subs.filter((s) => s.presence).map((s) => this.#ctx.presence.leave(s.key, this.id)),
      ...[...this.#presenceStops.values()].map((stop) => stop()),
    ]);
  }

  #enqueue(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    this.#pending++;
    const seq = ++this.#received;
    if (this.#pending >= MAX_PENDING_FRAMES && !this.#paused) {
      this.#paused = true;
      this.#ws.pause();
    }
    this.#chain = this.#chain
      .then(async () => {
        try {
          await this.#handle(data, isBinary, seq);
        } finally {
          this.#settled();
        }
      })
      .catch((err: unknown) => this.#crashed(err));
  }

  /**
   * A bug on this connection's path (every expected failure is answered as a typed error before it
   * gets here): it ends this connection with 1011, logged and counted, never the process.
   */
  #crashed(err: unknown): void {
    this.#ctx.prom.internalErrors.inc({ where: 'session' });
    this.#log?.error({ err }, 'session failed; closing the connection');
    this.close(CloseCodes.INTERNAL_ERROR, 'internal error');
  }

  /** One frame is done (handled, or its publish stored). */
  #settled(): void {
    this.#pending--;
    if (this.#paused && this.#pending < MAX_PENDING_FRAMES / 2) {
      this.#paused = false;
      this.#ws.resume();
    }
  }

  async #handle(data: Buffer, isBinary: boolean, seq: number): Promise<void> {
    if (isBinary) {
      await this.#drain();
      return this.#error(undefined, ErrorCodes.INVALID_FRAME, 'frames must be JSON text');
    }
    // The server skips ws's own UTF-8 check (it would close the connection with 1007), so a bad
    // frame costs the client one typed error, not its connection.
    let text: string;
    try {
      text = UTF8.decode(data);
    } catch {
      this.#ctx.metrics.badFrames++;
      await this.#drain();
      return this.#error(undefined, ErrorCodes.BAD_JSON, 'frame is not valid UTF-8');
    }
    const parsed = parseClientFrame(text, this.#ctx.options.maxDepth);
    if (!parsed.ok) {
      this.#ctx.metrics.badFrames++;
      await this.#drain();
      return this.#error(parsed.id, parsed.code, parsed.message, parsed.channel);
    }
    const frame = parsed.frame;
    const fenced = frame.type === 'publish' ? this.#fenced(seq) : undefined;
    if (fenced !== undefined) {
      await this.#drain();
      return this.#error(frame.id, fenced.code, fenced.message, (frame as PublishFrame).channel);
    }
    try {
      if (frame.type !== 'publish' || (frame.channel !== this.#inflightChannel && !this.#ctx.engine.ordersAcrossChannels)) {
        await this.#drain();
      }
      await this.#dispatch(frame, seq);
    } catch (err) {
      await this.#drain(); // replies stay in request order
      this.#failed(frame, err);
    }
  }

  /** Waits for the publishes in flight to be stored (acked or failed). */
  async #drain(): Promise<void> {
    if (this.#inflight.size > 0) await Promise.all(this.#inflight);
  }

  /** The error for frame `seq`, a publish, when a retriable failure was answered after it was received. */
  #fenced(seq: number): TributaryError | undefined {
    const e = this.#fenceError;
    if (e === undefined || seq >= this.#fenceBelow) return undefined;
    return new TributaryError(
      e.code,
      `not stored: an earlier publish on this connection failed (${e.code}); retry it and this one in order`,
    );
  }

  #failed(frame: ClientFrame, err: unknown): void {
    const e = toTributaryError(err);
    if (e.code === ErrorCodes.INTERNAL) {
      this.#ctx.prom.internalErrors.inc({ where: frame.type });
      this.#log?.error({ err }, 'request failed');
    }
    if (frame.type === 'publish' && RETRIABLE.has(e.code)) {
      // Every frame already received was sent before the client could see this error: a publish
      // among them stored now would land before the retry of this one.
      this.#fenceBelow = this.#received + 1;
      this.#fenceError = e;
    }
    this.#error(frame.id, e.code, e.message, e.channel ?? ('channel' in frame ? frame.channel : undefined));
  }

  async #dispatch(frame: ClientFrame, seq: number): Promise<void> {
    switch (frame.type) {
      case 'publish':
        return this.#publish(frame, seq);
      case 'subscribe':
        return this.#subscribe(frame);
      case 'unsubscribe':
        return this.#unsubscribe(frame);
      case 'history':
        return this.#history(frame);
      case 'presence':
        return this.#presence(frame);
      case 'ping':
        return this.send(withId({ type: 'pong', time: Date.now() }, frame.id));
      case 'auth': {
        if (this.#ctx.options.auth.insecure) return this.send(withId({ type: 'authed' }, frame.id));
        const { before, after } = await this.#credentials.renew(frame.token, this.#ctx.options.auth.secret);
        await this.#dropRevoked();
        if (after.sub !== before.sub) await this.#reannounce();
        const reply = withId({ type: 'authed' as const }, frame.id);
        return this.send(after.expiresAt === undefined ? reply : { ...reply, expiresAt: after.expiresAt });
      }
    }
  }

  /**
   * After new credentials, ends every subscription they no longer allow (an `error` FORBIDDEN and an
   * `unsubscribed` frame each), so narrowing a token narrows what the connection receives.
   */
  async #dropRevoked(): Promise<void> {
    for (const sub of [...this.#subs.values()]) {
      const allowed =
        can(this.#credentials.principal, 'subscribe', sub.key) && (!sub.presence || can(this.#credentials.principal, 'presence', sub.key));
      if (allowed) continue;
      await this.#endSubscription(sub);
      this.#error(undefined, ErrorCodes.FORBIDDEN, `the new credentials have no subscribe grant for ${sub.key}`, sub.key);
      this.send({ type: 'unsubscribed', channel: sub.key });
    }
  }

  /** Presence shows who a connection is: after an `auth` as another subject, its members say so. */
  async #reannounce(): Promise<void> {
    for (const sub of [...this.#subs.values()]) {
      if (!sub.presence || this.#closed) continue;
      await this.#ctx.presence.leave(sub.key, this.id);
      await this.#ctx.presence.join(sub.key, this.#member());
      if (this.#closed) await this.#ctx.presence.leave(sub.key, this.id);
    }
  }

  #member(): PresenceMember {
    const member: PresenceMember = { clientId: this.id, node: this.#ctx.options.nodeId, since: Date.now() };
    if (this.#credentials.principal.sub !== undefined) member.user = this.#credentials.principal.sub;
    return member;
  }

  async #publish(frame: PublishFrame, seq: number): Promise<void> {
    const req: Parameters<BrokerContext['publisher']['publish']>[0] = {
      channel: frame.channel,
      data: frame.data,
      principal: this.#credentials.principal,
      // Checked again right before the append: a failure may have come back while this publish was
      // in a before-publish block.
      admit: () => {
        const e = this.#fenced(seq);
        if (e !== undefined) throw e;
      },
    };
    if (frame.msgId !== undefined) req.msgId = frame.msgId;
    if (frame.traceparent !== undefined) req.traceparent = frame.traceparent;
    req.orderKey = this.id;
    const { result } = await this.#ctx.publisher.submit(req);
    // Issued: the next frame may go ahead while this one is stored; it counts as pending till then.
    this.#inflightChannel = frame.channel;
    this.#pending++;
    const before = this.#replied;
    const outcome = result.then(
      (r) => ({ r }),
      (err: unknown) => ({ err }),
    );
    const stored = Promise.all([outcome, before])
      .then(([o]) => {
        if ('err' in o) return this.#failed(frame, o.err);
        this.#ctx.metrics.published++;
        this.#ctx.prom.messagesIn.inc({ transport: 'ws' });
        const r = o.r;
        this.send(withId({ type: 'ack', channel: frame.channel, offset: r.offset, epoch: r.epoch, duplicate: r.duplicate }, frame.id));
      })
      // Never rejects: the replies after this one wait on it.
      .catch((err: unknown) => this.#crashed(err))
      .finally(() => {
        this.#inflight.delete(stored);
        this.#settled();
      });
    this.#inflight.add(stored);
    this.#replied = stored;
  }

  async #subscribe(frame: SubscribeFrame): Promise<void> {
    const { channel } = frame;
    const pattern = isPattern(channel);
    authorize(this.#credentials.principal, 'subscribe', channel);
    if (frame.presence === true) authorize(this.#credentials.principal, 'presence', channel);
    if (this.#subs.has(channel)) throw new TributaryError(ErrorCodes.ALREADY_SUBSCRIBED, `already subscribed to ${channel}`, { channel });
    if (this.#subs.size >= this.#ctx.options.maxSubscriptions) {
      throw new TributaryError(ErrorCodes.LIMIT_EXCEEDED, `at most ${this.#ctx.options.maxSubscriptions} subscriptions`, { channel });
    }
    if (pattern && frame.since !== undefined) {
      throw new TributaryError(ErrorCodes.INVALID_FRAME, 'since is not supported for patterns (they are live-only)', { channel });
    }
    const sub = new Subscription(channel, pattern, frame.presence === true, this, this.#ctx.options.maxQueueBytes);
    this.#subs.set(channel, sub);
    try {
      await this.#ctx.hub.join(channel, pattern, sub);
      if (this.#closed || this.#subs.get(channel) !== sub) return void (await this.#ctx.hub.leave(channel, sub));
      if (pattern) {
        this.send(withId({ type: 'subscribed', channel, pattern: true }, frame.id));
      } else {
        await this.#startChannel(sub, frame);
      }
      // Closed meanwhile: dispose has already released `sub`; joining presence now would outlive it.
      if (this.#closed) return;
      if (sub.presence) await this.#joinPresence(channel);
      sub.goLive();
    } catch (err) {
      this.#subs.delete(channel);
      await this.#ctx.hub.leave(channel, sub).catch(() => {});
      throw err;
    }
  }

  /** Tells the client where it stands, replays what it missed when it can, then lets live flow. */
  #startChannel(sub: Subscription, frame: SubscribeFrame): Promise<void> {
    return startChannel(this.#ctx.engine, sub, frame, { send: (f) => this.send(f), room: () => this.#room(), closed: () => this.#closed });
  }

  /** Announces this connection on `channel`; each await may see it closed, and undoes what it did. */
  async #joinPresence(channel: string): Promise<void> {
    const stop = await this.#ctx.presence.listen(channel, (c) => this.send({ type: c.kind, channel: c.channel, member: c.member }));
    if (this.#closed) return void (await stop());
    this.#presenceStops.set(channel, stop);
    await this.#ctx.presence.join(channel, this.#member());
    // dispose's leave ran before this join landed: a member left behind would be refreshed for ever.
    if (this.#closed) await this.#ctx.presence.leave(channel, this.id);
  }

  async #unsubscribe(frame: UnsubscribeFrame): Promise<void> {
    const sub = this.#subs.get(frame.channel);
    if (sub === undefined) {
      throw new TributaryError(ErrorCodes.NOT_SUBSCRIBED, `not subscribed to ${frame.channel}`, { channel: frame.channel });
    }
    await this.#endSubscription(sub);
    this.send(withId({ type: 'unsubscribed', channel: frame.channel }, frame.id));
  }

  /** Ends one subscription of a live connection (an unsubscribe, or a grant taken away): fan-out, then presence. */
  async #endSubscription(sub: Subscription): Promise<void> {
    this.#subs.delete(sub.key);
    await this.#ctx.hub.leave(sub.key, sub);
    if (sub.presence) {
      await this.#presenceStops.get(sub.key)?.();
      this.#presenceStops.delete(sub.key);
      await this.#ctx.presence.leave(sub.key, this.id);
    }
  }

  async #history(frame: HistoryFrame): Promise<void> {
    authorize(this.#credentials.principal, 'history', frame.channel);
    const opts: { limit: number; after?: number } = { limit: frame.limit ?? 100 };
    if (frame.since !== undefined) opts.after = frame.since;
    const r = await this.#ctx.engine.read(frame.channel, opts);
    const entries = fitted(r.entries, this.#ctx.options.maxQueueBytes, frame.since === undefined);
    await this.#room();
    this.send(
      withId(
        {
          type: 'history',
          channel: frame.channel,
          epoch: r.epoch,
          first: r.first,
          last: r.last,
          messages: entries.map((e) => toHistoryMessage(e, (parent) => this.mayRead(parent))),
        },
        frame.id,
      ),
    );
  }

  async #presence(frame: PresenceFrame): Promise<void> {
    authorize(this.#credentials.principal, 'presence', frame.channel);
    const members = await this.#ctx.engine.presenceList(frame.channel);
    this.send(withId({ type: 'presence', channel: frame.channel, members }, frame.id));
  }

  #error(id: RequestId | undefined, code: ErrorCode, message: string, channel?: string): void {
    this.#ctx.prom.errors.inc({ code });
    const frame: ServerFrame = { type: 'error', code, message };
    if (id !== undefined) frame.id = id;
    if (channel !== undefined) frame.channel = channel;
    this.send(frame);
  }
}

/**
 * The entries of one history reply: as many as fit in `maxBytes` as sent (at least one), so a
 * reply is never more than the queue bound a slow reader is allowed. From the newest back when the
 * request asked for the latest ones, from the oldest on when it paged with `since`.
 */
function fitted(entries: Entry[], maxBytes: number, newest: boolean): Entry[] {
  let bytes = 0;
  let n = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[newest ? entries.length - 1 - i : i] as Entry;
    // As sent: the data's UTF-8 bytes, the fields around it, and the envelope — a block output's
    // lineage (a parent channel of up to 200 characters) and traceparent, with their longer keys.
    bytes += Buffer.byteLength(e.payload) + 128 + (e.msgId?.length ?? 0) + (e.meta === undefined ? 0 : e.meta.length + 64);
    if (n > 0 && bytes > maxBytes) break;
    n++;
  }
  return n === entries.length ? entries : newest ? entries.slice(entries.length - n) : entries.slice(0, n);
}

function withId<T extends object>(frame: T, id: RequestId | undefined): T & { id?: RequestId } {
  return id === undefined ? frame : { ...frame, id };
}

/** Maps anything thrown on a request path to a TributaryError; unknown errors become INTERNAL. */
export function toTributaryError(err: unknown): TributaryError {
  if (err instanceof TributaryError) return err;
  return new TributaryError(ErrorCodes.INTERNAL, 'internal error', { cause: err });
}
