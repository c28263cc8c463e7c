// RunContainerTests@1 run from its bundle exactly as the agent runs it, against the real engine: the sample service's
// test-runner image, its results copied out of the stopped container, its container always removed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { buildImage } from '../../shared/src/docker/build';
import { memoryLog } from '../../shared/src/log';
import { inputsFromMap } from '../../shared/src/pipeline/inputs';
import { readTimeoutMs } from '../../tasks/RunContainerTests/src/inputs';
import { stageSampleService } from '../fixtures/sample-service/stage';
import {
  containerIsRunning,
  removeTestContainers,
  removeTestImages,
  requireEngine,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../support/engine';
import { bundleOnce, describeRun, runBundledTask, type RunOptions, assertFailedCleanly, uploadedSummary } from '../support/harness';

const TASK = 'RunContainerTests';

/** Regular files under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('RunContainerTests@1: timeoutMinutes', () => {
  const read = (value: string) => readTimeoutMs(inputsFromMap({ timeoutMinutes: value }));
  it('takes whole and decimal minutes, 60 when empty', () => {
    assert.equal(read(''), 3_600_000);
    assert.equal(read('90'), 5_400_000);
    assert.equal(read('0.05'), 3_000);
    assert.equal(read('.5'), 30_000);
  });
  it('refuses what is not a positive number of minutes, or more than the timer can hold', () => {
    assert.throws(() => read('soon'), /^InputError: input 'timeoutMinutes' must be a number of minutes \(e\.g\. 60 or 0\.5\), got 'soon'$/);
    assert.throws(() => read('0'), /input 'timeoutMinutes' must be more than 0/);
    assert.throws(() => read('-1'), /input 'timeoutMinutes' must be a number of minutes/);
    assert.throws(() => read('40000'), /input 'timeoutMinutes' must be at most 20160/);
  });
});

describe('RunContainerTests@1 task (bundle run as the agent runs it, real engine)', function () {
  let docker: Dockerode;
  let work: string;
  let runner: string;

  /** Containers of this run: each inherits the labels of the image it runs. */
  const containersLeft = () => docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${TEST_RUN_ID}`] } });

  before(async function () {
    docker = await requireEngine(this);
    await bundleOnce();
    const sample = stageSampleService();
    work = sample;
    runner = `outerloop-test/task-run-testrunner:${TEST_RUN_ID}`;
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

  afterEach(async function () {
    if (docker) assert.deepEqual(await containersLeft(), [], 'a test container was left behind');
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const folder of agentFolders) fs.rmSync(folder, { recursive: true, force: true });
  });

  const agentFolders: string[] = [];
  const run = async (options: RunOptions = {}) => {
    const result = await runBundledTask(TASK, { ...options, inputs: { image: runner, network: 'none', ...options.inputs } });
    agentFolders.push(result.tempDirectory);
    return result;
  };

  it('runs the tests, copies JUnit and TRX results to Common.TestResultsDirectory and sets the outputs', async () => {
    const result = await run({ reader: 'late' });
    assert.equal(result.result, 'Succeeded', describeRun(result));
    const directory = path.join(result.tempDirectory, 'TestResults');
    assert.deepEqual(result.outputs, { exitCode: '0', resultsDirectory: directory, resultFiles: '2' });
    assert.deepEqual(filesUnder(directory), ['junit.xml', 'results.trx']);
    assert.match(
      fs.readFileSync(path.join(directory, 'junit.xml'), 'utf8'),
      /<testsuite name="SampleService.Greet" tests="4" failures="0"/,
    );
    assert.ok(result.lines.includes('4 tests: 4 passed, 0 failed'), 'the container output streams into the log');
    const summary = uploadedSummary(result);
    assert.equal(summary.title, 'Container tests');
    assert.match(summary.markdown, /^\*\*Passed\*\*: the runner exited with code 0\./);
    assert.ok(summary.markdown.includes(`| Image | \`${runner}\` |`), summary.markdown);
    assert.ok(summary.markdown.includes(`| Results | 2 files copied from \`/tests/TestResults\` to \`${directory}\` |`), summary.markdown);
    assert.ok(summary.markdown.includes('| `junit.xml` |') && summary.markdown.includes('| `results.trx` |'), summary.markdown);
  });

  it('fails with "tests failed" when a test fails, with the results copied out and the outputs set', async () => {
    const result = await run({ inputs: { environment: 'PLANT_FAILING_TEST=planted by the task test' } });
    assertFailedCleanly(result, /^tests failed: the runner exited with code 1; see the 2 result files in /);
    assert.equal(result.outputs.exitCode, '1');
    assert.equal(result.outputs.resultFiles, '2');
    const junit = fs.readFileSync(path.join(result.outputs.resultsDirectory, 'junit.xml'), 'utf8');
    assert.match(junit, /<failure message="planted failure: planted by the task test"/);
    // A failed task still attaches its summary: the tests failed, the run did not.
    const { markdown } = uploadedSummary(result);
    assert.match(
      markdown,
      /^\*\*Tests failed\*\*: the runner ran and exited with code 1; this is a test failure, not an infrastructure failure\./,
    );
    assert.ok(markdown.includes('| Exit code | 1 |'), markdown);
    assert.ok(markdown.includes('| Results | 2 files copied from'), markdown);
  });

  it('ends SucceededWithIssues instead when failOnTestFailure is false', async () => {
    const result = await run({ inputs: { environment: 'PLANT_FAILING_TEST=tolerated', failOnTestFailure: 'false' } });
    assert.equal(result.result, 'SucceededWithIssues', describeRun(result));
    assert.match(result.message, /^tests failed: the runner exited with code 1; .* \(failOnTestFailure is false\)$/);
    assert.equal(result.warnings.filter((w) => w.startsWith('tests failed')).length, 1, 'the reason is warned once, not repeated');
    assert.equal(result.outputs.exitCode, '1');
  });

  it('fails naming image for an image that is not on the engine', async () => {
    const result = await run({ inputs: { image: `outerloop-test/not-built:${TEST_RUN_ID}` } });
    assertFailedCleanly(result, /^input 'image' is 'outerloop-test\/not-built:.*', which is not on the engine: build it first/);
    assert.equal(result.outputs.resultFiles, '0');
    assert.equal(result.outputs.exitCode, undefined);
  });

  it('kills and removes a container that outlives timeoutMinutes (0.05 = 3 s), as "could not run the tests"', async () => {
    const result = await run({ inputs: { command: 'sleep 600', timeoutMinutes: '0.05' } });
    assertFailedCleanly(result, /^could not run the tests: the tests did not finish within 3 seconds; the container was killed$/);
    assert.ok(
      result.warnings.some((w) => /ran longer than 3 seconds: killing the container/.test(w)),
      describeRun(result),
    );
    const { markdown } = uploadedSummary(result);
    assert.match(
      markdown,
      /^\*\*Could not run\*\*: an infrastructure failure, not a test result: the tests did not finish within 3 seconds/,
    );
    assert.ok(markdown.includes('| Command | `sleep 600` |'), markdown);
    assert.ok(markdown.includes('| Exit code | none (the runner did not finish on its own) |'), markdown);
  });

  it('fails with "could not run the tests" when the runner leaves its results folder empty', async () => {
    const result = await run({ inputs: { command: 'mkdir -p /tests/TestResults' } });
    assertFailedCleanly(
      result,
      /^could not run the tests: the runner exited with code 0 and left no result files in \/tests\/TestResults$/,
    );
    assert.equal(result.outputs.exitCode, '0');
  });

  it('masks a secret variable typed into an input in the log and the run summary, as the agent masks only the log', async () => {
    const token = 'runner-Token-7f3a9c';
    const result = await run({ inputs: { command: "sh -c 'echo using $(apiToken); exit 3'" }, secretVariables: { apiToken: token } });
    const { markdown } = uploadedSummary(result);
    assert.match(markdown, /using \*\*\*/, describeRun(result));
    assert.ok(!markdown.includes(token), markdown);
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token), describeRun(result));
  });

  it('fails naming resultsPath when the container has no such folder after the run', async () => {
    const result = await run({ inputs: { command: 'true' } });
    assertFailedCleanly(
      result,
      /^input 'resultsPath' is '\/tests\/TestResults', which the container does not have after the run \(the runner exited with code 0\)/,
    );
    assert.equal(result.outputs.exitCode, '0', 'the outputs are set: the container ran');
  });

  it('runs the command given (split like a shell) and copies results from the resultsPath given, to the resultsDirectory given', async () => {
    const result = await run({
      inputs: {
        command: `sh -c 'RESULTS_DIR=/tmp/out sh /src/tests/run-tests.sh && echo "ran with a \\"quoted\\" word"'`,
        resultsPath: '/tmp/out',
        resultsDirectory: 'results/unit',
        environment: 'GREETING=unused\n# comment',
      },
    });
    assert.equal(result.result, 'Succeeded', describeRun(result));
    assert.equal(
      result.outputs.resultsDirectory,
      path.join(result.tempDirectory, 'results', 'unit'),
      'relative to System.DefaultWorkingDirectory',
    );
    assert.deepEqual(filesUnder(result.outputs.resultsDirectory), ['junit.xml', 'results.trx']);
    assert.ok(result.lines.includes('ran with a "quoted" word'), describeRun(result));
  });

  it('defangs ##vso[ and ##[ printed by the container, so it cannot set variables or log issues', async () => {
    const result = await run({ inputs: { environment: 'ECHO_LOGGING_COMMANDS=1' } });
    assert.equal(result.result, 'Succeeded', describeRun(result));
    assert.ok(!result.commands.some((c) => c.properties.variable === 'pwned'), 'the container set a pipeline variable');
    assert.deepEqual(result.errors, [], 'the container logged an error issue');
    assert.doesNotMatch(result.stdout, /##\[error\]/i);
    assert.ok(result.lines.includes('# #vso[task.setvariable variable=pwned]yes'), describeRun(result));
  });

  it('removes the container when the job is cancelled', async () => {
    const result = await run({
      inputs: { command: 'sleep 600', timeoutMinutes: '1' },
      cancelWhen: () => containerIsRunning(docker, runner),
    });
    assert.equal(result.result, 'Cancelled', describeRun(result));
    assert.match(result.message, /cancelled; its container was removed/);
  });

  describe('bad input: one clear Failed line naming the input, no container created', () => {
    for (const [name, inputs, pattern] of [
      ['no image', { image: '' }, /^input 'image' is required$/],
      ['a timeout that is not a number', { timeoutMinutes: 'an hour' }, /^input 'timeoutMinutes' must be a number of minutes/],
      [
        'an environment line that is not KEY=VALUE',
        { environment: 'A=1\nB' },
        /^input 'environment' has a line that is not KEY=VALUE: 'B'$/,
      ],
      ['a relative resultsPath', { resultsPath: 'TestResults' }, /^input 'resultsPath' must be an absolute path inside the container/],
      ['a command with an open quote', { command: "sh -c 'echo" }, /^input 'command' cannot be split into words: unterminated ' in/],
      [
        'a failOnTestFailure that is not true or false',
        { failOnTestFailure: 'maybe' },
        /^input 'failOnTestFailure' must be true or false, got 'maybe'$/,
      ],
    ] as const) {
      it(name, async () => assertFailedCleanly(await run({ inputs: inputs }), pattern));
    }
  });
});
