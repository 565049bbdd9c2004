import { MemoryEngine } from '../src/index.js';
import { describeEngineContract } from './contract.js';

describeEngineContract('memory', async (options) => {
  const engine = new MemoryEngine(options);
  return { engine, cleanup: () => engine.close(), storedRecords: async () => engine.channelCount + engine.patternCount };
});
