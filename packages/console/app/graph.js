// @ts-check
// The topology graph: laid out by dagre (served by the console route from node_modules, see
// CONSOLE_VENDOR in src/index.ts), drawn as SVG. Names and numbers only go in through textContent.

const SVG = 'http://www.w3.org/2000/svg';
/** A path, not a literal specifier: the file exists only under the console route, not beside this one. */
const DAGRE_URL = './vendor/dagre.js';
/** @type {Promise<typeof import('@dagrejs/dagre')> | undefined} */
let dagreModule;

/** @param {string} name @param {Record<string, string | number>} [attrs] */
function el(name, attrs = {}) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Events per second, short: 0/s, <0.01/s, 0.42/s, 3.1/s, 120/s. @param {number} r */
export function rate(r) {
  if (r === 0) return '0/s';
  if (r < 0.01) return '<0.01/s';
  if (r < 0.1) return `${r.toFixed(2)}/s`;
  if (r < 10) return `${r.toFixed(1)}/s`;
  return `${Math.round(r)}/s`;
}

/** @param {number} ms */
export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** What an edge says on the graph. @param {any} e */
export function edgeLabel(e) {
  if (e.kind === 'grant') return 'may publish';
  const parts = [rate(e.messagesPerSecond)];
  if (e.errorsPerSecond > 0) parts.push(`${rate(e.errorsPerSecond)} err`);
  if (e.lag !== undefined && e.lag.pending + e.lag.unread > 0) {
    parts.push(`lag ${e.lag.pending + e.lag.unread}${e.lag.oldestAgeMs === undefined ? '' : ` (${duration(e.lag.oldestAgeMs)})`}`);
  }
  return parts.join(' · ');
}

/** The lines a node shows. @param {any} n @returns {string[]} */
function nodeLines(n) {
  if (n.kind !== 'block') return [n.name];
  const second = [rate(n.messagesPerSecond)];
  if (n.errorsPerSecond > 0) second.push(`${rate(n.errorsPerSecond)} err`);
  return [n.name, second.join(' · ')];
}

/** Rough text width at the graph's 12 px font, for the layout (the SVG measures nothing before it is drawn). @param {string} s */
function textWidth(s) {
  return s.length * 7 + 4;
}

/** Pixels a node's or label's box grows by past what it needs when it must grow: the next digit of a rate fits. */
const SLACK = 40;

/**
 * The last layout and the box widths it was made with. Rates change every refresh, and with them the
 * width of labels and block nodes; laid out anew, every node downstream moved, and dagre took seconds
 * of the page's thread on a large graph. So a layout is reused while the graph has the same nodes and
 * edges and every box still holds its text; a box that must grow grows with some slack, and a box
 * never shrinks while the shape stays.
 * @type {{ shape: string, nodes: Map<string, number>, edges: Map<string, number>, g: any } | undefined}
 */
let last;

/**
 * Draws `topology` (GET /v1/admin/topology) into `svg`. Node elements are kept between refreshes
 * (keyed by id, as the tables' rows are), so a click is not lost to a redraw.
 * @param {SVGSVGElement} svg
 * @param {any} topology
 * @param {{ selected: string | undefined, onSelect: (node: any) => void }} options
 */
