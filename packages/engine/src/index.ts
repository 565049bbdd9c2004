export { MemoryEngine } from './memory.js';
export type { MemoryEngineOptions } from './memory.js';
export {
  DEFAULT_MAX_LENGTH,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_DEDUP_WINDOW_MS,
  DEFAULT_MAX_PATTERNS,
  MAX_READ_LIMIT,
  resolveEngineOptions,
} from './options.js';
export type { EngineOptions, ResolvedEngineOptions, ListenerErrorHandler } from './options.js';
export { SegmentIndex } from './segment-index.js';
export type {
  StreamEngine,
  AppendInput,
  AppendResult,
  Entry,
  ReadOptions,
  ReadResult,
  ChannelState,
  RetentionOptions,
  EntryListener,
  Follow,
  PresenceRecord,
  PresenceChange,
  KeyValueStore,
  ConsumerGroups,
  GroupEntry,
  GroupLag,
} from './types.js';
