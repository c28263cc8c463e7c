// The whole outer loop on the sample service, every step a bundled task run as the agent runs it, outputs handed on
// through `$(step.output)` macros as a pipeline does: build the test runner → run its tests (→ publish the results)
// → build the runtime image → push it by digest → promote it into prod/ (→ package its chart pinned to the digest).
// Real engine, a real htpasswd registry on loopback behind a service connection.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type Dockerode from 'dockerode';
import * as yaml from 'yaml';
import * as tar from 'tar-stream';
import { parseLock } from '../../shared/src/release';
import { stageSampleService } from '../fixtures/sample-service/stage';
import { removeTestContainers, removeTestImages, requireEngine, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL } from '../support/engine';
import { repoRoot } from '../support/env';
import {
  bundledTaskDir,
  bundleOnce,
  describeRun,
  filesContaining,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  type TaskRun,
  dockerConfigSnapshot,
} from '../support/harness';
import { fetchManifest } from '../support/images';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';

/** The text of `name` inside a .tgz. */
async function fileInPackage(tgz: string, name: string): Promise<string> {
  const extract = tar.extract();
  let found: string | undefined;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      if (header.name === name) found = Buffer.concat(chunks).toString('utf8');
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    extract.end(zlib.gunzipSync(fs.readFileSync(tgz)));
  });
  if (found === undefined) throw new Error(`${tgz} has no ${name}`);
  return found;
}

