// mocha's spec reporter, plus the plain totals line CI reads: `N passed, N failed, N skipped`. With
// OUTERLOOP_TOTALS_FILE set (scripts/test.mjs runs several mocha processes), the totals are also appended there as
// one JSON line, so the script can print the sum last.
const fs = require('node:fs');
const Mocha = require('mocha');

class TotalsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const { passes, failures, pending } = runner.stats;
      process.stdout.write(`\n${passes} passed, ${failures} failed, ${pending} skipped\n`);
      const file = process.env.OUTERLOOP_TOTALS_FILE;
      if (file) fs.appendFileSync(file, `${JSON.stringify({ passes, failures, pending })}\n`);
    });
  }
}

module.exports = TotalsReporter;
