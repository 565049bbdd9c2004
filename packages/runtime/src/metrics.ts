import type { StreamEngine } from '@tributary/engine';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { RUNNER_EXIT_REASONS, type RunnerPool } from './process/pool.js';

/** Prometheus metrics of the blocks runtime. The `block` label is bounded by the deployed blocks. */
export class RuntimeMetrics {
  readonly invocations: Counter<'block'>;
  readonly errors: Counter<'block' | 'code'>;
  readonly duration: Histogram<'block'>;
  readonly badNotices: Counter<'channel'>;
  readonly runnerExits: Counter<'reason'>;
  readonly #registry: Registry;

  constructor(registry: Registry, engine: StreamEngine, blocks: () => string[]) {
    this.#registry = registry;
    this.runnerExits = new Counter({
      name: 'tributary_block_runner_exits_total',
      help: 'Block runner processes that ended and were restarted, by reason (crashed: a V8 fatal error or a kill; memory; unresponsive)',
      labelNames: ['reason'],
      registers: [registry],
    });
    for (const reason of RUNNER_EXIT_REASONS) this.runnerExits.inc({ reason }, 0);
    this.invocations = new Counter({
      name: 'tributary_block_invocations_total',
      help: 'Block handler invocations on this runner',
      labelNames: ['block'],
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'tributary_block_errors_total',
      help: 'Failed block invocations, by error code (HANDLER_ERROR, CPU_LIMIT, …)',
      labelNames: ['block', 'code'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'tributary_block_duration_seconds',
      help: 'Block invocation wall time, including host calls',
      labelNames: ['block'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    });
    this.badNotices = new Counter({
      name: 'tributary_block_bad_notices_total',
      help: 'Entries of system channels the runtime reads ($blocks.deployed, $dlq.*) that were not what the runtime writes there, ignored',
      labelNames: ['channel'],
      registers: [registry],
    });
    new Gauge({
      name: 'tributary_dlq_depth',
      help: "Messages retained in each block's dead-letter channel ($dlq.<block>)",
      labelNames: ['block'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const name of blocks()) {
          const s = await engine.state(`$dlq.${name}`);
          this.set({ block: name }, Math.max(0, s.last - s.first + 1));
        }
      },
    });
  }

  /** Gauges of the runner processes: resident memory of each, from its last heartbeat. */
  watchRunners(pool: RunnerPool): void {
    new Gauge({
      name: 'tributary_block_runner_resident_bytes',
      help: 'Resident memory of each block runner process (bytes, at its last heartbeat)',
      labelNames: ['runner'],
      registers: [this.#registry],
      collect() {
        this.reset();
        pool.processes.forEach((p, i) => this.set({ runner: String(i) }, p.rss));
      },
    });
  }
}
