// The fuzz harness shared by test/fuzz.int.test.ts (short) and fuzz.ts (long): broker processes
// (memory or Redis engine, insecure or token mode), fuzzed frames pipelined over raw connections
// with every reply checked, connection-level abuse (frames before `welcome`, fragments, partial and
// oversize frames), a checker channel that must lose nothing, and checks that platform notices
// still work. A crash does not end a run: the frames that may have caused it are replayed on a
// fresh process to find the one that does, its kind is set aside (so one bug does not hide the
// others), the processes are restarted and the run goes on. Everything found is a `Finding`.
import { createToken, type Grants } from '@tributary/broker';
import { ErrorCodes } from '@tributary/protocol';
import { connectWs, type Frame, type TestSocket } from '@tributary/testkit';
import fc from 'fast-check';
import { Agent, request } from 'node:http';
import { describeFrame, frameArbitrary, framesChunk, requestArbitrary, type FuzzFrame, type FuzzRequest } from './fuzz.js';
import { sleep } from './ledger.js';
import { spawnNode, type NodeProc } from './procs.js';
import { encodeFrame, encodeMessage, Op, partialFrame, rawConnect, type RawWs } from './rawws.js';

/** Frame types that answer a request (anything else — message, join, leave — is not a reply). */
const REPLIES = new Set(['error', 'ack', 'subscribed', 'unsubscribed', 'history', 'presence', 'pong', 'authed']);
/** Error codes docs/PROTOCOL.md lists. INTERNAL is listed too, and is a failure of its own. */
export const DOCUMENTED_CODES = new Set<string>(Object.values(ErrorCodes));
const ALL: Grants[string] = ['subscribe', 'publish', 'history', 'presence'];

/** What a cluster is: engine, auth mode, node count. */
export interface ClusterSpec {
  engine: 'memory' | 'redis';
  mode: 'insecure' | 'token';
  /** Nodes on the same engine (Redis only; memory nodes share nothing). @defaultValue 1 */
  nodes?: number;
  /** Redis URL, for engine 'redis'. */
  redis?: string;
  maxPayloadBytes: number;
  maxConnectionsPerIp: number;
}

/** Broker processes under fuzz, restartable after a crash (on Redis with a fresh key prefix). */
export class Cluster {
  readonly spec: ClusterSpec;
  readonly name: string;
  readonly secret = 'fuzz-secret-0123456789-abcdefghijklmnop';
  /** Tokens for fuzz connections (token mode): every grant the fuzz channels need, and a narrow one. */
  tokens: string[] = [];
  nodes: NodeProc[] = [];
  restarts = 0;
  #prefix = 0;

  private constructor(spec: ClusterSpec) {
    this.spec = spec;
    this.name = `${spec.engine}/${spec.mode}`;
  }

  static async start(spec: ClusterSpec): Promise<Cluster> {
    const c = new Cluster(spec);
    if (spec.mode === 'token') {
      const wide: Grants = { 'fz.>': ALL, 'chk.>': ALL, '$blocks.>': ALL, '$objects.>': ALL, '$dlq.>': ALL, '$logs.>': ALL };
      c.tokens = [
        await createToken({ secret: c.secret, grants: wide, ttlSeconds: 86_400, sub: 'fuzz' }),
        await createToken({ secret: c.secret, grants: { 'fz.a': ['subscribe', 'history'] }, ttlSeconds: 86_400 }),
      ];
    }
    await c.#spawn();
    return c;
  }

  get maxFrameBytes(): number {
    return this.spec.maxPayloadBytes * 4 + 4096;
  }

  async #spawn(): Promise<void> {
    const keyPrefix = `fz${process.pid}.${this.spec.mode}.${++this.#prefix}:`;
    this.nodes = await Promise.all(
      Array.from({ length: this.spec.nodes ?? 1 }, (_, i) =>
        spawnNode({
          ...(this.spec.engine === 'redis' ? { redis: this.spec.redis as string, keyPrefix } : {}),
          ...(this.spec.mode === 'token' ? { secret: this.secret } : {}),
          broker: { maxPayloadBytes: this.spec.maxPayloadBytes, maxConnectionsPerIp: this.spec.maxConnectionsPerIp, nodeId: `fz-${i}` },
        }),
      ),
    );
  }

  alive(): boolean {
    return this.nodes.every((n) => n.alive());
  }

  /** Which node died, how, and the end of its stderr. */
  exitInfo(): string {
    return this.nodes
      .map((n, i) => ({ n, i }))
      .filter(({ n }) => !n.alive())
      .map(({ n, i }) => {
        const lines = n.stderr().trim().split('\n');
        const at = lines.findLastIndex((l) => /Error|error:|ERR_/.test(l) && !/^\s+at /.test(l));
        return `node ${i} exited (${n.child.exitCode ?? n.child.signalCode}): ${(at < 0 ? lines.slice(-3) : lines.slice(at, at + 3))
          .map((l) => l.trim())
          .join(' | ')
          .slice(0, 400)}`;
      })
      .join('; ');
  }

  /** Kills every node and starts fresh ones (new memory, or a new Redis key prefix). */
  async restart(): Promise<void> {
    this.restarts++;
    await Promise.all(this.nodes.map((n) => n.kill()));
    await this.#spawn();
  }

  /** WebSocket URL of node `i` with the `t`-th fuzz token (token mode). */
  wsUrl(i: number, t = 0): string {
    const n = this.nodes[i % this.nodes.length] as NodeProc;
    return this.spec.mode === 'token' ? `${n.wsUrl}?token=${encodeURIComponent(this.tokens[t % this.tokens.length] as string)}` : n.wsUrl;
  }

  /** URL with the broker secret as credential (token mode), for the checker and admin calls. */
  adminWsUrl(i: number): string {
    const n = this.nodes[i % this.nodes.length] as NodeProc;
    return this.spec.mode === 'token' ? `${n.wsUrl}?token=${encodeURIComponent(this.secret)}` : n.wsUrl;
  }

  authHeaders(): Record<string, string> {
    return this.spec.mode === 'token' ? { authorization: `Bearer ${this.secret}` } : {};
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
  }
}

