// @ts-check
import { api, ApiError, channelPath, secret, setSecret, watch } from './api.js';
import { ago, button, byId, input, renderRows, tbody, textarea } from './dom.js';
import { replayInputs, tryOnLast } from './replay.js';
import { startTopology, stopTopology } from './topology.js';

const REFRESH_MS = 1500;
/** @type {string | undefined} the block whose logs are shown */
let logsBlock;
/** @type {(() => void) | undefined} */
let stopWatch;
let timer = 0;

/** Shows the login form, or the console when the stored secret (or insecure mode) opens the API. */
async function boot() {
  try {
    await api('GET', '/v1/admin/overview');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return showLogin(secret() === '' ? '' : err.message);
    return showLogin(String(err));
  }
  byId('login').hidden = true;
  byId('main').hidden = false;
  byId('logout').hidden = secret() === '';
  void refresh();
  startTopology();
}

/** @param {string} error */
function showLogin(error) {
  byId('main').hidden = true;
  byId('login').hidden = false;
  byId('login-error').textContent = error;
  input('secret').focus();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [overview, channels, blocks] = await Promise.all([
      api('GET', '/v1/admin/overview'),
      api('GET', '/v1/admin/channels'),
      api('GET', '/v1/admin/blocks'),
    ]);
    renderOverview(overview);
    renderChannels(channels);
    renderBlocks(blocks.blocks);
    const dlqs = await Promise.all(
      blocks.blocks.map((/** @type {any} */ b) => api('GET', `/v1/admin/blocks/${encodeURIComponent(b.name)}/dlq?limit=50`)),
    );
    renderDeadLetters(dlqs.flatMap((d) => d.entries.map((/** @type {any} */ e) => ({ block: d.block, ...e }))));
    // A block removed meanwhile is not shown any more: fall back to the first one, or to none.
    if (!blocks.blocks.some((/** @type {any} */ b) => b.name === logsBlock)) logsBlock = blocks.blocks[0]?.name;
    if (logsBlock !== undefined) await renderLogs(logsBlock);
    else renderNoLogs('', 'no blocks deployed: deploy one to see its logs here');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      stopTopology();
      return showLogin(err.message);
    }
    byId('overview').textContent = `refresh failed: ${String(err)}`;
  }
  timer = window.setTimeout(() => void refresh(), REFRESH_MS);
}

/** @param {any} o */
function renderOverview(o) {
  byId('overview').textContent =
    `node ${o.node} · engine ${o.engine} · ${o.connections} connections · ` +
    `${o.subscriptions} subscribed channels/patterns · up ${Math.round(o.uptimeMs / 1000)} s${o.insecure ? ' · INSECURE' : ''}`;
}

/** @param {any} c */
function renderChannels(c) {
  const showSystem = input('show-system').checked;
  const rows = c.channels.filter((/** @type {any} */ r) => showSystem || !r.system);
  renderRows(
    tbody('channels'),
    rows,
    (r) => r.channel,
    (r) => [
      { text: r.channel },
      { text: r.ratePerSec.toFixed(1), num: true },
      { text: String(r.subscribers), num: true },
      { text: r.lastOffset === null ? '—' : String(r.lastOffset), num: true },
      { text: r.lastTime === null ? '—' : ago(r.lastTime) },
    ],
    (tr, r) => tr.classList.toggle('system', r.system),
  );
  byId('patterns').textContent =
    c.patterns.length === 0
      ? ''
      : `pattern subscriptions: ${c.patterns.map((/** @type {any} */ p) => `${p.pattern} (${p.subscribers})`).join(', ')}`;
}

/** @param {any[]} blocks */
function renderBlocks(blocks) {
  renderRows(
    tbody('blocks'),
    blocks,
    (b) => b.name,
    (b) => [
      { text: b.name },
      { text: b.version },
      { text: triggerText(b.trigger) },
      { text: String(b.stats.invocations), num: true },
      { text: String(b.stats.errors), num: true },
      { text: b.stats.p99Ms.toFixed(1), num: true },
      { text: b.stats.lastError === undefined ? '' : `${b.stats.lastError.code}: ${b.stats.lastError.message}` },
      button(
        'logs',
        () => {
          logsBlock = b.name;
          void refresh();
        },
        'logs',
      ),
    ],
    (tr, b) => tr.classList.toggle('selected', b.name === logsBlock),
  );
}

/** @param {any} t */
function triggerText(t) {
  if (t.kind === 'beforePublish' || t.kind === 'afterPublish') return `${t.kind} ${t.patterns.join(', ')}`;
  if (t.kind === 'interval') return `every ${t.seconds} s`;
  return t.kind;
}

