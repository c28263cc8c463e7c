// Every bundled task, read the way a busy agent reads it: nobody reads the task's stdout pipe for
// LATE_READER_DELAY_MS, then it is read slowly (harness.ts). A task that ends its process while stdout still holds
// queued writes loses the tail, `task.complete` included, and the agent reads exit code 0 without it as Succeeded.
// Each case here writes far more than a pipe holds (64 KiB) and must still deliver every line, every output variable
// and its true result.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { buildImage } from '../../shared/src/docker/build';
import { memoryLog } from '../../shared/src/log';
import { stageSampleService } from '../fixtures/sample-service/stage';
import {
  BUSYBOX_PATH,
  containerIsRunning,
  removeTestContainers,
  removeTestImages,
  requireEngine,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../support/engine';
import { bundleOnce, describeRun, runBundledTask, type TaskRun } from '../support/harness';
import { requireRegistry, sharedRegistry } from '../support/registries';

const LINES = 40_000;

/** The harness's account of a run, short enough for an assertion message. */
function summary(run: TaskRun): string {
  return `exit=${run.exitCode} result=${run.result} message=${JSON.stringify(run.message)} lines=${run.lines.length} outputs=${JSON.stringify(run.outputs)}\n${describeRun(run).slice(-1500)}`;
}

/** The run ended as the agent needs: exit code 0 after its `task.complete`, the process ending by itself. */
function assertEndedWithResult(run: TaskRun, result: TaskRun['result']): void {
  assert.equal(run.result, result, summary(run));
  assert.equal(run.exitCode, 0, summary(run));
  assert.equal(run.commands.at(-1)?.command, 'task.complete', 'task.complete is the last thing the task writes');
  assert.equal(run.lingeringHandles, undefined, 'the task process ends by itself once its result is out');
}

/** Every `prefix<n>` line for n in [0, count) arrived, in order, each once. */
function assertEveryNumberedLine(run: TaskRun, prefix: string, count: number): void {
  const pattern = new RegExp(`(?:^|\\s)${prefix}(\\d+)$`);
  const numbered = run.lines.flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1])] : [];
  });
  assert.equal(numbered.length, count, `lines '${prefix}N' delivered: ${numbered.length} of ${count}\n${summary(run)}`);
  numbered.forEach((n, i) => assert.equal(n, i, `line ${i} is '${prefix}${n}'`));
}

