import { writeSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line — `tests: N passed, N failed, N skipped` — after vitest's own
 * summary, so tools that read only a run's last line (CI dashboards) see the counts.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A module that failed to load has no tests but must not read as a clean run.
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
    }
    // Written at exit, after every other reporter's summary, so it really is the last line.
    process.once('exit', () => writeSync(1, `\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`));
  }
}
