import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { textFrame } from './hub.js';

/** ws's frame encoder (a named export of its ES module wrapper, not in its type declarations). */
interface FrameOptions {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
}
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };

/** ws's own framing of a server's text frame (unmasked, uncompressed, final), as one buffer. */
function wsFrame(text: string): Buffer {
  const frame = Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return Buffer.concat(frame);
}

describe('textFrame', () => {
  it('is byte for byte the frame ws would send, for each length encoding (7-bit, 16-bit, 64-bit)', () => {
    for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
      const text = 'x'.repeat(length);
      expect(textFrame(text).equals(wsFrame(text))).toBe(true);
    }
    // Multi-byte UTF-8: the length is in bytes, not characters.
    const text = `{"type":"ack","channel":"é.ü","id":"日本"}${'€'.repeat(50)}`;
    expect(textFrame(text).equals(wsFrame(text))).toBe(true);
  });
});