// ---------------------------------------------------------------------------------------------
// Findings

/** One thing that went wrong: which check, where, on which frame. */
export interface Finding {
  check:
    | 'exit'
    | 'internal'
    | 'undocumented-code'
    | 'no-reply'
    | 'extra-reply'
    | 'wrong-id'
    | 'not-a-reply'
    | 'closed'
    | 'pre-welcome'
    | 'side'
    | 'checker'
    | 'platform'
    | 'http'
    | 'gave-up';
  cluster: string;
  /** What went wrong, with the frame (truncated) when there is one. */
  detail: string;
  /** How many times the same check failed for the same kind of frame (only the first is described). */
  count: number;
}

/** Findings, one per check × cluster × frame kind × code (the first example kept, the rest counted). */
export class Findings {
  readonly list: Finding[] = [];
  readonly #byKey = new Map<string, Finding>();

  add(check: Finding['check'], cluster: string, key: string, detail: string): void {
    const k = `${check}|${cluster}|${key}`;
    const f = this.#byKey.get(k);
    if (f !== undefined) {
      f.count++;
      return;
    }
    const nf: Finding = { check, cluster, detail, count: 1 };
    this.#byKey.set(k, nf);
    this.list.push(nf);
  }

  lines(seed: number): string[] {
    return this.list.map(
      (f) => `[${f.cluster}] ${f.check}${f.count > 1 ? ` (×${f.count})` : ''}: ${f.detail} — replay with FUZZ_SEED=${seed}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// One fuzz connection: frames out, replies matched to them in order

/** An integer id past 2^53: PROTOCOL.md says "integer", but it cannot be echoed exactly; echoed or dropped are both fine. */
const UNSAFE_ID = Symbol('unsafe integer id');

/** The id the broker must echo for a frame (PROTOCOL.md: a string ≤ 64 chars or an integer), or undefined for none. */
export function expectedId(f: FuzzFrame): string | number | typeof UNSAFE_ID | undefined {
  if (f.binary) return undefined;
  let text: string;
  try {
    text = typeof f.data === 'string' ? f.data : new TextDecoder('utf-8', { fatal: true }).decode(f.data);
  } catch {
    return undefined;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const id = (v as { id?: unknown }).id;
  if (typeof id === 'string' && id.length <= 64) return id;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  if (typeof id === 'number' && Number.isInteger(id)) return UNSAFE_ID;
  return undefined;
}

interface Sent {
  frame: FuzzFrame;
  id: ReturnType<typeof expectedId>;
}

/** Counters of one cluster's run. */
export interface Tally {
  sent: number;
  replies: Map<string, number>;
  codes: Map<string, number>;
}

/**
 * A raw connection whose every reply is checked against the frame it answers: replies come in
 * request order (PROTOCOL.md), so the n-th reply answers the n-th frame and carries its id.
 */
class FuzzConn {
  ws!: RawWs;
  readonly pending: Sent[] = [];
  /** The last frames answered, for crash candidates. */
  readonly recent: FuzzFrame[] = [];
  welcomed = false;
  /** Set once the reply stream no longer matches the frames (a missing or extra reply). */
  desynced = false;
  replies = 0;
  #head = 0;

  constructor(
    readonly cluster: Cluster,
    readonly findings: Findings,
    readonly tally: Tally,
  ) {}

  static async open(cluster: Cluster, findings: Findings, tally: Tally, url: string, early?: FuzzFrame[]): Promise<FuzzConn> {
    const c = new FuzzConn(cluster, findings, tally);
    const earlyBytes = early === undefined ? undefined : Buffer.concat(early.map((f) => c.#wire(f)));
    for (const f of early ?? []) c.pending.push({ frame: f, id: expectedId(f) });
    c.ws = await rawConnect(url, { onFrame: (f) => c.#onFrame(f), ...(earlyBytes === undefined ? {} : { early: earlyBytes }) });
    return c;
  }

  #wire(f: FuzzFrame): Buffer {
    return encodeMessage(typeof f.data === 'string' ? Buffer.from(f.data) : f.data, f.binary, f.frag);
  }

  send(f: FuzzFrame): void {
    this.pending.push({ frame: f, id: expectedId(f) });
    this.tally.sent++;
    this.ws.write(this.#wire(f));
  }

  /** Frames sent and not answered yet. */
  outstanding(): number {
    return this.pending.length - this.#head;
  }

  firstUnanswered(): FuzzFrame | undefined {
    return this.pending[this.#head]?.frame;
  }

  /** The first `n` frames not answered (a publish is answered after the frames behind it may have run). */
  unanswered(n: number): FuzzFrame[] {
    return this.pending.slice(this.#head, this.#head + n).map((s) => s.frame);
  }

  #onFrame(f: Record<string, unknown>): void {
    const type = String(f.type);
    if (type === 'welcome') {
      if (this.welcomed || this.replies > 0)
        this.findings.add('not-a-reply', this.cluster.name, 'welcome', `a second or late welcome: ${JSON.stringify(f).slice(0, 200)}`);
      this.welcomed = true;
      return;
    }
    if (!REPLIES.has(type)) return;
    this.replies++;
    this.tally.replies.set(type, (this.tally.replies.get(type) ?? 0) + 1);
    const code = type === 'error' ? String(f.code) : undefined;
    if (code !== undefined) this.tally.codes.set(code, (this.tally.codes.get(code) ?? 0) + 1);
    const sent = this.pending[this.#head];
    if (sent === undefined) {
      this.findings.add('extra-reply', this.cluster.name, type, `a reply with no frame left to answer: ${JSON.stringify(f).slice(0, 300)}`);
      this.desynced = true;
      return;
    }
    this.#head++;
    this.recent.push(sent.frame);
    if (this.recent.length > 32) this.recent.shift();
    if (this.#head > 4096) {
      this.pending.splice(0, this.#head);
      this.#head = 0;
    }
    const reply = JSON.stringify(f).slice(0, 300);
    const kind = sent.frame.kind;
    if (code === ErrorCodes.INTERNAL) {
      this.findings.add('internal', this.cluster.name, kind, `${describeFrame(sent.frame)} → ${reply}`);
    } else if (code !== undefined && !DOCUMENTED_CODES.has(code)) {
      this.findings.add('undocumented-code', this.cluster.name, `${kind}|${code}`, `${describeFrame(sent.frame)} → ${reply}`);
    }
    if (!this.desynced && f.id !== sent.id && !(sent.id === UNSAFE_ID && (f.id === undefined || typeof f.id === 'number'))) {
      // The n-th reply does not carry the n-th frame's id: a frame before it got no reply, or two.
      this.desynced = true;
      this.findings.add(
        'wrong-id',
        this.cluster.name,
        kind,
        `reply ${this.replies} should answer ${describeFrame(sent.frame)} (id ${String(sent.id)}) but is ${reply}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The checker channel: a well-behaved publisher and subscriber that must see no loss

class Checker {
  readonly channel = `chk.${Math.random().toString(36).slice(2, 8)}`;
  acked: Array<{ seq: number; offset: number }> = [];
  errors: string[] = [];
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  private constructor(
    readonly pub: TestSocket,
    readonly sub: TestSocket,
  ) {}

  static async start(cluster: Cluster): Promise<Checker> {
    const pub = await connectWs(cluster.adminWsUrl(0));
    const sub = await connectWs(cluster.adminWsUrl(cluster.nodes.length - 1));
    const c = new Checker(pub, sub);
    const r = await sub.request({ type: 'subscribe', channel: c.channel });
    if (r.type !== 'subscribed') throw new Error(`checker could not subscribe: ${JSON.stringify(r)}`);
    pub.ws.on('message', (raw: Buffer) => {
      const f = JSON.parse(raw.toString()) as Frame;
      if (typeof f.id !== 'string' || !f.id.startsWith('chk')) return;
      if (f.type === 'ack') c.acked.push({ seq: Number(f.id.slice(3)), offset: f.offset as number });
      else c.errors.push(`${f.id}: ${JSON.stringify(f)}`);
    });
    c.#timer = setInterval(() => {
      const seq = ++c.#seq;
      pub.send({ type: 'publish', id: `chk${seq}`, channel: c.channel, data: { seq }, msgId: `chk-${seq}` });
    }, 10);
    return c;
  }

  /** Stops publishing; every acked message must arrive once, in order, and be in history. Returns problems. */
  async finish(): Promise<{ problems: string[]; acked: number }> {
    clearInterval(this.#timer);
    const problems: string[] = [];
    const deadline = Date.now() + 10_000;
    while (this.acked.length + this.errors.length < this.#seq && Date.now() < deadline) await sleep(20);
    if (this.acked.length + this.errors.length < this.#seq)
      problems.push(`${this.#seq - this.acked.length - this.errors.length} checker publishes got no reply`);
    problems.push(...this.errors.slice(0, 3).map((e) => `checker publish refused: ${e}`));
    const got = (): Array<{ seq: number; offset: number }> =>
      this.sub.frames
        .filter((f) => f.type === 'message' && f.channel === this.channel)
        .map((f) => ({ seq: (f.data as { seq: number }).seq, offset: f.offset as number }));
    const lastAcked = this.acked.at(-1);
    while (lastAcked !== undefined && !got().some((g) => g.seq === lastAcked.seq) && Date.now() < deadline) await sleep(20);
    const delivered = got();
    const want = this.acked.map((a) => a.seq).join(',');
    const have = delivered.map((d) => d.seq).join(',');
    if (want !== have) {
      const missing = this.acked.filter((a) => !delivered.some((d) => d.seq === a.seq)).map((a) => a.seq);
      problems.push(
        `delivered ${delivered.length} of ${this.acked.length} acked (exactly once, in order expected); missing seqs ${missing.slice(0, 10).join(',')}${missing.length > 10 ? '…' : ''}; first difference at #${[...want].findIndex((ch, i) => ch !== have[i])}`,
      );
    }
    if (lastAcked !== undefined) {
      const h = await this.pub.request(
        { type: 'history', channel: this.channel, since: Math.max(0, lastAcked.offset - 1000), limit: 1000 },
        10_000,
      );
      const msgs = (h.messages as Array<{ offset: number; data: { seq: number } }> | undefined) ?? [];
      const first = h.first as number;
      const inHistory = new Map(msgs.map((m) => [m.offset, m.data.seq]));
      const lost = this.acked.filter((a) => a.offset >= first && inHistory.get(a.offset) !== a.seq);
      if (h.type !== 'history') problems.push(`history failed: ${JSON.stringify(h).slice(0, 200)}`);
      else if (lost.length > 0 || first > Math.max(1, lastAcked.offset - 999)) {
        problems.push(
          `history from ${first} to ${String(h.last)} lacks ${lost.length} acked messages (e.g. offset ${lost[0]?.offset}) or trimmed more than maxLength`,
        );
      }
    }
    await Promise.all([this.pub.close(), this.sub.close()]);
    return { problems, acked: this.acked.length };
  }

  abandon(): void {
    clearInterval(this.#timer);
    this.pub.ws.terminate();
    this.sub.ws.terminate();
  }
}

// ---------------------------------------------------------------------------------------------
// Connection-level abuse

/** Connection-level cases, cycled through by seed: partial frames held or closed, oversize, protocol errors. */
export const SIDE_CASES = [
  'oversize',
  'oversize-fragmented',
  'partial-hold',
  'partial-close',
  'partial-header-hold',
  'fragment-open-hold',
  'fragment-open-close',
  'protocol-error',
] as const;
type SideCase = (typeof SIDE_CASES)[number];

const ping = (id: string): FuzzFrame => ({ kind: 'ping', data: JSON.stringify({ type: 'ping', id }), binary: false });

/** Runs one case; held connections are returned to be checked (and closed) at the end of the run. */
async function sideCase(cluster: Cluster, findings: Findings, tally: Tally, which: SideCase, n: number): Promise<FuzzConn | undefined> {
  const c = await FuzzConn.open(cluster, findings, tally, cluster.wsUrl(n, n));
  // A case that fails because a node died is the crash's finding, not its own.
  const fail = (what: string): void => {
    if (cluster.alive()) findings.add('side', cluster.name, which, what);
  };
  await waitFor(() => c.welcomed || c.ws.isClosed(), 5000);
  const cap = cluster.maxFrameBytes;
  if (which === 'oversize' || which === 'oversize-fragmented') {
    const big = Buffer.alloc(cap + 1 + (n % 3) * 50_000, 0x20);
    big.write('{"type":"publish","channel":"fz.a","data":"');
    c.ws.send(big, false, which === 'oversize' ? undefined : { cuts: [cap >> 1, cap >> 1], pings: true });
    const code = await Promise.race([c.ws.closed, sleep(5000).then(() => -1)]);
    if (code !== 1009)
      fail(`a ${big.length}-byte message over the ${cap}-byte cap should close with 1009, got ${code === -1 ? 'no close in 5 s' : code}`);
    if (c.replies > 0) fail('an oversize frame got a reply instead of a close');
    c.ws.destroy();
    return undefined;
  }
  // Three pings answered first: the connection works until the broken frame.
  for (let i = 0; i < 3; i++) c.send(ping(`side${n}.${i}`));
  if (which === 'partial-hold' || which === 'partial-close') c.ws.write(partialFrame(1000 + n, n % 900));
  else if (which === 'partial-header-hold') c.ws.write(Buffer.from([0x81, 0xff, 0, 0, 0]));
  else if (which === 'fragment-open-hold' || which === 'fragment-open-close') {
    c.ws.write(encodeFrame(Op.TEXT, Buffer.from('{"type":"pi'), false));
    c.ws.write(encodeFrame(Op.PING, Buffer.from('x')));
  } else {
    // Reserved opcode, RSV1 without an extension, an unmasked frame, a fragmented control frame.
    const bad = [
      Buffer.from([0x83, 0x80, 0, 0, 0, 0]),
      Buffer.from([0xc1, 0x80, 0, 0, 0, 0]),
      Buffer.from([0x81, 0x02, 0x7b, 0x7d]),
      Buffer.from([0x09, 0x80, 0, 0, 0, 0]),
    ][n % 4] as Buffer;
    c.ws.write(bad);
    const code = await Promise.race([c.ws.closed, sleep(5000).then(() => -1)]);
    if (code === -1) fail(`a protocol error (${bad.toString('hex')}) should close the connection; it stayed open 5 s`);
    return undefined;
  }
  await waitFor(() => c.replies >= 3 || c.ws.isClosed(), 5000);
  if (c.replies !== 3) fail(`3 pings before a ${which} frame: ${c.replies} replies`);
  if (which.endsWith('close')) {
    c.ws.destroy();
    return undefined;
  }
  return c;
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The run

/** Options of {@link fuzzFrames}. */
export interface FrameRunOptions {
  seed: number;
  frames: number;
  /** Frame families (fuzz.ts FAMILIES); all by default. */
  families?: readonly string[];
  connections?: number;
  /** Frames written per connection before waiting for the replies. */
  batch?: number;
  /** Give up after this many crashes (each one minimized and its kind set aside first). @defaultValue 4 */
  maxCrashes?: number;
  /** Sample RSS (node 0) after 10% of the frames and at the end. */
  rss?: boolean;
  log?: (line: string) => void;
}

/** What a run did. */
export interface FrameRunReport {
  cluster: string;
  tally: Tally;
  side: Map<string, number>;
  preWelcome: number;
  checker: number;
  quarantined: string[];
  crashes: number;
  rssAfterWarmup: number;
  rssGrowth: number;
}

/**
 * Fuzzes `cluster` with `frames` frames. Before the stream: frames sent before `welcome` (in the
 * upgrade request's own TCP write, and right after the 101), each to be answered exactly once.
 * During it: the checker channel, and one connection-level case per batch. Findings go to `findings`.
 */
export async function fuzzFrames(cluster: Cluster, findings: Findings, o: FrameRunOptions): Promise<FrameRunReport> {
  const log = o.log ?? (() => {});
  const connections = o.connections ?? 8;
  const batch = o.batch ?? 500;
  const arb = frameArbitrary(o.families);
  const tally: Tally = { sent: 0, replies: new Map(), codes: new Map() };
  const report: FrameRunReport = {
    cluster: cluster.name,
    tally,
    side: new Map(),
    preWelcome: 0,
    checker: 0,
    quarantined: [],
    crashes: 0,
    rssAfterWarmup: 0,
    rssGrowth: 0,
  };
  const quarantine = new Set<string>();
  const held: FuzzConn[] = [];
  let conns: FuzzConn[] = [];
  let checker: Checker | undefined;

  const openAll = async (): Promise<void> => {
    conns = await Promise.all(Array.from({ length: connections }, (_, i) => FuzzConn.open(cluster, findings, tally, cluster.wsUrl(i, i))));
    await waitFor(() => conns.every((c) => c.welcomed || c.ws.isClosed()), 10_000);
    checker = await Checker.start(cluster);
  };
  const dropAll = (): void => {
    for (const c of [...conns, ...held]) c.ws.destroy();
    conns = [];
    held.length = 0;
    checker?.abandon();
    checker = undefined;
  };

  /** After a crash: the frames that may have caused it, replayed alone on a fresh process until one kills it. */
  const minimize = async (candidates: FuzzFrame[]): Promise<FuzzFrame[] | undefined> => {
    const kills = async (frames: FuzzFrame[]): Promise<boolean> => {
      if (!cluster.alive()) await cluster.restart();
      const c = await FuzzConn.open(cluster, new Findings(), { sent: 0, replies: new Map(), codes: new Map() }, cluster.wsUrl(0));
      await waitFor(() => c.welcomed || c.ws.isClosed(), 5000);
      for (const f of frames) c.send(f);
      await waitFor(() => c.outstanding() === 0 || !cluster.alive(), 5000);
      await waitFor(() => !cluster.alive(), 300);
      c.ws.destroy();
      return !cluster.alive();
    };
    let set = candidates;
    if (set.length === 0 || !(await kills(set))) return undefined;
    while (set.length > 1) {
      const a = set.slice(0, Math.ceil(set.length / 2));
      const b = set.slice(a.length);
      if (await kills(a)) set = a;
      else if (await kills(b)) set = b;
      else break; // only together: report the set
    }
    return set;
  };

  const crashed = async (where: string, batchFrames: FuzzFrame[]): Promise<boolean> => {
    report.crashes++;
    const info = cluster.exitInfo();
    // Replies are held for a moment before they are written (write coalescing), so the frame that
    // killed the process can be tens of frames past the first unanswered one on its connection.
    const unanswered = conns.flatMap((c) => c.unanswered(64));
    const recent = conns.flatMap((c) => c.recent.slice().reverse());
    dropAll();
    log(`fuzz ${cluster.name}: a node exited ${where}; finding the frame…`);
    // In flight first, then just answered (a crash after the reply: a notice reader), then the whole batch.
    const culprit = (await minimize(unanswered)) ?? (await minimize(recent)) ?? (await minimize(batchFrames));
    if (culprit === undefined) {
      findings.add(
        'exit',
        cluster.name,
        `unreproduced|${where}`,
        `${info} ${where}; not reproduced by replaying the batch's frames on one connection. First unanswered: ${unanswered
          .slice(0, 3)
          .map((f) => describeFrame(f))
          .join(' ; ')}`,
      );
    } else {
      const kinds = [...new Set(culprit.map((f) => f.kind))];
      for (const k of kinds) quarantine.add(k);
      findings.add(
        'exit',
        cluster.name,
        kinds.join('+'),
        `${info}; ${culprit.length === 1 ? 'this frame alone kills a fresh process' : `these ${culprit.length} frames together kill a fresh process`}: ${culprit
          .slice(0, 3)
          .map((f) => describeFrame(f))
          .join(' ; ')} (kind ${kinds.join(', ')} set aside for the rest of the run)`,
      );
    }
    if (report.crashes >= (o.maxCrashes ?? 4)) {
      findings.add(
        'gave-up',
        cluster.name,
        'crashes',
        `stopped after ${report.crashes} crashes; frames of kinds ${[...quarantine].join(', ')} were set aside`,
      );
      return false;
    }
    if (!cluster.alive()) await cluster.restart();
    await openAll();
    return true;
  };

  // 1. Frames before welcome: in the upgrade request's TCP write, and right after the 101.
  {
    const early = framesChunk(frameArbitrary(['valid', 'mutated', 'broken-json', 'junk']), o.seed, 1_000_000, 64);
    const pre: FuzzConn[] = [];
    // A dropped frame also shifts the replies after it (wrong-id): the pre-welcome finding says it once.
    const preFindings = new Findings();
    for (let i = 0; i < 4; i++) {
      const frames = early.slice(i * 16, i * 16 + 16);
      if (i % 2 === 0) pre.push(await FuzzConn.open(cluster, preFindings, tally, cluster.wsUrl(i, 0), frames));
      else {
        const c = await FuzzConn.open(cluster, preFindings, tally, cluster.wsUrl(i, 0));
        for (const f of frames) c.send(f);
        pre.push(c);
      }
      tally.sent += i % 2 === 0 ? frames.length : 0;
      report.preWelcome += frames.length;
    }
    await waitFor(() => pre.every((c) => c.outstanding() === 0) || !cluster.alive(), 5000);
    pre.forEach((c, i) => {
      if (c.outstanding() > 0) {
        findings.add(
          'pre-welcome',
          cluster.name,
          i % 2 === 0 ? 'same-write' : 'after-101',
          `${c.outstanding()} of 16 frames sent ${i % 2 === 0 ? 'in the same TCP write as the upgrade request' : 'right after the 101, before welcome'} got no reply (welcome ${c.welcomed ? 'received' : 'not received'}); first unanswered: ${describeFrame(c.firstUnanswered() as FuzzFrame)}`,
        );
      }
      c.ws.destroy();
    });
    for (const f of preFindings.list)
      if (f.check !== 'wrong-id') findings.add(f.check, f.cluster, `pre-welcome|${f.detail.slice(0, 60)}`, `(before welcome) ${f.detail}`);
    if (!cluster.alive()) {
      findings.add('exit', cluster.name, 'pre-welcome', `${cluster.exitInfo()} while answering frames sent before welcome`);
      await cluster.restart();
    }
  }

  // 2. The stream.
  await openAll();
  const per = batch * connections;
  const chunks = Math.ceil(o.frames / per);
  const pick = fc.sample(fc.constantFrom(...SIDE_CASES), { seed: o.seed, numRuns: chunks });
  let stopped = false;
  for (let k = 0; k < chunks && !stopped; k++) {
    const frames = framesChunk(arb, o.seed, k, Math.min(per, o.frames - k * per)).filter((f) => !quarantine.has(f.kind));
    frames.forEach((f, j) => {
      const c = conns[j % connections] as FuzzConn;
      if (!c.ws.isClosed()) c.send(f);
    });
    const sideCaseName = pick[k] as SideCase;
    const side = sideCase(cluster, findings, tally, sideCaseName, k).catch((err: unknown) => {
      if (cluster.alive()) findings.add('side', cluster.name, sideCaseName, `${sideCaseName}: ${String(err)}`);
      return undefined;
    });
    const done = await waitFor(() => !cluster.alive() || conns.every((c) => c.outstanding() === 0 || c.ws.isClosed()), 30_000);
    const sc = await side;
    if (sc !== undefined) held.push(sc);
    report.side.set(sideCaseName, (report.side.get(sideCaseName) ?? 0) + 1);
    if (!cluster.alive()) {
      stopped = !(await crashed(`in batch ${k} (frames ${k * per}–${k * per + frames.length})`, frames));
      continue;
    }
    let replaced = false;
    for (const [i, c] of conns.entries()) {
      if (c.ws.isClosed()) {
        const code = await c.ws.closed;
        findings.add(
          'closed',
          cluster.name,
          String(code),
          `the broker closed a fuzz connection with ${code} in batch ${k}; first unanswered: ${c.firstUnanswered() === undefined ? '-' : describeFrame(c.firstUnanswered() as FuzzFrame)}`,
        );
      } else if (!done && c.outstanding() > 0) {
        findings.add(
          'no-reply',
          cluster.name,
          (c.firstUnanswered() as FuzzFrame).kind,
          `no reply within 30 s to ${describeFrame(c.firstUnanswered() as FuzzFrame)} (${c.outstanding()} frames unanswered on the connection)`,
        );
      } else if (!c.desynced) continue;
      // A closed, stuck or desynced connection is replaced; the others go on.
      c.ws.destroy();
      conns[i] = await FuzzConn.open(cluster, findings, tally, cluster.wsUrl(i, i));
      replaced = true;
    }
    if (replaced) await waitFor(() => conns.every((c) => c.welcomed), 5000);
    if (o.rss === true && report.rssAfterWarmup === 0 && (k + 1) * per >= o.frames / 10)
      report.rssAfterWarmup = cluster.nodes[0]?.rss() ?? 0;
    if (k % 10 === 9) log(`fuzz ${cluster.name}: ${(k + 1) * per} frames`);
  }

  // 3. The end: held connections still served, every connection still answering, the checker lossless.
  if (!stopped && cluster.alive()) {
    for (const c of conns) c.send(ping('end'));
    await waitFor(() => conns.every((c) => c.outstanding() === 0) || !cluster.alive(), 10_000);
    for (const c of conns)
      if (c.outstanding() > 0)
        findings.add('no-reply', cluster.name, 'end-ping', 'a fuzz connection no longer answers a ping after the run');
    for (const h of held)
      if (h.ws.isClosed() && h.replies < 3) findings.add('side', cluster.name, 'held', 'a held partial-frame connection lost its replies');
    if (o.rss === true) report.rssGrowth = (cluster.nodes[0]?.rss() ?? 0) - report.rssAfterWarmup;
    if (checker !== undefined) {
      const r = await checker.finish();
      checker = undefined;
      report.checker = r.acked;
      for (const p of r.problems) findings.add('checker', cluster.name, p.slice(0, 40), p);
    }
  }
  if (!cluster.alive()) findings.add('exit', cluster.name, 'end', `${cluster.exitInfo()} at the end of the run`);
  dropAll();
  report.quarantined = [...quarantine];
  return report;
}

/** One line per report: frames, replies, codes, side cases, checker, RSS. */
export function summarize(seed: number, r: FrameRunReport): string {
  const obj = (m: Map<string, number>): string => JSON.stringify(Object.fromEntries([...m].sort((a, b) => b[1] - a[1])));
  return (
    `fuzz ${r.cluster}: seed ${seed}; ${r.tally.sent} frames (${r.preWelcome} before welcome); replies ${obj(r.tally.replies)}; ` +
    `error codes ${obj(r.tally.codes)}; connection cases ${obj(r.side)}; checker ${r.checker} messages; crashes ${r.crashes}` +
    (r.quarantined.length > 0 ? ` (kinds set aside: ${r.quarantined.join(', ')})` : '') +
    (r.rssAfterWarmup > 0
      ? `; RSS after warm-up ${(r.rssAfterWarmup / 2 ** 20).toFixed(1)} MiB, growth ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`
      : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Platform notices, HTTP

/** A request block deployed as source after the fuzz: its notice must reach subscribers and every node. */
const CHECK_BLOCK = `import { defineBlock } from '@tributary/block';
export default defineBlock({ name: 'fzcheck', trigger: { request: true }, async handle() { return { status: 200, body: { ok: true } }; } });`;

/**
 * After junk on `$blocks.deployed`: every node alive, a deploy through node 0's admin API answers
 * 201, its notice reaches a subscriber of `$blocks.deployed`, every node runs the block (the notice
 * reached their watchers, on a shared engine), and removing it works.
 */
export async function checkPlatform(cluster: Cluster, findings: Findings): Promise<void> {
  const fail = (key: string, what: string): void => findings.add('platform', cluster.name, key, what);
  if (!cluster.alive()) {
    fail('exit', `${cluster.exitInfo()} before the deploy check`);
    await cluster.restart();
  }
  const sub = await connectWs(cluster.adminWsUrl(0));
  await sub.request({ type: 'subscribe', channel: '$blocks.deployed' });
  const headers = { 'content-type': 'application/json', ...cluster.authHeaders() };
  const base = cluster.nodes[0]?.url as string;
  const res = await fetch(`${base}/v1/admin/blocks`, { method: 'POST', headers, body: JSON.stringify({ source: CHECK_BLOCK }) }).catch(
    (e: unknown) => e as Error,
  );
  if (res instanceof Error || res.status !== 201) {
    fail(
      'deploy',
      `deploy after the fuzz: ${res instanceof Error ? String(res) : `${res.status} ${(await res.text()).slice(0, 200)}`}; ${cluster.alive() ? '' : cluster.exitInfo()}`,
    );
  } else {
    const notice = await sub
      .next((f) => f.type === 'message' && (f.data as { name?: unknown } | null)?.name === 'fzcheck', 10_000)
      .catch(() => undefined);
    if (notice === undefined) fail('notice', 'the deploy notice did not reach a subscriber of $blocks.deployed within 10 s');
    for (const [i, n] of cluster.nodes.entries()) {
      const ok = await waitForAsync(async () => {
        const r = await fetch(`${n.url}/v1/admin/blocks`, { headers: cluster.authHeaders() }).catch(() => undefined);
        return r?.status === 200 && ((await r.json()) as { blocks: Array<{ name: string }> }).blocks.some((b) => b.name === 'fzcheck');
      }, 10_000);
      if (!ok)
        fail(
          `node${i}`,
          `node ${i} does not run the block deployed on node 0 after 10 s (its $blocks.deployed watcher is dead?)${n.alive() ? '' : `; ${cluster.exitInfo()}`}`,
        );
    }
    const del = await fetch(`${base}/v1/admin/blocks/fzcheck`, { method: 'DELETE', headers: cluster.authHeaders() }).catch(
      (e: unknown) => e as Error,
    );
    if (del instanceof Error || del.status !== 200)
      fail('remove', `removing the block: ${del instanceof Error ? String(del) : del.status}`);
  }
  await sub.close();
  if (!cluster.alive()) fail('exit-after', cluster.exitInfo());
}

async function waitForAsync(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

function httpSend(agent: Agent, base: URL, r: FuzzRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // Well-formed HTTP framing (a Content-Length for every body): what is fuzzed is the API, not
    // Node's HTTP parser, which answers unparseable bytes with a bare 400 and closes.
    const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) };
    const req = request({ host: base.hostname, port: base.port, method: r.method, path: r.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

const describeRequest = (r: FuzzRequest): string =>
  `${r.method} ${r.path.slice(0, 120)} ${r.headers.authorization === undefined ? '' : '(with a bearer) '}body ${r.body === undefined ? '-' : JSON.stringify(String(r.body).slice(0, 120))}${(r.body?.length ?? 0) > 120 ? `…(${r.body?.length} bytes)` : ''}`;

/**
 * `n` random and mutated HTTP requests, 64 at a time over keep-alive: every one gets a status; every
 * error a typed JSON body below 500 with a documented code (or an admin one); the process survives.
 */
export async function fuzzHttp(cluster: Cluster, findings: Findings, seed: number, n: number): Promise<Map<number, number>> {
  const bearers = cluster.spec.mode === 'token' ? [...cluster.tokens, cluster.secret] : [];
  const requests = fc.sample(requestArbitrary(bearers), { numRuns: n, seed });
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const statuses = new Map<number, number>();
  const adminCodes = new Set(['COMPILE_ERROR', 'INVALID_BLOCK']);
  for (let i = 0; i < requests.length; i += 64) {
    const node = cluster.nodes[(i / 64) % cluster.nodes.length] as NodeProc;
    const base = new URL(node.url);
    const group = requests.slice(i, i + 64);
    const resets: string[] = [];
    await Promise.all(
      group.map(async (r) => {
        const res = await httpSend(agent, base, r).catch((err: unknown) => ({ status: -1, body: String(err) }));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status === -1) {
          resets.push(`${describeRequest(r)} → connection error ${res.body}`);
          return;
        }
        if (res.status < 400 || r.method === 'HEAD') return;
        let code: unknown;
        try {
          code = (JSON.parse(res.body) as { error?: { code?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        if (res.status >= 500 && !(res.status === 503 && code === 'UNAVAILABLE')) {
          findings.add(
            'http',
            cluster.name,
            `${res.status}|${String(code)}`,
            `${describeRequest(r)} → ${res.status} ${res.body.slice(0, 160)}`,
          );
        } else if (typeof code !== 'string' || !(DOCUMENTED_CODES.has(code) || adminCodes.has(code))) {
          findings.add(
            'http',
            cluster.name,
            `untyped|${res.status}`,
            `${describeRequest(r)} → ${res.status} without a documented code: ${res.body.slice(0, 160)}`,
          );
        }
      }),
    );
    await sleep(50);
    // Requests cut by a crash are the crash's finding (below), not their own.
    if (cluster.alive()) for (const r of resets) findings.add('http', cluster.name, 'reset', r);
    if (!cluster.alive()) {
      // Replayed one at a time on a fresh process, to name the request.
      const info = cluster.exitInfo();
      let culprit: FuzzRequest | undefined;
      for (const r of group) {
        if (!cluster.alive()) await cluster.restart();
        await httpSend(agent, new URL(cluster.nodes[0]?.url as string), r).catch(() => undefined);
        await sleep(100);
        if (!cluster.alive()) {
          culprit = r;
          break;
        }
      }
      findings.add(
        'exit',
        cluster.name,
        'http',
        `${info} during HTTP requests ${i}–${i + group.length}; ${culprit === undefined ? 'no single request reproduces it' : `this request alone kills a fresh process: ${describeRequest(culprit)}`}`,
      );
      if (!cluster.alive()) await cluster.restart();
    }
  }
  agent.destroy();
  return statuses;
}

// ---------------------------------------------------------------------------------------------
// A whole campaign (the `fuzz` script)

/** Options of {@link fuzzCampaign}. */
export interface CampaignOptions {
  seed: number;
  /** Frames per engine, split between insecure and token mode. */
  framesPerEngine: number;
  engines: ReadonlyArray<'memory' | 'redis'>;
  httpRequests: number;
  families?: readonly string[];
  redis?: string;
  log?: (line: string) => void;
}

/**
 * Every engine in insecure mode (Redis: two nodes on one Redis, so notices cross processes) and
 * token mode: the frame fuzz, the deploy/notice check after junk on platform channels, the HTTP
 * fuzz. Returns the summaries and the findings.
 */
export async function fuzzCampaign(o: CampaignOptions): Promise<{ summaries: string[]; findings: Findings }> {
  const log = o.log ?? (() => {});
  const findings = new Findings();
  const summaries: string[] = [];
  for (const engine of o.engines) {
    for (const mode of ['insecure', 'token'] as const) {
      let cluster: Cluster | undefined;
      try {
        cluster = await Cluster.start({
          engine,
          mode,
          nodes: engine === 'redis' && mode === 'insecure' ? 2 : 1,
          ...(o.redis === undefined ? {} : { redis: o.redis }),
          maxPayloadBytes: FUZZ_MAX_PAYLOAD,
          maxConnectionsPerIp: 400,
        });
        const r = await fuzzFrames(cluster, findings, {
          seed: o.seed,
          frames: Math.ceil(o.framesPerEngine / 2),
          rss: engine === 'memory',
          ...(o.families === undefined ? {} : { families: o.families }),
          log,
        });
        summaries.push(summarize(o.seed, r));
        log(summaries.at(-1) as string);
        await checkPlatform(cluster, findings);
        const statuses = await fuzzHttp(cluster, findings, o.seed, o.httpRequests);
        summaries.push(`fuzz http ${cluster.name}: ${o.httpRequests} requests; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
        log(summaries.at(-1) as string);
      } catch (err) {
        // A cluster that cannot start (or a harness error) ends that cluster's run, not the campaign.
        findings.add('gave-up', `${engine}/${mode}`, 'error', `the run stopped: ${String(err).slice(0, 600)}`);
      } finally {
        await cluster?.stop();
      }
    }
  }
  return { summaries, findings };
}

/**
 * maxPayloadBytes of fuzzed brokers: 256 KiB, so the hard frame cap (4 × + 4 KiB ≈ 1 MiB) lets
 * 100,000-deep values and 1 MB strings reach the parser instead of being cut by the WebSocket layer.
 */
export const FUZZ_MAX_PAYLOAD = 256 * 1024;
