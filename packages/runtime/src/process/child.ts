import { BlockError, BlockErrorCodes } from '../errors.js';
import { BlockSandbox, copiedOut, type HostHandler, type InvocationInfo } from '../sandbox.js';
import { BusyPoll, encodeFrames, FrameReader, runnerPipes } from './channel.js';
import { Outbox, type FromRunner, type ToRunner, type WireError } from './messages.js';

/**
 * The main of a runner process: hosts the isolates of the sandboxes its node placed here and
 * forwards their host calls to the node. Block code runs only in this process, so a V8 fatal error,
 * a runaway loop or memory outside an isolate's heap costs this process, never the node's sockets.
 * The runner holds no engine, no secrets store and no network access of its own: every effect of a
 * block is a host call the node checks and performs.
 */

const maxFrameBytes = Number(process.argv[2]);
if (!(maxFrameBytes > 0)) throw new Error('the runner process must be started by its node (with its frame cap, and pipes on fd 3 and 4)');
const pipes = runnerPipes();
/** See RunnerPoolOptions.busyPollUs: the node passes it as the second argument. */
const poll = new BusyPoll(Number(process.argv[3] ?? 0));

/**
 * Writes what one turn produced. The node kills a runner that sends a frame over its cap, so a
 * message an isolate made too large (a block's huge definition, say) is turned into the failure it
 * stands for here rather than cost every block on this runner its process.
 */
function send(batch: FromRunner[]): void {
  pipes.output.write(encodeFrames(batch, maxFrameBytes, oversized));
  poll.touch();
}

function oversized(m: FromRunner, bytes: number): FromRunner {
  const error = (code: BlockError['code']): WireError => ({ code, message: `a message of ${bytes} bytes, over the runner's cap` });
  switch (m.t) {
    case 'loaded':
      return { t: 'loaded', sb: m.sb, ok: false, error: error(BlockErrorCodes.INVALID_BLOCK), copied: m.copied };
    case 'result':
      // Without the value that made it too large.
      return {
        t: 'result',
        inv: m.inv,
        ok: false,
        error: error(BlockErrorCodes.RESULT_TOO_LARGE),
        copied: m.copied,
        coldStarts: m.coldStarts,
      };
    case 'call': {
      // Answered here: the node never hears of it.
      const c = calls.get(m.call);
      calls.delete(m.call);
      c?.reject(new BlockError(BlockErrorCodes.PAYLOAD_TOO_LARGE, error(BlockErrorCodes.PAYLOAD_TOO_LARGE).message));
      return { t: 'beat', rss: process.memoryUsage.rss() };
    }
    default:
      return m;
  }
}

const outbox = new Outbox<FromRunner>({ send });
const sandboxes = new Map<number, BlockSandbox>();
/** Each sandbox's InvocationInfo: the node sends it with a version's first invocation here. */
const infos = new Map<number, InvocationInfo>();
/**
 * The node's id of the invocation each sandbox runs. A sandbox runs one invocation at a time (its
 * node holds a lane per invocation) and the sandbox refuses host calls of finished ones, so a host
 * call belongs to the sandbox's current invocation.
 */
const running = new Map<number, number>();
const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
let nextCall = 1;

function wire(err: unknown): WireError {
  if (err instanceof BlockError) return { code: err.code, message: err.message };
  return { code: BlockErrorCodes.HANDLER_ERROR, message: err instanceof Error ? err.message : String(err) };
}

/** Takes the largest copy-out since the last report, for the node's `copiedOut`. */
function copied(): number {
  const n = copiedOut.largest;
  copiedOut.largest = 0;
  return n;
}

function hostFor(sb: number): HostHandler {
  return (_inv, op, args) =>
    new Promise((resolve, reject) => {
      const inv = running.get(sb);
      if (inv === undefined) {
        reject(new BlockError(BlockErrorCodes.HOST_REFUSED, 'the invocation has finished'));
        return;
      }
      const call = nextCall++;
      calls.set(call, { resolve, reject });
      outbox.push({ t: 'call', inv, call, op, args });
    });
}

