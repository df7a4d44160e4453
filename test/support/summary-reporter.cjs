'use strict';
// Mocha's spec reporter plus the plain closing line CI reads: `N passed, N failed, N skipped`.
// A run in which no test executed is a failure (exit code 1), so a broken glob cannot pass silently.
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const ran = s.passes + s.failures;
      if (ran === 0) {
        process.stdout.write('no test ran: an empty suite is a failure\n');
        process.exitCode = 1;
      }
      process.stdout.write(`${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}
module.exports = SummaryReporter;