describe('late reader: every bundled task delivers every line, its outputs and task.complete to an agent that reads late and slowly', function () {
  let docker: Dockerode;
  const work: string[] = [];
  let runner = '';

  before(async function () {
    docker = await requireEngine(this);
    await bundleOnce();
    const sample = stageSampleService();
    work.push(sample);
    runner = `outerloop-test/late-reader-testrunner:${TEST_RUN_ID}`;
    await buildImage(
      docker,
      {
        dockerfile: path.join(sample, 'Dockerfile'),
        context: sample,
        target: 'testrunner',
        imageName: runner,
        labels: { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID },
      },
      memoryLog(),
    );
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    for (const dir of work) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`RunContainerTests: a runner that writes ${LINES} lines and fails reports Failed, with its outputs and every line`, async () => {
    const script = [
      `seq 0 ${LINES - 1} | sed 's/^/runner-line-/'`,
      'mkdir -p /tests/TestResults',
      `echo '<testsuite name="s" tests="1" failures="1"><testcase name="t"><failure message="no"/></testcase></testsuite>' > /tests/TestResults/junit.xml`,
      'exit 3',
    ].join('; ');
    const run = await runBundledTask('RunContainerTests', {
      inputs: { image: runner, network: 'none', command: `sh -c "${script}"` },
      reader: 'late',
    });
    assertEndedWithResult(run, 'Failed');
    assert.match(run.message, /^tests failed: the runner exited with code 3/);
    assert.equal(run.outputs.exitCode, '3');
    assert.equal(run.outputs.resultFiles, '1');
    assert.equal(run.outputs.resultsDirectory, path.join(run.tempDirectory, 'TestResults'));
    assertEveryNumberedLine(run, 'runner-line-', LINES);
  });

  it('RunContainerTests: a cancelled run (SIGTERM after it has written more than a pipe holds) reports Cancelled', async () => {
    const script = `seq 0 ${LINES - 1} | sed 's/^/cancel-line-/'; sleep 600`;
    const run = await runBundledTask('RunContainerTests', {
      inputs: { image: runner, network: 'none', command: `sh -c "${script}"`, timeoutMinutes: '2' },
      cancelWhen: () => containerIsRunning(docker, runner, `cancel-line-${LINES - 1}\n`),
      reader: 'late',
    });
    assertEndedWithResult(run, 'Cancelled');
    assert.match(run.message, /cancelled; its container was removed/);
    assertEveryNumberedLine(run, 'cancel-line-', LINES);
  });

  for (const builder of ['buildkit', 'classic'] as const) {
    it(`BuildTestRunner (${builder}): a RUN step that writes ${LINES} lines and fails reports Failed with every line`, async () => {
      const context = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-late-build-'));
      work.push(context);
      fs.copyFileSync(BUSYBOX_PATH, path.join(context, 'busybox'));
      fs.writeFileSync(
        path.join(context, 'Dockerfile'),
        [
          'FROM scratch AS testrunner',
          'COPY busybox /bin/busybox',
          // A fresh value every run: a cached step would print nothing. BuildKit clips a step's output beyond its
          // log rate limit (`[output clipped, log limit 200KiB/s reached]`, seen on 20.10) and then repeats part of
          // it; paced in batches of 1,000 lines the step stays under it, so every line reaches the task once.
          // The classic builder has no such limit: its step prints as fast as it can.
          builder === 'buildkit'
            ? `RUN ["/bin/busybox", "sh", "-c", "echo ${TEST_RUN_ID}-${builder}; for batch in $(/bin/busybox seq 0 ${LINES / 1000 - 1}); do /bin/busybox seq $((batch * 1000)) $((batch * 1000 + 999)) | /bin/busybox sed 's/^/b-/'; /bin/busybox sleep 0.06; done; exit 7"]`
            : `RUN ["/bin/busybox", "sh", "-c", "echo ${TEST_RUN_ID}-${builder}; /bin/busybox seq 0 ${LINES - 1} | /bin/busybox sed 's/^/b-/'; exit 7"]`,
          '',
        ].join('\n'),
      );
      const run = await runBundledTask('BuildTestRunner', {
        inputs: {
          dockerfile: path.join(context, 'Dockerfile'),
          imageName: `outerloop-test/late-build:${TEST_RUN_ID}`,
          builder,
          network: 'none',
        },
        reader: 'late',
      });
      assertEndedWithResult(run, 'Failed');
      assert.match(run.message, /exit code: 7|returned a non-zero code: 7|exit code 7/, summary(run));
      // BuildKit prefixes each line of a step's output with the step's number and time (`#5 0.312 b-17`).
      assertEveryNumberedLine(run, 'b-', LINES);
    });
  }

  it('PublishContainerTestResults: 300 unreadable result files beside a good one end SucceededWithIssues with every warning', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-late-results-'));
    work.push(folder);
    fs.writeFileSync(
      path.join(folder, 'good.xml'),
      '<testsuite name="s" tests="2" failures="1"><testcase name="a"/><testcase name="b"><failure message="x"/></testcase></testsuite>',
    );
    const bad = 300;
    for (let i = 0; i < bad; i++)
      fs.writeFileSync(path.join(folder, `broken-${String(i).padStart(3, '0')}.xml`), `<testsuite name="cut-${i}"><testcase`);
    const run = await runBundledTask('PublishContainerTestResults', {
      inputs: { searchFolder: folder, testResultsFiles: '*.xml', publishMode: 'agent' },
      reader: 'late',
    });
    assertEndedWithResult(run, 'SucceededWithIssues');
    assert.deepEqual(
      { total: run.outputs.totalTests, passed: run.outputs.passedTests, failed: run.outputs.failedTests },
      { total: '2', passed: '1', failed: '1' },
    );
    // The first 20 are warning issues, the rest plain `warning:` lines, counted by one closing warning.
    assert.equal(run.warnings.length, 21, summary(run));
    assert.equal(run.warnings.at(-1), `and ${bad - 20} more warnings: see the lines starting 'warning:' in the log`);
    for (let i = 0; i < bad; i++) {
      const name = `broken-${String(i).padStart(3, '0')}.xml`;
      const told = [...run.warnings, ...run.lines.filter((line) => line.startsWith('warning: '))];
      assert.ok(
        told.some((warning) => warning.includes(name)),
        `the warning for ${name} was lost\n${summary(run)}`,
      );
    }
    assert.ok(run.message.length < 4000, `the result line is bounded (${run.message.length} characters)`);
    assert.match(run.message, /\(and \d+ more\)$/);
    assert.ok(
      run.commands.some((c) => c.command === 'results.publish'),
      'the results.publish command arrived',
    );
  });

  it('PromoteImage: a failing promotion reports Failed through a late reader', async function () {
    requireRegistry(this);
    const registry = await sharedRegistry('anonymous');
    const run = await runBundledTask('PromoteImage', { inputs: { sourceImage: `${registry.host}/late-reader/absent:v1` }, reader: 'late' });
    assertEndedWithResult(run, 'Failed');
    assert.match(run.message, /late-reader\/absent/);
  });

  it('PackageHelmChart: a failing package reports Failed through a late reader', async () => {
    const chart = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-late-chart-'));
    work.push(chart);
    fs.writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: late\nversion: not-a-version\n');
    const run = await runBundledTask('PackageHelmChart', { inputs: { chartPath: chart, versionFromBranch: 'false' }, reader: 'late' });
    assertEndedWithResult(run, 'Failed');
    assert.match(run.message, /version/);
  });
});
