import type { Entry } from '../types.js';
import type { RawEntry } from './client.js';

/** A stream entry (XRANGE reply item) as an {@link Entry}. */
export function decodeEntry(channel: string, epoch: string, raw: RawEntry): Entry {
  const [id, fields] = raw;
  const entry: Entry = { channel, offset: Number.parseInt(id, 10), epoch, time: 0, payload: '' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const value = fields[i + 1] as string;
    switch (fields[i]) {
      case 'payload':
        entry.payload = value;
        break;
      case 'time':
        entry.time = Number(value);
        break;
      case 'msgId':
        entry.msgId = value;
        break;
      case 'hops':
        entry.hops = Number(value);
        break;
      case 'meta':
        entry.meta = value;
        break;
    }
  }
  return entry;
}

/** The header line of an append notification, as the append script writes it (strings only). */
interface NotificationHeader {
  e: string;
  o: string;
  t: string;
  i?: string;
  h?: string;
  m?: string;
}

/**
 * An append notification (`<JSON header>\n<payload>`) as an {@link Entry}, or undefined when it is
 * not one (a foreign publisher on our topic): the payload is not re-encoded, so a 64 KiB message
 * costs one small JSON.parse.
 */
export function decodeNotification(channel: string, raw: string): Entry | undefined {
  const nl = raw.indexOf('\n');
  if (nl < 0) return undefined;
  const plain = decodePlainHeader(channel, raw, nl);
  if (plain !== undefined) return plain;
  let h: NotificationHeader;
  try {
    h = JSON.parse(raw.slice(0, nl)) as NotificationHeader;
  } catch {
    return undefined;
  }
  if (typeof h.e !== 'string' || typeof h.o !== 'string' || typeof h.t !== 'string') return undefined;
  const entry: Entry = { channel, offset: Number(h.o), epoch: h.e, time: Number(h.t), payload: raw.slice(nl + 1) };
  if (typeof h.i === 'string') entry.msgId = h.i;
  if (typeof h.h === 'string') entry.hops = Number(h.h);
  if (typeof h.m === 'string') entry.meta = h.m;
  return entry;
}

const E = '{"e":"';
const O = '","o":"';
const T = '","t":"';

/**
 * The header most notifications have, `{"e":"<epoch>","o":"<digits>","t":"<digits>"}` (no msgId,
 * hops or meta), read with a few indexOf instead of JSON.parse and its object: one per delivered
 * entry on every node. Anything else (more fields, an escape in the epoch) is undefined, and
 * {@link decodeNotification} parses it as JSON.
 */
function decodePlainHeader(channel: string, raw: string, nl: number): Entry | undefined {
  if (!raw.startsWith(E) || raw.charCodeAt(nl - 1) !== 0x7d || raw.charCodeAt(nl - 2) !== 0x22) return undefined;
  const o = raw.indexOf(O, E.length);
  if (o < 0 || o > nl) return undefined;
  const t = raw.indexOf(T, o + O.length);
  if (t < 0 || t > nl) return undefined;
  const epoch = raw.slice(E.length, o);
  if (epoch.includes('"') || epoch.includes('\\')) return undefined;
  if (!digits(raw, o + O.length, t) || !digits(raw, t + T.length, nl - 2)) return undefined;
  return {
    channel,
    offset: Number(raw.slice(o + O.length, t)),
    epoch,
    time: Number(raw.slice(t + T.length, nl - 2)),
    payload: raw.slice(nl + 1),
  };
}

/** True when raw[from, to) is one or more ASCII digits. */
function digits(raw: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * A sharded notification (`<channel>\n<JSON header>\n<payload>`: a Cluster's topics all carry the
 * channel, since a pattern feed's topic cannot name it) split into the channel and the rest, which
 * {@link decodeNotification} reads; undefined when it has no channel line. Finding the channel costs
 * one indexOf, so a feed message for a channel no pattern here matches is dropped without parsing.
 */
export function splitChannelLine(raw: string): [channel: string, rest: string] | undefined {
  const nl = raw.indexOf('\n');
  return nl > 0 ? [raw.slice(0, nl), raw.slice(nl + 1)] : undefined;
}
