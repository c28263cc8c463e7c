// `npm test`: bundles the tasks, type-checks, then runs the suites the way CI must see them: every suite with the
// tasks under the agent's Node20_1 handler (the system node), then the task-level and end-to-end suites again under
// Node24 (the pinned Node in .tools/node24: an agent that has Node 24 always picks that handler). One mocha process
// per handler; the last line is the sum, `N passed, N failed, N skipped`. Extra arguments replace the suite folders.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tool = (...parts) => path.join(root, 'node_modules', ...parts);

// Suites (or single test files) named on the command line replace the default folders; the Node24 pass runs those of
// them that are task-level or end-to-end, and is left out when there are none.
const ALL_SUITES = ['test/unit', 'test/task', 'test/integration', 'test/e2e'];
const named = process.argv.slice(2);
const within = (folders) => (file) => folders.some((folder) => path.relative(folder, file).split(path.sep)[0] !== '..');
const outside = named.filter((file) => !within(ALL_SUITES)(file));
if (outside.length) {
  console.error(`test: ${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} under none of ${ALL_SUITES.join(', ')}`);
  process.exit(2);
}
const suites = (folders) => (named.length ? named.filter(within(folders)) : folders);
const node24Suites = suites(['test/task', 'test/e2e']);

const steps = [
  { name: 'bundle', args: [path.join(root, 'build', 'bundle.mjs')] },
  { name: 'typecheck', args: [tool('typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json'), '--noEmit'] },
  // The linter and the format check fail the run but do not stop it: the tests still say what they say.
  { name: 'lint', args: [tool('eslint', 'bin', 'eslint.js'), '.'], goOn: true },
  { name: 'format', args: [tool('prettier', 'bin', 'prettier.cjs'), '--check', '--log-level', 'warn', '**/*.{ts,mjs,cjs,js}'], goOn: true },
  {
    name: 'mocha (Node20_1)',
    args: [tool('mocha', 'bin', 'mocha.js'), ...suites(ALL_SUITES)],
    env: { OUTERLOOP_TASK_HANDLER: 'Node20_1' },
    goOn: true,
  },
  ...(node24Suites.length
    ? [
        {
          name: 'mocha (Node24)',
          args: [tool('mocha', 'bin', 'mocha.js'), ...node24Suites],
          env: { OUTERLOOP_TASK_HANDLER: 'Node24' },
          goOn: true,
        },
      ]
    : []),
];

const totalsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-totals-')), 'totals.jsonl');
const failed = [];
for (const step of steps) {
  const started = Date.now();
  const run = spawnSync(process.execPath, step.args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...step.env, OUTERLOOP_TOTALS_FILE: totalsFile },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`test: ${step.name} ${run.status === 0 ? 'passed' : `FAILED (exit ${run.status ?? run.signal})`} in ${seconds} s`);
  if (run.status !== 0) {
    failed.push(step.name);
    // Nothing after a broken bundle or type error is worth running.
    if (!step.goOn) break;
  }
}
const sum = { passes: 0, failures: 0, pending: 0 };
const failedTests = [];
if (fs.existsSync(totalsFile)) {
  for (const line of fs.readFileSync(totalsFile, 'utf8').split('\n').filter(Boolean)) {
    const totals = JSON.parse(line);
    for (const key of Object.keys(sum)) sum[key] += totals[key];
    failedTests.push(...(totals.failed ?? []));
  }
}
fs.rmSync(path.dirname(totalsFile), { recursive: true, force: true });
// Repeated here, last, because CI keeps only the tail of the output.
for (const [index, test] of failedTests.entries()) {
  const where = [test.file && path.relative(root, test.file), test.handler].filter(Boolean).join(', ');
  console.log(`\nfailed ${index + 1}: ${test.title}${where ? ` (${where})` : ''}\n${test.message.replace(/^/gm, '    ')}`);
}
if (failed.length) console.log(`test: failed: ${failed.join(', ')}`);
// A failed step outside mocha (bundle, types, lint, format) counts as one failure, so the totals never read green.
const stepFailures = failed.filter((name) => !name.startsWith('mocha')).length;
console.log(`\n${sum.passes} passed, ${sum.failures + stepFailures} failed, ${sum.pending} skipped`);
process.exitCode = failed.length ? 1 : 0;
