// mocha's spec reporter, plus the plain totals line CI reads: `N passed, N failed, N skipped`. With
// OUTERLOOP_TOTALS_FILE set (scripts/test.mjs runs several mocha processes), the totals and the failed tests' titles
// are also appended there as one JSON line, so the script can print them last: CI keeps only the tail of the output,
// and the first process's failures would otherwise scroll out of it.
const fs = require('node:fs');
const Mocha = require('mocha');

const MESSAGE_LINES = 6;

class TotalsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failed = [];
    runner.on('fail', (test, error) => {
      const message = String((error && error.message) || error)
        .split('\n')
        .slice(0, MESSAGE_LINES)
        .join('\n');
      failed.push({
        title: test.fullTitle(),
        file: test.file ?? test.parent?.file,
        handler: process.env.OUTERLOOP_TASK_HANDLER,
        message,
      });
    });
    runner.once('end', () => {
      const { passes, failures, pending } = runner.stats;
      process.stdout.write(`\n${passes} passed, ${failures} failed, ${pending} skipped\n`);
      const file = process.env.OUTERLOOP_TOTALS_FILE;
      if (file) fs.appendFileSync(file, `${JSON.stringify({ passes, failures, pending, failed })}\n`);
    });
  }
}

module.exports = TotalsReporter;
