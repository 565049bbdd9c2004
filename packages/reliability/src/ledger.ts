import type { Message, RecoveryInfo } from '@tributary/client';

/** A publish the broker acknowledged. */
export interface Acked {
  offset: number;
  epoch: string;
  /** Which publisher, and its sequence number (data `{p, seq}`). */
  p: string;
  seq: number;
}

/** What one subscriber received, checked against what was acknowledged. */
export interface DeliveryReport {
  received: number;
  /** Acknowledged offsets (in the subscriber's epoch) it never got. */
  missing: number[];
  /** Offsets it got more than once. */
  duplicates: number[];
  /** Places where an offset did not follow the previous one by exactly 1. */
  gaps: Array<[number, number]>;
  /** Publishers whose sequence numbers arrived out of order. */
  reordered: string[];
  /** `recovered: false` reports the client made (the allowed way to lose messages). */
  notRecovered: number;
}

/** Collects a subscription's messages and recovery reports. */
export class SubscriberLog {
  readonly messages: Message[] = [];
  readonly recoveries: RecoveryInfo[] = [];
  readonly handler = (m: Message): void => void this.messages.push(m);
  readonly onRecovery = (r: RecoveryInfo): void => void this.recoveries.push(r);

  /** Highest offset received, 0 if none. */
  get last(): number {
    return this.messages.at(-1)?.offset ?? 0;
  }

  /**
   * Exactly once, in order: offsets 1, 2, 3, … with no gap and no repeat, every acknowledged offset
   * present, each publisher's sequence increasing. A `recovered: false` report is the one allowed
   * excuse for a gap; it is counted, and gaps are then only checked up to the first report.
   */
  report(acked: readonly Acked[], from = 1): DeliveryReport {
    const notRecovered = this.recoveries.filter((r) => !r.recovered).length;
    const seen = new Map<number, number>();
    const gaps: Array<[number, number]> = [];
    let prev = from - 1;
    for (const m of this.messages) {
      seen.set(m.offset, (seen.get(m.offset) ?? 0) + 1);
      if (m.offset !== prev + 1) gaps.push([prev, m.offset]);
      prev = m.offset;
    }
    const lastSeq = new Map<string, number>();
    const reordered = new Set<string>();
    for (const m of this.messages) {
      const d = m.data as { p: string; seq: number };
      if ((lastSeq.get(d.p) ?? 0) >= d.seq) reordered.add(d.p);
      lastSeq.set(d.p, d.seq);
    }
    const epoch = this.messages[0]?.epoch;
    return {
      received: this.messages.length,
      missing: acked
        .filter((a) => a.offset >= from && (epoch === undefined || a.epoch === epoch) && !seen.has(a.offset))
        .map((a) => a.offset),
      duplicates: [...seen].filter(([, n]) => n > 1).map(([o]) => o),
      gaps,
      reordered: [...reordered],
      notRecovered,
    };
  }
}

/** Polls `cond` until it holds; fails naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
