// @ts-check
// Small DOM helpers. Data (channel names, messages, errors) only ever goes in through textContent.

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing`);
  return el;
}

/** @param {string} id @returns {HTMLInputElement} */
export function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

/** @param {string} id @returns {HTMLTextAreaElement} */
export function textarea(id) {
  return /** @type {HTMLTextAreaElement} */ (byId(id));
}

/** @param {string} id @returns {HTMLTableSectionElement} */
export function tbody(id) {
  const el = byId(id).querySelector('tbody');
  if (el === null) throw new Error(`#${id} tbody missing`);
  return el;
}

/**
 * @param {string} label @param {(ev: MouseEvent) => void} onClick @param {string} [name]
 * @returns {HTMLButtonElement}
 */
export function button(label, onClick, name) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (name !== undefined) b.name = name;
  b.addEventListener('click', onClick);
  return b;
}

/**
 * @typedef {{ text: string, num?: boolean } | HTMLElement} Cell
 */

/**
 * Renders rows keyed by `key`, reusing each row's element between refreshes so a click on a button
 * is not lost to a re-render, and touching a cell only when its text changed.
 * @template T
 * @param {HTMLTableSectionElement} body
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(item: T) => Cell[]} cells
 * @param {(row: HTMLTableRowElement, item: T) => void} [decorate]
 */
export function renderRows(body, items, key, cells, decorate) {
  /** @type {Map<string, HTMLTableRowElement>} */
  const old = new Map();
  for (const tr of Array.from(body.rows)) old.set(tr.dataset.key ?? '', tr);
  let i = 0;
  for (const item of items) {
    const k = key(item);
    let tr = old.get(k);
    old.delete(k);
    const values = cells(item);
    if (tr === undefined) {
      tr = document.createElement('tr');
      tr.dataset.key = k;
      for (const v of values) {
        const td = document.createElement('td');
        if (v instanceof HTMLElement) td.append(v);
        else td.classList.toggle('num', v.num === true);
        tr.append(td);
      }
    }
    values.forEach((v, j) => {
      const td = tr?.cells[j];
      if (td !== undefined && !(v instanceof HTMLElement) && td.textContent !== v.text) td.textContent = v.text;
    });
    decorate?.(tr, item);
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] ?? null);
    i++;
  }
  for (const tr of old.values()) tr.remove();
}

/** @param {number} ms */
export function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : new Date(ms).toLocaleString();
}
