export { BlockRunner, MAX_CONFIG_DEPTH } from './runner.js';
export { RunnerPool, RunnerProcess } from './process/pool.js';
export type { RunnerPoolOptions, RunnerExitReason } from './process/pool.js';
export type { RunnerOptions } from './runner.js';
export { compileBlock, versionOf } from './compile.js';
export type { CompiledBlock } from './compile.js';
export { BlockError, BlockErrorCodes } from './errors.js';
export type { BlockErrorCode } from './errors.js';
export {
  DEFAULT_LIMITS,
  DEFAULT_BEFORE_PUBLISH_WALL_MS,
  MAX_LIMITS,
  MIN_LANE_MEMORY_MB,
  LOAD_LIMITS,
  resolveLimits,
  laneLimits,
  LOG_LIMITS,
  DEFAULT_LOG_BUDGET,
  MAX_RESULT_CHARS,
  MAX_REQUEST_RESULT_CHARS,
  MAX_ERROR_CHARS,
  MAX_KV_VALUE_CHARS,
  MAX_FETCH_BODY_CHARS,
  MAX_HOST_ARGS_CHARS,
} from './limits.js';
export type { ResolvedLimits, LogBudget } from './limits.js';
export { redact, MIN_REDACTED_SECRET } from './redact.js';
export type { BlockInfo, BlockStats } from './deployed.js';
export type { PublishFn, PublishOptions, HostModule, BlockLogLine, FetchLimits } from './host.js';
export type { RetryOptions } from './consumer.js';
export type { NormalizedTrigger } from './describe.js';
export { BlockNode } from './node.js';
export type { BlockNodeOptions, BlockManifest, PreparedBlock } from './node.js';
export { BlockRegistry, DEPLOY_CHANNEL, parseDeployNotice } from './registry.js';
export type { StoredBlock, DeployNotice, PlatformPublish } from './registry.js';
export { adminRoute, requestRoute, checkBlockResponse, BLOCK_FORBIDDEN_HEADERS, BLOCK_RESPONSE_HEADERS } from './http.js';
export type { BodyReader, CheckedResponse } from './http.js';
export { compileSource, MAX_SOURCE_BYTES, MAX_SOURCE_NESTING, COMPILE_TIMEOUT_MS } from './compile.js';
export type { CompileOptions } from './compile.js';
export type { ReplayMessage } from './runner.js';
export { DeadLetters, DLQ_NAMESPACE, DLQ_SCAN_LIMIT, parseDeadLetterRecord } from './dlq.js';
export type { DeadLetter, DeadLetterRecord } from './dlq.js';
export { BLOCK_NAME, isBlockName } from './describe.js';
export {
  Topology,
  resolveTopologyOptions,
  DEFAULT_TOPOLOGY_WINDOW_MS,
  DEFAULT_TOPOLOGY_RECENT_MS,
  DEFAULT_TOPOLOGY_MAX_CHANNELS,
} from './topology.js';
export type { TopologyOptions, TopologySnapshot, TopologyNode, TopologyEdge, TopologyLag } from './topology.js';
export { topologyRoute, TOPOLOGY_PATH } from './topology-route.js';
export { replayBlock, DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT, MAX_REPLAY_OUTPUT_BYTES } from './replay.js';
export type { ReplayRequest, ReplayResult, ReplayReport, ReplayDeps } from './replay.js';
export { replayRoute, REPLAY_PATH, parseSince } from './replay-route.js';
export type { InvocationOrigin, RunItem } from './sandbox.js';
