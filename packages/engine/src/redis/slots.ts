/**
 * Redis Cluster hash slots, computed here so the engine can name sharded pub/sub topics that live in
 * a given slot (the append script may only SPUBLISH to topics in the slot of the keys it touches) and
 * route SSUBSCRIBEs to the master that serves a topic's slot. The algorithm is the Cluster spec's:
 * CRC16 (XMODEM) of the hash tag — the text between the first `{` and the next `}`, when not empty —
 * or of the whole name, modulo 16384.
 */

/** Number of hash slots in a Redis Cluster. */
export const SLOT_COUNT = 16384;

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

/** CRC16-XMODEM of the UTF-8 bytes of `text` (the Cluster spec's check value: "123456789" → 0x31c3). */
export function crc16(text: string): number {
  let crc = 0;
  // Channel names are ASCII (protocol rules), so the common case needs no UTF-8 encoding.
  const bytes = /[\u0080-\uffff]/.test(text) ? Buffer.from(text, 'utf8') : undefined;
  const n = bytes === undefined ? text.length : bytes.length;
  for (let i = 0; i < n; i++) {
    const byte = bytes === undefined ? text.charCodeAt(i) : (bytes[i] as number);
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number);
  }
  return crc;
}

/** The hash slot of a key or shard channel name. */
export function slotOf(name: string): number {
  const open = name.indexOf('{');
  if (open >= 0) {
    const close = name.indexOf('}', open + 1);
    if (close > open + 1) return crc16(name.slice(open + 1, close)) % SLOT_COUNT;
  }
  return crc16(name) % SLOT_COUNT;
}

let tags: string[] | undefined;

/**
 * A short hash tag per slot: `slotTag(s)` in braces puts a name in slot `s`. Found once by trying
 * base-36 numbers until every slot has one (about 170,000 CRCs, a few milliseconds).
 */
export function slotTag(slot: number): string {
  if (tags === undefined) {
    const found: string[] = new Array(SLOT_COUNT);
    let missing = SLOT_COUNT;
    for (let i = 0; missing > 0; i++) {
      const tag = i.toString(36);
      const s = crc16(tag) % SLOT_COUNT;
      if (found[s] === undefined) {
        found[s] = tag;
        missing--;
      }
    }
    tags = found;
  }
  return tags[slot] as string;
}
