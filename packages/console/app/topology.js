// @ts-check
// The Topology section: the live graph (GET /v1/admin/topology), what a click on a node shows, and
// the trace of a message (GET /v1/trace/<channel>/<offset>).
import { api, ApiError, channelPath } from './api.js';
import { ago, button, byId } from './dom.js';
import { duration, rate, renderGraph } from './graph.js';

const REFRESH_MS = 3000;
/** Messages shown for a channel, log lines and dead letters for a block. */
const RECENT = 10;

/** @type {string | undefined} the node whose details are shown */
let selected;
let timer = 0;
let running = false;

/** Starts refreshing the graph. */
export function startTopology() {
  running = true;
  void refresh();
}

/** Stops refreshing (logged out). */
export function stopTopology() {
  running = false;
  clearTimeout(timer);
}

async function refresh() {
  clearTimeout(timer);
  if (!running) return;
  const status = byId('topology-status');
  try {
    const t = await api('GET', '/v1/admin/topology');
    const svg = /** @type {SVGSVGElement} */ (/** @type {unknown} */ (byId('topology-graph')));
    await renderGraph(svg, t, { selected, onSelect: (n) => void select(n) });
    status.textContent =
      t.nodes.length === 0
        ? 'no blocks deployed: the graph shows blocks and the channels they read and write'
        : `rates over the last ${t.windowMs / 1000} s on this node · updated ${new Date(t.time).toLocaleTimeString()}`;
    status.classList.remove('error');
    // A block's numbers move with every refresh; a channel's messages are read on click (and ↻).
    const node = t.nodes.find((/** @type {any} */ n) => n.id === selected);
    if (node?.kind === 'block') await showBlock(node);
  } catch (err) {
    status.textContent = `topology failed: ${err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)}`;
    status.classList.add('error');
  }
  if (running) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
}

/** @param {any} node */
async function select(node) {
  if (node === undefined) return;
  selected = node.id;
  for (const g of Array.from(document.querySelectorAll('#topology-graph g.node'))) {
    g.classList.toggle('selected', /** @type {SVGGElement} */ (g).dataset.id === selected);
  }
  try {
    if (node.kind === 'block') await showBlock(node);
    else if (node.kind === 'channel') await showChannel(node.name);
    else showPattern(node.name);
  } catch (err) {
    detail(heading(node.name, 'failed'), paragraph(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err), 'error'));
  }
}

/** @param {any} node the block's topology node */
async function showBlock(node) {
  const name = node.name;
  const [blocks, logs, dlq] = await Promise.all([
    api('GET', '/v1/admin/blocks'),
    recentMessages(`$logs.${name}`, RECENT),
    api('GET', `/v1/admin/blocks/${encodeURIComponent(name)}/dlq?limit=${RECENT}`),
  ]);
  if (selected !== node.id) return;
  const info = blocks.blocks.find((/** @type {any} */ b) => b.name === name);
  /** @type {Array<[string, string]>} */
  const rows = [
    ['trigger', triggerText(node.trigger)],
    ['may publish', node.publishes.length === 0 ? '—' : node.publishes.join(', ')],
    ['now', `${rate(node.messagesPerSecond)} invocations, ${rate(node.errorsPerSecond)} errors`],
  ];
  if (node.lag !== undefined) {
    rows.push([
      'lag',
      `${node.lag.pending} pending, ${node.lag.unread} unread` +
        (node.lag.oldestAgeMs === undefined ? '' : `, oldest ${duration(node.lag.oldestAgeMs)} old`),
    ]);
  }
  if (info !== undefined) {
    rows.push(['invocations', `${info.stats.invocations} (${info.stats.errors} failed) · p99 ${info.stats.p99Ms.toFixed(1)} ms`]);
    if (info.stats.lastError !== undefined) rows.push(['last error', `${info.stats.lastError.code}: ${info.stats.lastError.message}`]);
  }
  detail(
    heading(name, `block @${node.version}`),
    facts(rows),
    subheading('Recent logs'),
    list(
      logs.map((/** @type {any} */ m) => {
        const d = m.data;
        return `${new Date(m.time).toLocaleTimeString()} ${d.level ?? ''} ${d.message ?? JSON.stringify(d)}`;
      }),
      `no log lines from ${name} yet`,
      'detail-logs',
    ),
    subheading('Dead letters'),
    list(
      dlq.entries.map((/** @type {any} */ e) => `${e.record.channel}#${e.record.offset} ${e.record.error.code}: ${e.record.error.message}`),
      'none',
      'detail-dlq',
    ),
  );
}

