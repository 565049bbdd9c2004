import { fileURLToPath } from 'node:url';
import { blockHarness } from '@tributary/testkit/blocks';

// This folder's block in the real sandbox on a memory engine (see @tributary/testkit/blocks).
export const { loadBlock, memoryEngine, deployBlock, publish, messages, drained, waitForMessages } = blockHarness(
  fileURLToPath(new URL('..', import.meta.url)),
);
