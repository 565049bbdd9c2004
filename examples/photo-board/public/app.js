// The photo board page: plain browser APIs, no build step. Speaks Tributary's wire protocol
// (docs/PROTOCOL.md) over a bare WebSocket with JSON text frames, and its HTTP API with fetch.
//
// Credentials: in insecure mode (local development) none. With token auth, the page expects a token
// in the URL fragment (#token=…) — a fragment is never sent to a server — with a `publish` grant on
// `$uploads` and `subscribe` on `images.>` (see the README).

const CHANNELS = ['images.results', 'images.errors'];

const token = new URLSearchParams(location.hash.slice(1)).get('token');
if (token !== null) history.replaceState(null, '', location.pathname + location.search);

const statusEl = document.getElementById('status');
const fileInput = document.getElementById('file');
const photosEl = document.getElementById('photos');

/** Cards by blob key: results are matched to uploads by the key the upload token named. */
const cards = new Map();
/** Where this page stands in each channel, so a reconnect resumes with no gap (subscribe `since`). */
const positions = new Map();

function setState(state, text) {
  document.body.dataset.state = state;
  statusEl.textContent = text;
  fileInput.disabled = state !== 'ready';
}

// ---- WebSocket ------------------------------------------------------------------------------

let socket;
let attempt = 0;
let ready;
let markReady;

function connect() {
  ready = new Promise((resolve) => (markReady = resolve));
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token === null ? '' : `?token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(`${scheme}://${location.host}/v1/ws${query}`);
  socket = ws;
  const pending = new Set(CHANNELS);
  ws.addEventListener('message', (ev) => {
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case 'welcome':
        attempt = 0;
        for (const channel of CHANNELS) {
          const since = positions.get(channel);
          ws.send(JSON.stringify({ type: 'subscribe', id: `sub:${channel}`, channel, ...(since === undefined ? {} : { since }) }));
        }
        break;
      case 'subscribed':
        if (!positions.has(frame.channel) || frame.recovered === false)
          positions.set(frame.channel, { offset: frame.offset, epoch: frame.epoch });
        pending.delete(frame.channel);
        if (pending.size === 0) {
          setState('ready', token === null ? 'connected (insecure mode)' : 'connected');
          markReady();
        }
        break;
      case 'message':
        positions.set(frame.channel, { offset: frame.offset, epoch: frame.epoch });
        if (frame.channel === 'images.results') showResults(frame.data);
        else if (frame.channel === 'images.errors') showFailure(frame.data);
        break;
      case 'error':
        if (frame.code === 'UNAUTHORIZED' || frame.code === 'TOKEN_EXPIRED' || frame.code === 'FORBIDDEN') {
          setState('refused', `refused: ${frame.code} — ${frame.message} (open the URL with a fresh #token=…)`);
        } else {
          console.warn('broker error', frame);
        }
        break;
      default:
        break; // unknown frame types are ignored (PROTOCOL.md, Versioning)
    }
  });
  ws.addEventListener('close', (ev) => {
    if (socket !== ws) return;
    if (ev.code === 4001) {
      setState('refused', `refused: ${ev.reason || 'credentials'} (open the URL with a fresh #token=…)`);
      return;
    }
    // Exponential backoff with jitter, capped at 10 s; subscriptions resume from `positions`.
    const delay = Math.min(10_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt++;
    setState('disconnected', `disconnected (${ev.code}); reconnecting…`);
    setTimeout(connect, delay);
  });
}

// ---- uploads --------------------------------------------------------------------------------

async function api(method, path, body, contentType) {
  const headers = {};
  if (token !== null && path === '/v1/uploads') headers.authorization = `Bearer ${token}`;
  if (contentType) headers['content-type'] = contentType;
  const res = await fetch(path, { method, headers, body });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.error ?? {};
    throw new Error(`${e.code ?? res.status}: ${e.message ?? res.statusText}`);
  }
  return json;
}

function card(name) {
  const li = document.createElement('li');
  li.className = 'photo';
  const h = document.createElement('h2');
  h.textContent = name;
  const state = document.createElement('p');
  state.className = 'state';
  const sizes = document.createElement('div');
  sizes.className = 'sizes';
  li.append(h, state, sizes);
  photosEl.prepend(li);
  const set = (s, text) => {
    li.dataset.state = s;
    state.textContent = text;
  };
  return { li, sizes, set };
}

async function upload(file) {
  const c = card(file.name);
  c.set('uploading', 'requesting an upload token…');
  try {
    await ready;
    const grant = await api('POST', '/v1/uploads', '{}', 'application/json');
    if (file.size > grant.maxBytes) throw new Error(`TOO_LARGE: ${file.size} bytes; the limit is ${grant.maxBytes}`);
    // Registered before the PUT: the block's result can arrive before the PUT's response does.
    c.li.dataset.key = grant.key;
    cards.set(grant.key, c);
    c.set('uploading', `uploading ${(file.size / 1024).toFixed(0)} KiB…`);
    // The declared type must agree with the sniffed one; an empty type (unknown to the browser) is left out.
    await api(grant.method, grant.uploadUrl, file, file.type || undefined);
    if (c.li.dataset.state === 'uploading') c.set('transforming', 'uploaded; waiting for the sizes…');
  } catch (err) {
    c.set('failed', `failed: ${err.message}`);
  }
}

function showResults(data) {
  const c = cards.get(data.key);
  if (c === undefined) return; // someone else's upload
  c.sizes.replaceChildren(
    ...data.results.map((r) => {
      const fig = document.createElement('figure');
      const img = document.createElement('img');
      img.alt = `${r.name} of ${data.key}`;
      img.dataset.name = r.name;
      img.dataset.width = String(r.width);
      img.dataset.height = String(r.height);
      img.src = r.url;
      const cap = document.createElement('figcaption');
      cap.textContent = `${r.name}: ${r.width}×${r.height} ${r.format}, ${(r.bytes / 1024).toFixed(1)} KiB`;
      fig.append(img, cap);
      return fig;
    }),
  );
  c.set('done', `${data.results.length} sizes from ${(data.source.bytes / 1024).toFixed(0)} KiB`);
}

function showFailure(data) {
  const c = data.key === null ? undefined : cards.get(data.key);
  if (c !== undefined) c.set('failed', `failed: ${data.error.code}: ${data.error.message}`);
}

fileInput.addEventListener('change', () => {
  for (const file of fileInput.files) void upload(file);
  fileInput.value = '';
});

connect();
