import { createHash } from 'node:crypto';

/**
 * The epoch of a channel that holds no state: never written, or its history expired. Reads report
 * it without storing anything (so reading a million unused names costs no memory), and the first
 * append adopts it, so a subscriber told this epoch before the first message resumes without a
 * false gap.
 *
 * It must still differ from every epoch the channel had before, or a client holding (epoch, offset)
 * from an earlier life would resume into offsets that restarted at 1:
 * - `salt` is random per process, so a restart (which loses a memory engine's logs) changes it;
 * - `bucketMs` must not exceed the idle time after which a history expires, so an expiry always
 *   lands in a later bucket than the append that created the lost epoch.
 * A reader straddling a bucket boundary before the first append sees the epoch change: it is told
 * `recovered: false`, a false alarm in the safe direction.
 */
export function unwrittenEpoch(salt: string, channel: string, now: number, bucketMs: number): string {
  return createHash('sha1')
    .update(`${salt}\0${Math.floor(now / bucketMs)}\0${channel}`)
    .digest('hex')
    .slice(0, 10);
}
