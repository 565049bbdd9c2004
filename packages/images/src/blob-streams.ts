import { Readable } from 'node:stream';
import type { BlobInfo, BlobStore, BlobStream, PutStreamOptions } from './blobs.js';
import { clampRange, exactly, type ByteRange } from './stream-bounds.js';

/** `store.putStream`, or for a store without it, the body collected and `put`. */
export async function putStreamTo(
  store: BlobStore,
  key: string,
  body: AsyncIterable<Uint8Array>,
  contentType: string,
  options: PutStreamOptions = {},
): Promise<BlobInfo> {
  if (store.putStream !== undefined) return store.putStream(key, body, contentType, options);
  const chunks: Buffer[] = [];
  for await (const c of exactly(body, options.bytes)) chunks.push(Buffer.from(c));
  return store.put(key, Buffer.concat(chunks), contentType);
}

/** `store.stream`, or for a store without it, the object read with `get` and sliced. */
export async function openBlob(store: BlobStore, key: string, range?: ByteRange): Promise<BlobStream | undefined> {
  if (store.stream !== undefined) return store.stream(key, range);
  const obj = await store.get(key);
  if (obj === undefined) return undefined;
  const r = clampRange(range, obj.info.bytes);
  return { info: obj.info, body: Readable.from([obj.data.subarray(r.start, r.end + 1)]), range: r };
}
