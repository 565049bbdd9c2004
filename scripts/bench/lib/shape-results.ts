/**
 * The results of the traffic-shapes benchmark (shapes.ts), as written to
 * scripts/bench/results/shapes.json and rendered by shapes-report.ts.
 */
import type { MachineInfo } from './machine.js';

/** Timing of one run; `--quick` shortens every window. */
export interface ShapeTiming {
  firstWarmupMs: number;
  roundWarmupMs: number;
  roundMs: number;
  rounds: number;
  fixedLeadMs: number;
  fixedMs: number;
}

export type ShapeId = 'fanout' | 'roundrobin' | 'devices' | 'wildcard' | 'presence';
export type SystemKind = 'tributary-memory' | 'tributary-redis' | 'socketio';

/** One measured window, summed over rounds. */
export interface ShapePhase {
  seconds: number;
  published: number;
  deliveries: number;
  messagesPerSec: number;
  deliveriesPerSec: number;
  latencyUs: { p50: number; p99: number; max: number; count: number };
  serverUserSec: number;
  serverSysSec: number;
  serverCpuUsPerMessage: number;
  serverCpuUsPerDelivery: number;
  serverUserUsPerMessage: number;
  serverSysUsPerMessage: number;
  redisCpuSec: number | undefined;
  redisCpuUsPerMessage: number | undefined;
  /** Redis commands per published message (INFO commandstats), total and the largest few. */
  redisCommandsPerMessage: number | undefined;
  redisTopCommands: Array<[string, number]> | undefined;
  /** Cores (CPU seconds ÷ seconds) of the server nodes, Redis, the load generator and everything else. */
  serverCores: number;
  redisCores: number | undefined;
  loadgenCores: number;
  /** The worst load-generator thread's event-loop delay over the window(s), ms (p99: the largest of the windows'). */
  loadgenLoopDelayP99Ms: number;
  loadgenLoopDelayMaxMs: number;
  otherCores: number;
  presenceEventsPerSec: number;
  churnOpsPerSec: number;
  presenceQueries: number;
  lost: number;
  errors: number;
}

export interface ShapeSystemResult {
  kind: SystemKind;
  name: string;
  topology: string;
  saturation?: ShapePhase;
  fixed?: ShapePhase;
  skipped?: string;
}

export interface ShapeResult {
  id: ShapeId;
  title: string;
  setup: string;
  fanout: number;
  churnPerSec: number;
  /** The fixed load actually used, messages/s and nominal deliveries/s, and why when below the issue's. */
  fixedMsgsPerSec: number;
  fixedDeliveriesPerSec: number;
  fixedNote: string;
  systems: ShapeSystemResult[];
}

export interface ShapesResults {
  machine: MachineInfo;
  quick: boolean;
  timing: ShapeTiming;
  loadgenThreads: number;
  loadAverage: { before: number[]; after: number[] };
  machineBusyCoresBefore: number;
  totalSeconds: number;
  shapes: ShapeResult[];
}