async function load(m: Extract<ToRunner, { t: 'load' }>): Promise<void> {
  try {
    const { sandbox, description } = await BlockSandbox.load(m.code, m.limits, hostFor(m.sb), m.options);
    sandboxes.set(m.sb, sandbox);
    outbox.push({ t: 'loaded', sb: m.sb, ok: true, description, copied: copied() });
  } catch (err) {
    outbox.push({ t: 'loaded', sb: m.sb, ok: false, error: wire(err), copied: copied() });
  }
}

let lastBeat = 0;

/**
 * Tells the node this process is alive (and its memory), at most once a second. Also called before
 * each invocation starts: invocations of several lanes can run back to back in one turn of this
 * process's loop, each up to its cpuMs, and the node must not take that for a hang.
 */
function beat(): void {
  if (Date.now() - lastBeat < 1000) return;
  lastBeat = Date.now();
  send([{ t: 'beat', rss: process.memoryUsage.rss() }]);
}

/**
 * Runs one invocation of sandbox `sb` and reports it; resolves whether it succeeded. `more`: the
 * next invocation of a run follows, and the success can wait to go out with its first message.
 */
async function invoke(sb: number, inv: number, input: string, hops: number, more = false): Promise<boolean> {
  // A turn of its own: the invocations queued with it start one after another, and the heartbeat
  // goes out between them.
  await new Promise((resolve) => setImmediate(resolve));
  beat();
  const sandbox = sandboxes.get(sb);
  const info = infos.get(sb);
  if (sandbox === undefined || info === undefined) {
    outbox.push({
      t: 'result',
      inv,
      ok: false,
      error: { code: BlockErrorCodes.STOPPED, message: 'the block was stopped' },
      copied: copied(),
      coldStarts: 0,
    });
    return false;
  }
  running.set(sb, inv);
  if (!sandbox.loaded) outbox.push({ t: 'cold', inv, coldStarts: sandbox.coldStarts + 1 });
  try {
    const value = await sandbox.invokeJson(input, info, hops);
    const result: FromRunner = { t: 'result', inv, ok: true, value, copied: copied(), coldStarts: sandbox.coldStarts };
    if (more) outbox.hold(result);
    else outbox.push(result);
    return true;
  } catch (err) {
    outbox.push({ t: 'result', inv, ok: false, error: wire(err), copied: copied(), coldStarts: sandbox.coldStarts });
    return false;
  } finally {
    if (running.get(sb) === inv) running.delete(sb);
  }
}

async function run(m: Extract<ToRunner, { t: 'run' }>): Promise<void> {
  let failed = false;
  for (const [i, item] of m.items.entries()) {
    if (failed) outbox.push({ t: 'skipped', inv: item.inv });
    else failed = !(await invoke(m.sb, item.inv, item.input, item.hops, i < m.items.length - 1));
  }
}

function handle(m: ToRunner): void {
  switch (m.t) {
    case 'load':
      void load(m);
      return;
    case 'invoke':
      if (m.info !== undefined) infos.set(m.sb, m.info);
      void invoke(m.sb, m.inv, m.input, m.hops);
      return;
    case 'run':
      if (m.info !== undefined) infos.set(m.sb, m.info);
      void run(m);
      return;
    case 'reply': {
      const c = calls.get(m.call);
      if (c === undefined) return;
      calls.delete(m.call);
      if (m.ok) c.resolve(m.value);
      else c.reject(new BlockError(m.error.code as BlockError['code'], m.error.message));
      return;
    }
    case 'dispose':
      sandboxes.get(m.sb)?.dispose();
      sandboxes.delete(m.sb);
      infos.delete(m.sb);
      running.delete(m.sb);
      return;
  }
}

// The node is trusted: no cap on what it sends (a bundle to load may be large).
const reader = new FrameReader(
  Number.POSITIVE_INFINITY,
  (m) => handle(m as ToRunner),
  (err) => {
    throw err;
  },
);
pipes.input.on('data', (chunk: Buffer) => {
  reader.push(chunk);
  poll.touch();
});
// The node is gone (it exited or closed the pipe): so is every reason to run.
pipes.input.on('end', () => process.exit(0));
pipes.input.on('error', () => process.exit(0));
pipes.output.on('error', () => process.exit(0));

setInterval(beat, 250);
outbox.push({ t: 'ready', pid: process.pid });
