import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { buildImage } from '../../shared/src/docker/build';
import { runTests, type RunTestsOptions } from '../../shared/src/docker/run';
import { memoryLog, type Log } from '../../shared/src/log';
import { stageSampleService } from '../fixtures/sample-service/stage';
import { removeTestContainers, removeTestImages, requireEngine, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL } from '../support/engine';

const labels = { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID };

describe('docker engine: runTests (integration)', function () {
  let docker: Dockerode;
  let work: string;
  let runner: string;
  let plantedRunner: string;

  before(async function () {
    docker = await requireEngine(this);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-run-'));
    const sample = stageSampleService(path.join(work, 'sample'));
    runner = `outerloop-test/sample-testrunner:run-${TEST_RUN_ID}`;
    plantedRunner = `outerloop-test/sample-testrunner:planted-${TEST_RUN_ID}`;
    const dockerfile = path.join(sample, 'Dockerfile');
    await buildImage(
      docker,
      { dockerfile, context: sample, target: 'testrunner', imageName: runner, builder: 'buildkit', labels },
      memoryLog(),
    );
    await buildImage(
      docker,
      {
        dockerfile,
        context: sample,
        target: 'testrunner',
        imageName: plantedRunner,
        builder: 'classic',
        labels,
        buildArgs: { PLANT_FAILING_TEST: 'planted at build time' },
      },
      memoryLog(),
    );
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  let n = 0;
  const run = (options: Partial<RunTestsOptions>, log: Log = memoryLog()) =>
    runTests(docker, { image: runner, resultsDirectory: path.join(work, `results-${++n}`), network: 'none', labels, ...options }, log);

  const leftovers = async () => docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${TEST_RUN_ID}`] } });

  it('runs the sample tests, streams their output and copies JUnit and TRX results out', async () => {
    const log = memoryLog();
    const result = await run({}, log);
    assert.equal(result.outcome, 'passed', result.message);
    assert.equal(result.exitCode, 0);
    assert.deepEqual([...result.resultFiles].sort(), ['junit.xml', 'results.trx']);
    const junit = fs.readFileSync(path.join(result.resultsDirectory, 'junit.xml'), 'utf8');
    assert.match(junit, /<testsuite name="SampleService.Greet" tests="4" failures="0"/);
    const trx = fs.readFileSync(path.join(result.resultsDirectory, 'results.trx'), 'utf8');
    assert.match(trx, /<Counters total="4" executed="4" passed="4" failed="0"/);
    assert.ok(log.lines.includes('PASS context_honours_dockerignore'), log.lines.join('\n'));
    assert.ok(log.lines.includes('4 tests: 4 passed, 0 failed'));
    assert.deepEqual(await leftovers(), []);
  });

  it('reports "tests failed" with the results copied out when a test planted through the environment fails', async () => {
    const result = await run({ environment: { PLANT_FAILING_TEST: 'planted at run time' } });
    assert.equal(result.outcome, 'testsFailed');
    assert.equal(result.exitCode, 1);
    assert.match(result.message, /^tests failed: the runner exited with code 1; see the 2 result files in /);
    const junit = fs.readFileSync(path.join(result.resultsDirectory, 'junit.xml'), 'utf8');
    assert.match(junit, /<failure message="planted failure: planted at run time"/);
    assert.deepEqual(await leftovers(), []);
  });

  it('reports "tests failed" for a failing test planted through a build argument', async () => {
    const result = await run({ image: plantedRunner });
    assert.equal(result.outcome, 'testsFailed');
    assert.match(fs.readFileSync(path.join(result.resultsDirectory, 'results.trx'), 'utf8'), /outcome="Failed"/);
  });

  it('reports "could not run the tests" for an image that is not there', async () => {
    const result = await run({ image: `outerloop-test/missing:${TEST_RUN_ID}` });
    assert.equal(result.outcome, 'couldNotRun');
    assert.equal(result.exitCode, undefined);
    assert.equal(
      result.message,
      `could not run the tests: image 'outerloop-test/missing:${TEST_RUN_ID}' is not on the engine: build it first, with this agent's engine`,
    );
  });

  it('kills and removes a container that runs past its timeout', async () => {
    const log = memoryLog();
    const result = await run({ command: ['sh', '-c', 'echo waiting; sleep 600'], timeoutMs: 1000 }, log);
    assert.equal(result.outcome, 'couldNotRun');
    assert.equal(result.message, 'could not run the tests: the tests did not finish within 1 second; the container was killed');
    assert.ok(log.lines.includes('waiting'));
    assert.deepEqual(await leftovers(), []);
  });

  it('kills and removes the container when the run is cancelled, then throws', async () => {
    const cancel = new AbortController();
    const log = memoryLog();
    const watched: Log = { ...log, info: (line) => (log.info(line), line === 'started' && cancel.abort()) };
    await assert.rejects(
      run({ command: ['sh', '-c', 'echo started; sleep 600'], signal: cancel.signal }, watched),
      /was cancelled; its container was removed/,
    );
    assert.deepEqual(await leftovers(), []);
  });

  it('reports "could not run the tests" when the runner leaves no results, and when its command does not exist', async () => {
    const none = await run({ command: ['sh', '-c', 'echo nothing to see; exit 2'] });
    assert.equal(none.outcome, 'couldNotRun');
    assert.equal(none.exitCode, 2);
    assert.equal(none.message, 'could not run the tests: the runner exited with code 2 and left no result files in /tests/TestResults');
    const missing = await run({ command: ['no-such-runner'] });
    assert.equal(missing.outcome, 'couldNotRun');
    assert.match(missing.message, /^could not run the tests: the container of '.*' did not start: .*no-such-runner/);
    assert.deepEqual(await leftovers(), []);
  });

  it('runs as the given user', async () => {
    const log = memoryLog();
    const result = await run({ user: '1234:1234', command: ['sh', '-c', 'echo "uid=$(id -u) gid=$(id -g)"'] }, log);
    assert.ok(log.lines.includes('uid=1234 gid=1234'), log.lines.join('\n'));
    assert.equal(result.outcome, 'couldNotRun');
  });

  it('copies results from another resultsPath that the environment points the runner at', async () => {
    const result = await run({ resultsPath: '/out/results/', environment: { RESULTS_DIR: '/out/results' } });
    assert.equal(result.outcome, 'passed', result.message);
    assert.deepEqual([...result.resultFiles].sort(), ['junit.xml', 'results.trx']);
  });

  it('refuses results that link out of the results folder, writing nothing outside it', async () => {
    const result = await run({
      command: [
        'sh',
        '-c',
        'mkdir -p /tests/TestResults && echo "<x/>" > /tests/TestResults/a.xml && ln -s /etc/passwd /tests/TestResults/leak.xml; exit 1',
      ],
    });
    assert.equal(result.outcome, 'couldNotRun');
    assert.match(result.message, /unsafe to copy: refusing archive entry 'TestResults\/leak\.xml': the link points to an absolute path/);
    assert.ok(!fs.existsSync(path.join(result.resultsDirectory, 'leak.xml')));
  });

  it('leaves no container with the suite label behind', async () => {
    assert.deepEqual(await leftovers(), []);
  });
});
