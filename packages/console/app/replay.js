// @ts-check
// "Try on last N messages" in the deploy box: POST /v1/admin/replay runs the source in the
// production sandbox over a channel's retained history, without deploying it or writing anywhere,
// and the console shows what it would publish beside what the deployed version did publish.
import { api, ApiError, channelPath } from './api.js';
import { byId, input } from './dom.js';

/**
 * Runs the replay and renders the diff into #replay-result.
 * @param {{ source: string, config: unknown, from: string, limit: number }} request
 */
export async function tryOnLast(request) {
  const out = byId('replay-result');
  const summary = byId('replay-summary');
  out.replaceChildren();
  summary.textContent = `running on the last ${request.limit} messages of ${request.from}…`;
  summary.classList.remove('error');
  try {
    // The last N: start after the offset N before the newest (since is exclusive, as for history).
    const head = await api('GET', `${channelPath(request.from)}/messages?limit=1`);
    const since = Math.max(head.first - 1, head.last - request.limit);
    const r = await api('POST', '/v1/admin/replay', {
      source: request.source,
      config: request.config,
      from: request.from,
      since: String(since),
      limit: request.limit,
    });
    summary.textContent =
      `${r.block}@${r.version} · messages in: ${r.summary.inputs} · it would publish: ${r.summary.outputs} · ` +
      `differing from the deployed version: ${r.summary.differing}`;
    out.replaceChildren(...r.results.map(row));
  } catch (err) {
    summary.textContent = `replay failed: ${err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)}`;
    summary.classList.add('error');
  }
}

/** One input and both sides' outputs. @param {any} result */
function row(result) {
  const tr = document.createElement('tr');
  tr.className = result.same ? 'same' : 'differs';
  tr.dataset.offset = String(result.input.offset);
  const cells = [
    `${result.input.channel}#${result.input.offset} ${short(result.input.data)}`,
    outputs(result.outputs, (/** @type {any} */ o) => `${o.channel} ${short(o.data)}`),
    outputs(result.deployed, (/** @type {any} */ o) => `${o.channel}#${o.offset} ${short(o.data)}`),
    result.same ? 'same' : 'differs',
  ];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

/** @param {any[]} list @param {(o: any) => string} fmt */
function outputs(list, fmt) {
  return list.length === 0 ? '—' : list.map(fmt).join('\n');
}

/** @param {unknown} data */
function short(data) {
  const s = JSON.stringify(data) ?? '';
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}

/** The replay form's inputs, checked; a string says what is wrong. @returns {{ from: string, limit: number } | string} */
export function replayInputs() {
  const from = input('replay-from').value.trim();
  const limit = Number(input('replay-limit').value);
  if (from === '') return 'name the channel to replay (e.g. sensors.kitchen)';
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return 'N must be an integer from 1 to 1000';
  return { from, limit };
}