/** @param {string} channel */
async function showChannel(channel) {
  const messages = await recentMessages(channel, RECENT);
  if (selected !== `channel:${channel}`) return;
  const items = messages.map((/** @type {any} */ m) => {
    const li = document.createElement('li');
    li.dataset.offset = String(m.offset);
    li.append(
      `#${m.offset} ${ago(m.time)} ${JSON.stringify(m.data).slice(0, 160)} `,
      button('trace', () => void trace(channel, m.offset), 'trace'),
    );
    return li;
  });
  const ol = document.createElement('ol');
  ol.id = 'detail-messages';
  if (items.length === 0) ol.append(emptyItem('no messages retained'));
  else ol.append(...items);
  detail(
    heading(channel, 'channel'),
    subheading('Recent messages'),
    ol,
    button('↻ reload', () => void showChannel(channel), 'reload'),
  );
}

/** @param {string} pattern */
function showPattern(pattern) {
  detail(
    heading(pattern, 'pattern'),
    paragraph('A pattern blocks are triggered by or may publish to; its channels show as their own nodes once a block writes them.'),
  );
}

/**
 * Shows where a message came from: each step back to the original, with the block version that made
 * it and the time spent.
 * @param {string} channel @param {number} offset
 */
export async function trace(channel, offset) {
  const box = byId('trace');
  box.hidden = false;
  const out = byId('trace-steps');
  byId('trace-title').textContent = `${channel}#${offset}`;
  out.replaceChildren(emptyItem('tracing…'));
  try {
    const t = await api('GET', `/v1/trace/${encodeURIComponent(channel)}/${offset}`);
    out.replaceChildren(
      ...t.steps.map((/** @type {any} */ s, /** @type {number} */ i) => {
        const li = document.createElement('li');
        const made =
          s.block === undefined
            ? i === t.steps.length - 1
              ? 'original'
              : ''
            : `made by ${s.block}${s.version === undefined ? '' : `@${s.version}`}${s.spentMs === undefined ? '' : ` in ${duration(s.spentMs)}`}`;
        li.textContent = `${s.channel}#${s.offset} · ${new Date(s.time).toLocaleTimeString()}${made === '' ? '' : ` · ${made}`}${
          s.data === undefined ? '' : ` · ${JSON.stringify(s.data).slice(0, 160)}`
        }`;
        return li;
      }),
    );
    if (t.truncated === true) out.append(emptyItem('earlier steps are on channels these credentials may not read'));
    // The walk also ends at a parent retention trimmed or a reset removed: say so, as `tributary trace` does.
    if (t.missing !== undefined) {
      out.append(
        emptyItem(`the parent ${t.missing.channel}#${t.missing.offset} is no longer retained (trimmed, or its channel was reset)`),
      );
    }
  } catch (err) {
    out.replaceChildren(emptyItem(`trace failed: ${err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)}`));
  }
}

/**
 * The last `n` retained messages of a channel, newest first (the history API reads forward from an offset).
 * @param {string} channel @param {number} n
 */
async function recentMessages(channel, n) {
  const path = channelPath(channel);
  const head = await api('GET', `${path}/messages?limit=1`);
  const since = Math.max(head.first - 1, head.last - n);
  const page = await api('GET', `${path}/messages?since=${since}&limit=${n}`);
  return page.messages.reverse();
}

/** @param {any} t */
function triggerText(t) {
  if (t.kind === 'beforePublish' || t.kind === 'afterPublish') return `${t.kind} ${t.patterns.join(', ')}`;
  if (t.kind === 'interval') return `every ${t.seconds} s`;
  return t.kind;
}

/** @param {...Node} parts */
function detail(...parts) {
  byId('topology-detail').replaceChildren(...parts);
}

/** @param {string} title @param {string} kind */
function heading(title, kind) {
  const h = document.createElement('h3');
  const small = document.createElement('small');
  small.className = 'muted';
  small.textContent = ` ${kind}`;
  h.append(title, small);
  return h;
}

/** @param {string} text */
function subheading(text) {
  const h = document.createElement('h4');
  h.textContent = text;
  return h;
}

/** @param {string} text @param {string} [cls] */
function paragraph(text, cls) {
  const p = document.createElement('p');
  p.textContent = text;
  if (cls !== undefined) p.className = cls;
  return p;
}

/** @param {Array<[string, string]>} rows */
function facts(rows) {
  const dl = document.createElement('dl');
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
  return dl;
}

/** @param {string[]} lines @param {string} empty @param {string} id */
function list(lines, empty, id) {
  const ol = document.createElement('ol');
  ol.id = id;
  if (lines.length === 0) ol.append(emptyItem(empty));
  for (const line of lines) {
    const li = document.createElement('li');
    li.textContent = line;
    ol.append(li);
  }
  return ol;
}

/** @param {string} text */
function emptyItem(text) {
  const li = document.createElement('li');
  li.className = 'empty muted';
  li.textContent = text;
  return li;
}