/** @param {string} block */
async function renderLogs(block) {
  byId('logs-block').textContent = block;
  const path = channelPath(`$logs.${block}`);
  const head = await api('GET', `${path}/messages?limit=1`);
  const since = Math.max(head.first - 1, head.last - 20);
  const page = await api('GET', `${path}/messages?since=${since}&limit=20`);
  if (page.messages.length === 0) return renderNoLogs(block, `no log lines from ${block} yet (it logs with ctx.log)`);
  const list = byId('log-lines');
  list.replaceChildren(
    ...page.messages.reverse().map((/** @type {any} */ m) => {
      const li = document.createElement('li');
      const d = m.data;
      li.textContent =
        `${new Date(m.time).toLocaleTimeString()} ${d.level ?? ''} ${d.message ?? JSON.stringify(d)}` +
        (d.fields === undefined ? '' : ` ${JSON.stringify(d.fields)}`);
      return li;
    }),
  );
}

/**
 * The logs box's empty state: one muted line saying why there is nothing to show.
 * @param {string} block @param {string} text
 */
function renderNoLogs(block, text) {
  byId('logs-block').textContent = block;
  const li = document.createElement('li');
  li.className = 'empty muted';
  li.textContent = text;
  byId('log-lines').replaceChildren(li);
}

/** @param {any[]} entries */
function renderDeadLetters(entries) {
  renderRows(
    tbody('dlq'),
    entries,
    (e) => `${e.block}:${e.epoch}:${e.offset}`,
    (e) => [
      { text: e.block },
      { text: String(e.offset), num: true },
      { text: `${e.record.channel}#${e.record.offset} ${JSON.stringify(e.record.data).slice(0, 120)}` },
      { text: `${e.record.error.code}: ${e.record.error.message}` },
      { text: String(e.record.attempts), num: true },
      { text: ago(e.record.failedAt) },
      actions(e),
    ],
  );
}

/** @param {any} e */
function actions(e) {
  const span = document.createElement('span');
  const base = `/v1/admin/blocks/${encodeURIComponent(e.block)}/dlq/${e.offset}`;
  /** @param {'replay' | 'drop'} what */
  const act = (what) => async () => {
    const out = byId('dlq-result');
    try {
      await api('POST', `${base}/${what}`);
      out.textContent = `${what === 'replay' ? 'replayed' : 'dropped'} ${e.block} #${e.offset}`;
    } catch (err) {
      out.textContent = `${what} of ${e.block} #${e.offset} failed: ${err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)}`;
    }
    void refresh();
  };
  span.append(button('replay', act('replay'), 'replay'), ' ', button('drop', act('drop'), 'drop'));
  return span;
}

byId('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  setSecret(input('secret').value);
  input('secret').value = '';
  void boot();
});

byId('logout').addEventListener('click', () => {
  setSecret('');
  stopWatch?.();
  clearTimeout(timer);
  stopTopology();
  showLogin('');
});

byId('show-system').addEventListener('change', () => void refresh());

byId('publish').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = byId('publish-result');
  const channel = input('publish-channel').value.trim();
  let data;
  try {
    data = JSON.parse(textarea('publish-data').value);
  } catch {
    out.textContent = 'data is not valid JSON';
    return;
  }
  try {
    const r = await api('POST', `${channelPath(channel)}/messages`, { data });
    out.textContent = `stored on ${r.channel} at offset ${r.offset}`;
    void refresh();
  } catch (err) {
    out.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  }
});

byId('watch').addEventListener('submit', (ev) => {
  ev.preventDefault();
  stopWatch?.();
  const stream = byId('stream');
  stream.replaceChildren();
  const status = byId('watch-status');
  status.textContent = 'connecting…';
  stopWatch = watch(input('watch-channel').value.trim(), {
    onMessage(frame) {
      const li = document.createElement('li');
      li.textContent = `${frame.channel}#${frame.offset} ${JSON.stringify(frame.data)}`;
      stream.prepend(li);
      while (stream.childElementCount > 100) stream.lastElementChild?.remove();
    },
    onStatus(text, isError) {
      status.textContent = text;
      status.classList.toggle('error', isError === true);
    },
  });
});

byId('watch-stop').addEventListener('click', () => {
  stopWatch?.();
  stopWatch = undefined;
  byId('watch-status').textContent = 'stopped';
});

/** The deploy box's config as JSON, or undefined after saying why it is not. @returns {unknown} */
function deployConfig() {
  const configText = input('deploy-config').value.trim();
  try {
    return configText === '' ? {} : JSON.parse(configText);
  } catch {
    byId('deploy-result').textContent = 'config is not valid JSON';
    return undefined;
  }
}

byId('replay-try').addEventListener('click', () => {
  const config = deployConfig();
  if (config === undefined) return;
  const what = replayInputs();
  if (typeof what === 'string') {
    byId('replay-summary').textContent = what;
    return;
  }
  void tryOnLast({ source: textarea('deploy-source').value, config, ...what });
});

byId('deploy').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = byId('deploy-result');
  const config = deployConfig();
  if (config === undefined) return;
  out.textContent = 'deploying…';
  try {
    const info = await api('POST', '/v1/admin/blocks', { source: textarea('deploy-source').value, config });
    out.textContent = `deployed ${info.name}@${info.version}`;
    void refresh();
  } catch (err) {
    out.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  }
});

void boot();
