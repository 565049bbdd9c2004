/**
 * Patterns indexed by segment, as NATS's sublist does: a trie over dot-separated segments whose
 * edges are literal segments or `*`, and whose nodes hold the values of patterns ending there (or
 * ending there followed by `>`). Matching a channel walks only the branches its segments can take,
 * so its cost grows with the channel's depth and the patterns that match, never with the number of
 * patterns that do not: one follower of ten thousand patterns cannot slow down an unrelated channel.
 *
 * Semantics are exactly `compilePattern`'s from @tributary/protocol: `*` is one segment, `>` (only
 * as the last segment) one or more trailing segments, and a wildcard never matches a `$` system
 * channel unless the pattern's first segment starts with `$`. A `>` that is not last is literal.
 */
export class SegmentIndex<T> {
  readonly #root: TrieNode<T> = new TrieNode();
  #size = 0;

  /** How many distinct patterns hold at least one value. */
  get size(): number {
    return this.#size;
  }

  /** True when `pattern` holds at least one value. */
  has(pattern: string): boolean {
    const { path, tail } = parse(pattern);
    let node: TrieNode<T> | undefined = this.#root;
    for (const seg of path) node = node?.child(seg);
    return (tail ? node?.tail : node?.end) !== undefined;
  }

  /** Adds `value` under `pattern` (a value may be added under several patterns). */
  add(pattern: string, value: T): void {
    const { path, tail } = parse(pattern);
    let node = this.#root;
    for (const seg of path) node = node.childOrNew(seg);
    const key = tail ? 'tail' : 'end';
    const set = (node[key] ??= new Set());
    if (set.size === 0) this.#size++;
    set.add(value);
  }

  /** Removes `value` from under `pattern`; true when it was there. Empty branches are pruned. */
  delete(pattern: string, value: T): boolean {
    const { path, tail } = parse(pattern);
    const trail: TrieNode<T>[] = [this.#root];
    for (const seg of path) {
      const next = trail[trail.length - 1]?.child(seg);
      if (next === undefined) return false;
      trail.push(next);
    }
    const node = trail[trail.length - 1] as TrieNode<T>;
    const key = tail ? 'tail' : 'end';
    if (node[key]?.delete(value) !== true) return false;
    if (node[key].size === 0) {
      node[key] = undefined;
      this.#size--;
    }
    for (let i = path.length; i > 0; i--) {
      if (!(trail[i] as TrieNode<T>).empty) break;
      (trail[i - 1] as TrieNode<T>).unlink(path[i - 1] as string);
    }
    return true;
  }

  /**
   * Calls `visit` for every value whose pattern matches `channel` (once per pattern it is under).
   * Returns how many trie nodes were visited: the work done, for tests and metrics.
   */
  match(channel: string, visit: (value: T) => void): number {
    const segs = channel.split('.');
    // A wildcard at the root would let a non-`$` pattern see a system channel.
    const system = channel.startsWith('$');
    return walk(this.#root, segs, 0, system, visit);
  }
}

class TrieNode<T> {
  literal: Map<string, TrieNode<T>> | undefined;
  star: TrieNode<T> | undefined;
  /** Values of the pattern that ends at this node. */
  end: Set<T> | undefined;
  /** Values of the pattern that is this node's path followed by `>`. */
  tail: Set<T> | undefined;

  get empty(): boolean {
    return this.end === undefined && this.tail === undefined && this.star === undefined && (this.literal?.size ?? 0) === 0;
  }

  child(seg: string): TrieNode<T> | undefined {
    return seg === '*' ? this.star : this.literal?.get(seg);
  }

  childOrNew(seg: string): TrieNode<T> {
    if (seg === '*') return (this.star ??= new TrieNode());
    this.literal ??= new Map();
    let n = this.literal.get(seg);
    if (n === undefined) this.literal.set(seg, (n = new TrieNode()));
    return n;
  }

  unlink(seg: string): void {
    if (seg === '*') this.star = undefined;
    else this.literal?.delete(seg);
  }
}

function walk<T>(node: TrieNode<T>, segs: string[], i: number, system: boolean, visit: (value: T) => void): number {
  let visited = 1;
  if (i === segs.length) {
    if (node.end !== undefined) for (const v of node.end) visit(v);
    return visited;
  }
  const wild = !(system && i === 0);
  // At least one segment remains here, which is all `>` needs.
  if (wild && node.tail !== undefined) for (const v of node.tail) visit(v);
  const lit = node.literal?.get(segs[i] as string);
  if (lit !== undefined) visited += walk(lit, segs, i + 1, system, visit);
  if (wild && node.star !== undefined) visited += walk(node.star, segs, i + 1, system, visit);
  return visited;
}

/** The trie path of a pattern: its segments, and whether a trailing `>` follows them. */
function parse(pattern: string): { path: string[]; tail: boolean } {
  const path = pattern.split('.');
  const tail = path[path.length - 1] === '>';
  if (tail) path.pop();
  return { path, tail };
}