describe('the outer loop, end to end (bundled tasks, real engine, real registry)', function () {
  let docker: Dockerode;
  let registry: TestRegistry;
  let sample: string;
  let dockerConfigBefore: string;
  const runs: TaskRun[] = [];

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    await bundleOnce();
    registry = await sharedRegistry('htpasswd');
    sample = stageSampleService();
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    if (sample) fs.rmSync(sample, { recursive: true, force: true });
    for (const run of runs) fs.rmSync(run.tempDirectory, { recursive: true, force: true });
  });

  it('builds, tests, pushes by digest and promotes the sample service; every step hands the next the exact image', async () => {
    const buildId = `e2e-${TEST_RUN_ID}`;
    const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-e2e-staging-'));
    const results = path.join(staging, 'TestResults');
    /** What every step of one pipeline run shares: its variables, the outputs of earlier steps, the connection. */
    const variables: Record<string, string> = {
      'System.DefaultWorkingDirectory': sample,
      'Build.Repository.Name': 'Outer.Loop Sample',
      'Build.BuildId': buildId,
      'Build.BuildNumber': '20260102.1',
      'Build.SourceVersion': 'e2e0c0ffee',
      'Build.SourceBranch': 'refs/heads/release/sample-service/1.4.0',
      'Build.ArtifactStagingDirectory': staging,
      'Common.TestResultsDirectory': results,
    };
    const endpoints = [registryEndpoint('registry', registry.url, registry.users[0])];
    const labels = `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`;
    const step = async (task: string, name: string, options: RunOptions): Promise<TaskRun> => {
      const run = await runBundledTask(task, { endpoints, ...options, variables });
      runs.push(run);
      for (const [output, value] of Object.entries(run.outputs)) variables[`${name}.${output}`] = value;
      return run;
    };

    try {
      const testrunner = await step('BuildTestRunner', 'testrunner', { inputs: { labels } });
      assert.equal(testrunner.result, 'Succeeded', describeRun(testrunner));
      assert.equal(testrunner.outputs.imageName, `outer.loop-sample-testrunner:${buildId}`);

      const tests = await step('RunContainerTests', 'tests', { inputs: { image: '$(testrunner.imageName)', network: 'none' } });
      assert.equal(tests.result, 'Succeeded', describeRun(tests));
      assert.deepEqual(tests.outputs, { exitCode: '0', resultsDirectory: results, resultFiles: '2' });

      // Published when the results task is part of this checkout (it is developed alongside).
      if (fs.existsSync(path.join(bundledTaskDir('PublishContainerTestResults'), 'task.json'))) {
        const publish = await step('PublishContainerTestResults', 'publish', {
          inputs: { searchFolder: '$(tests.resultsDirectory)', testResultsFiles: '**/junit.xml', publishMode: 'agent' },
        });
        assert.equal(publish.result, 'Succeeded', describeRun(publish));
        assert.equal(publish.outputs.totalTests, '4');
        assert.equal(publish.outputs.failedTests, '0');
      }

      const repository = `${registry.host}/outer-loop/sample-service`;
      const final = await step('BuildTestRunner', 'final', {
        inputs: { target: '', imageName: `${repository}:$(Build.BuildId)`, buildArguments: 'SERVICE_VERSION=$(Build.BuildNumber)', labels },
      });
      assert.equal(final.result, 'Succeeded', describeRun(final));
      assert.deepEqual((await docker.getImage(final.outputs.imageName).inspect()).Config.Entrypoint, ['/app/bin/greet']);

      // sourceImage left out: the default, repository:<first tag>, is the image the previous step tagged.
      const pushed = await step('PushImageByDigest', 'push', {
        inputs: { containerRegistry: 'registry', repository: 'outer-loop/sample-service', tags: '$(Build.BuildId)\nlatest' },
      });
      assert.equal(pushed.result, 'Succeeded', describeRun(pushed));
      assert.equal(pushed.outputs.pinnedImage, `${repository}@${pushed.outputs.digest}`);
      const user = registry.users[0];
      assert.equal((await fetchManifest(registry, 'outer-loop/sample-service', buildId, user)).digest, pushed.outputs.digest);
      const inspected = await docker.getImage(final.outputs.imageId).inspect();
      assert.ok(inspected.RepoDigests.includes(pushed.outputs.pinnedImage), 'the runtime image is what was pushed');
      const lock = parseLock(fs.readFileSync(path.join(staging, 'image-lock.json'), 'utf8'));
      assert.deepEqual(
        lock.entries.map((e) => e.pinnedReference),
        [pushed.outputs.pinnedImage],
      );

      if (fs.existsSync(path.join(repoRoot, 'tasks', 'PromoteImage', 'task.json'))) {
        const promoted = await step('PromoteImage', 'promote', {
          inputs: { containerRegistry: 'registry', sourceImage: `${repository}:$(Build.BuildId)` },
        });
        assert.equal(promoted.result, 'Succeeded', describeRun(promoted));
        assert.equal(promoted.outputs.digest, pushed.outputs.digest);
        assert.equal(promoted.outputs.promotedImage, `${registry.host}/prod/outer-loop/sample-service@${pushed.outputs.digest}`);
        assert.equal((await fetchManifest(registry, 'prod/outer-loop/sample-service', buildId, user)).digest, pushed.outputs.digest);
      }

      if (fs.existsSync(path.join(repoRoot, 'tasks', 'PackageHelmChart', 'task.json'))) {
        const chart = await step('PackageHelmChart', 'chart', {
          inputs: {
            chartPath: path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service'),
            imageRepository: repository,
            imageDigest: '$(push.digest)',
          },
        });
        assert.equal(chart.result, 'Succeeded', describeRun(chart));
        const values = yaml.parse(await fileInPackage(chart.outputs.chartPackage, 'sample-service/values.yaml')) as {
          image: Record<string, string>;
        };
        assert.equal(values.image.repository, repository);
        assert.equal(values.image.digest, pushed.outputs.digest, 'the chart deploys exactly the pushed bytes');
      }

      for (const run of runs) {
        const raw = run.stdout + run.stderr;
        for (const secret of registry.secrets())
          assert.ok(!raw.includes(secret), `a secret reached the output of a step (${secret.slice(0, 4)}…)`);
        assert.deepEqual(filesContaining(run.tempDirectory, registry.secrets()), []);
      }
      assert.deepEqual(filesContaining(staging, registry.secrets()), []);
      assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
      assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${TEST_RUN_ID}`] } }), []);
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  });
});