export async function renderGraph(svg, topology, options) {
  dagreModule ??= import(DAGRE_URL);
  const { Graph, layout } = await dagreModule;
  const shape = JSON.stringify([topology.nodes.map((/** @type {any} */ n) => n.id), topology.edges.map((/** @type {any} */ e) => e.id)]);
  /** @type {Map<string, number>} */
  const nodeWidths = new Map(topology.nodes.map((/** @type {any} */ n) => [n.id, Math.max(80, ...nodeLines(n).map(textWidth)) + 20]));
  /** @type {Map<string, number>} */
  const edgeWidths = new Map(topology.edges.map((/** @type {any} */ e) => [e.id, textWidth(edgeLabel(e))]));
  const before = last?.shape === shape ? last : undefined;
  /** @param {Map<string, number>} need @param {Map<string, number> | undefined} had */
  const fits = (need, had) => had !== undefined && [...need].every(([id, w]) => w <= (had.get(id) ?? 0));
  if (before === undefined || !fits(nodeWidths, before.nodes) || !fits(edgeWidths, before.edges)) {
    /** @param {Map<string, number>} need @param {Map<string, number> | undefined} had */
    const boxes = (need, had) =>
      new Map([...need].map(([id, w]) => [id, had === undefined ? w : Math.max(had.get(id) ?? 0, w > (had.get(id) ?? 0) ? w + SLACK : 0)]));
    const nodes = boxes(nodeWidths, before?.nodes);
    const edges = boxes(edgeWidths, before?.edges);
    const fresh = new Graph({ multigraph: true });
    fresh.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 40, edgesep: 10, marginx: 8, marginy: 8 });
    for (const n of topology.nodes) fresh.setNode(n.id, { width: nodes.get(n.id), height: 14 + nodeLines(n).length * 16 });
    for (const e of topology.edges) fresh.setEdge(e.from, e.to, { width: edges.get(e.id), height: 14, labelpos: 'c' }, e.id);
    layout(fresh);
    last = { shape, nodes, edges, g: fresh };
  }
  const g = /** @type {NonNullable<typeof last>} */ (last).g;
  const size = g.graph();
  const width = Math.max(200, size.width ?? 0);
  const height = Math.max(60, size.height ?? 0);
  // Scaled down to the box's width (CSS: width 100%, height from the viewBox), never up past its
  // natural size. CSSOM, not a style attribute: the console's CSP allows no inline styles.
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.style.maxWidth = `${width}px`;

  if (svg.querySelector('defs') === null) {
    const defs = el('defs');
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' });
    marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
    defs.append(marker);
    svg.append(defs);
  }
  const edgeLayer = layer(svg, 'edges');
  const nodeLayer = layer(svg, 'nodes');

  // Edges carry nothing to click: redrawn whole.
  edgeLayer.replaceChildren(
    ...topology.edges.map((/** @type {any} */ e) => {
      const laid = g.edge({ v: e.from, w: e.to, name: e.id });
      const group = el('g', {
        class: `edge ${e.kind}${e.messagesPerSecond > 0 ? ' active' : ''}${e.errorsPerSecond > 0 ? ' failing' : ''}`,
      });
      group.dataset.id = e.id;
      group.dataset.rate = String(e.messagesPerSecond);
      /** @type {Array<{ x: number, y: number }>} */
      const points = laid.points ?? [];
      const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
      group.append(el('path', { d, 'marker-end': 'url(#arrow)' }));
      const text = el('text', { x: laid.x ?? 0, y: (laid.y ?? 0) + 4, 'text-anchor': 'middle' });
      text.textContent = edgeLabel(e);
      group.append(text);
      return group;
    }),
  );

  /** @type {Map<string, SVGGElement>} */
  const old = new Map();
  for (const n of Array.from(nodeLayer.children)) old.set(/** @type {SVGGElement} */ (n).dataset.id ?? '', /** @type {SVGGElement} */ (n));
  for (const n of topology.nodes) {
    const laid = g.node(n.id);
    let group = old.get(n.id);
    old.delete(n.id);
    if (group === undefined) {
      const made = /** @type {SVGGElement} */ (el('g'));
      made.dataset.id = n.id;
      made.setAttribute('tabindex', '0');
      made.setAttribute('role', 'button');
      made.append(el('rect'));
      made.addEventListener('click', () => options.onSelect(currentOf(made)));
      made.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') options.onSelect(currentOf(made));
      });
      nodeLayer.append(made);
      group = made;
    }
    nodes.set(group, n);
    group.setAttribute('class', `node ${n.kind}${n.id === options.selected ? ' selected' : ''}`);
    group.setAttribute('transform', `translate(${(laid.x - laid.width / 2).toFixed(1)},${(laid.y - laid.height / 2).toFixed(1)})`);
    const rect = /** @type {SVGRectElement} */ (group.querySelector('rect'));
    for (const [k, v] of Object.entries({ width: laid.width, height: laid.height, rx: n.kind === 'block' ? 4 : laid.height / 2 })) {
      rect.setAttribute(k, String(v));
    }
    const lines = nodeLines(n);
    /** @type {SVGElement[]} */
    const texts = Array.from(group.querySelectorAll('text'));
    const owner = group;
    lines.forEach((line, i) => {
      let t = texts[i];
      if (t === undefined) {
        t = el('text', { 'text-anchor': 'middle' });
        owner.append(t);
      }
      t.setAttribute('x', String(laid.width / 2));
      t.setAttribute('y', String(20 + i * 16));
      t.setAttribute('class', i === 0 ? 'name' : 'stat');
      if (t.textContent !== line) t.textContent = line;
    });
    for (const t of texts.slice(lines.length)) t.remove();
  }
  for (const gone of old.values()) gone.remove();
}

/** The node each element stands for as of the last draw. @type {WeakMap<SVGGElement, any>} */
const nodes = new WeakMap();
/** @param {SVGGElement} group */
function currentOf(group) {
  return nodes.get(group);
}

/** @param {SVGSVGElement} svg @param {string} name @returns {SVGGElement} */
function layer(svg, name) {
  let g = /** @type {SVGGElement | null} */ (svg.querySelector(`g.${name}`));
  if (g === null) {
    g = /** @type {SVGGElement} */ (el('g', { class: name }));
    svg.append(g);
  }
  return g;
}
