import type { Reporter, Vitest } from 'vitest/node';

/**
 * Lists every skipped test by its full name after the run: a skip says why in its name (or
 * its `ctx.skip` note), and the default reporter would only count it. Quiet when a name
 * filter (-t) skips tests on purpose. Used by vitest.config.base.ts and the browser suite.
 */
export default class SkippedTestsReporter implements Reporter {
  private filtered = false;

  onInit(vitest: Vitest): void {
    this.filtered = vitest.config.testNamePattern !== undefined;
  }

  onTestRunEnd: Reporter['onTestRunEnd'] = (testModules) => {
    if (this.filtered) return;
    const lines = testModules.flatMap((testModule) =>
      [...testModule.children.allTests('skipped')].map((test) => {
        const result = test.result();
        const note = result.state === 'skipped' ? result.note : undefined;
        return `  ↓ ${testModule.relativeModuleId} > ${test.fullName}${note === undefined ? '' : ` [${note}]`}`;
      }),
    );
    if (lines.length > 0) console.log(`\nSkipped (${lines.length}), not counted as passing:\n${lines.join('\n')}\n`);
  };
}
