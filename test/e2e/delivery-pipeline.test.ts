// examples/delivery/azure-pipelines.yml, run as written (test/support/pipeline.ts): every step that uses one of our
// tasks runs its bundle with the inputs the file gives, the agent's own steps (checkout, bash, publish, download) are
// done as the agent does them, and whatever cannot run here (HelmDeploy: no cluster) is listed. Azure DevOps is the
// Test API contract server; the registry is a real distribution registry on loopback, reached through the service
// connection the YAML names, with its host given as the `registry` parameter, as a person queues the run.
// Between the stages the test signs the pushed image and attaches an SBOM, as a signing step would. Then the chain:
// the image pushed = the digest pinned in the chart = the lock file's = the one promoted into prod/, which has its
// signature and SBOM beside it, and the chart helm would deploy from prod/ renders exactly that image.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import * as yaml from 'yaml';
import { readTarGz } from '../../shared/src/helm/archive';
import { parseLock, type LockedChart, type LockedImage, type LockFile } from '../../shared/src/release';
import { sampleServiceSource } from '../fixtures/sample-service/stage';
import { startAdoContractServer, type AdoContractServer } from '../support/ado-contract-server';
import { ARTIFACT_MEDIA_TYPES, attachSbom, listRegistry, referrersOf, signImage } from '../support/attach';
import { requireEngine } from '../support/engine';
import { needOrSkip } from '../support/env';
import { bundleOnce, dockerConfigSnapshot, escapeRegExp, filesContaining, registryEndpoint, type Endpoint } from '../support/harness';
import { requireHelm, runHelm } from '../support/helm';
import { fetchManifest } from '../support/images';
import { describeStep, runPipeline, skippedSteps, type PipelineRun, type PipelineRunOptions, type StepRecord } from '../support/pipeline';
import { requireRegistry, startRegistry, type TestRegistry } from '../support/registries';

const PIPELINE = path.join(sampleServiceSource, 'azure-pipelines.yml');
const REPOSITORY_PATH = 'examples/delivery';
/** The names the YAML gives its service connection and its environment. */
const CONNECTION = 'delivery-acr';
const ENVIRONMENT = 'delivery-prod';

/** The text of `name` inside a .tgz. */
function fileInPackage(tgz: string, name: string): string {
  const entry = readTarGz(fs.readFileSync(tgz), tgz).find((e) => e.name === name);
  if (!entry) throw new Error(`${tgz} has no ${name}`);
  return entry.data.toString('utf8');
}

function stepNamed(run: PipelineRun, label: string): StepRecord {
  const step = run.steps.find((s) => s.label === label);
  assert.ok(step, `the run has no step '${label}'`);
  return step;
}

function readLock(file: string): LockFile {
  return parseLock(fs.readFileSync(file, 'utf8'), file);
}

function onlyEntry<K extends 'image' | 'chart'>(lock: LockFile, kind: K): K extends 'image' ? LockedImage : LockedChart {
  const entries = lock.entries.filter((e) => e.kind === kind);
  assert.equal(entries.length, 1, `one ${kind} in the lock file: ${JSON.stringify(lock.entries)}`);
  return entries[0] as K extends 'image' ? LockedImage : LockedChart;
}

describe('examples/delivery/azure-pipelines.yml, run as written (bundled tasks, real engine, registry, helm)', function () {
  let docker: Dockerode;
  let registry: TestRegistry;
  let ado: AdoContractServer;
  let workRoot: string;
  let dockerConfigBefore: string;
  /** A commit id of this test's own: the pipeline labels its images with it (org.opencontainers.image.revision). */
  const sourceVersion = crypto.randomBytes(20).toString('hex');
  const buildId = String(4000 + (process.pid % 5000));

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    requireHelm(this);
    // The YAML's first step installs busybox-static when the agent lacks it; here it must already be there.
    needOrSkip(
      this,
      spawnSync('dpkg', ['-s', 'busybox-static']).status === 0,
      'busybox-static (the sample copies /bin/busybox into its image)',
    );
    await bundleOnce();
    registry = await startRegistry('htpasswd');
    ado = await startAdoContractServer();
    workRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-pipeline-'));
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    if (docker) {
      for (const image of await docker.listImages({ filters: { label: [`org.opencontainers.image.revision=${sourceVersion}`] } }))
        await docker.getImage(image.Id).remove({ force: true });
    }
    await ado?.close();
    await registry?.stop();
    if (workRoot) fs.rmSync(workRoot, { recursive: true, force: true });
  });

  /** A run of the pipeline as the server would queue it for this change. */
  const queue = (variables: Record<string, string>, extra: Partial<PipelineRunOptions> = {}): Promise<PipelineRun> => {
    const connection: Endpoint = registryEndpoint(crypto.randomUUID(), registry.url, registry.users[0]);
    return runPipeline({
      file: PIPELINE,
      parameters: { registry: registry.host },
      variables: {
        'Build.BuildId': buildId,
        'Build.BuildNumber': '20260102.3',
        'Build.BuildUri': `vstfs:///Build/Build/${buildId}`,
        'Build.SourceVersion': sourceVersion,
        'Build.Repository.Name': 'outer-loop',
        'Build.Repository.Uri': 'https://dev.azure.com/contoso/delivery/_git/outer-loop',
        'System.TeamFoundationCollectionUri': ado.url,
        'System.TeamProject': ado.project,
        ...variables,
      },
      changedPaths: [`${REPOSITORY_PATH}/src/greet.sh`],
      checkout: (sources) =>
        fs.cpSync(sampleServiceSource, path.join(sources, REPOSITORY_PATH), {
          recursive: true,
          filter: (f) => path.basename(f) !== 'busybox',
        }),
      serviceConnections: { [CONNECTION]: connection },
      systemConnection: { id: 'SystemVssConnection', url: ado.url, scheme: 'OAuth', parameters: { AccessToken: ado.token } },
      workRoot: fs.mkdtempSync(path.join(workRoot, 'run-')),
      approve: (environment) => environment === ENVIRONMENT,
      log: (line) => console.log(`      ${line}`),
      ...extra,
    });
  };

  /** What the run did not run, and what the test stood in for: in the test's output, for whoever reads it. */
  const report = (run: PipelineRun) => {
    console.log(
      `      not run here:\n${skippedSteps(run)
        .map((s) => `        ${describeStep(s)}`)
        .join('\n')}`,
    );
    for (const note of run.notes) console.log(`      ${note}`);
  };

  /** No registry password, token or job access token in any output or any file the run left. */
  const assertNoSecrets = (run: PipelineRun, root: string) => {
    const secrets = [...registry.secrets(), ado.token];
    for (const step of run.steps) {
      const raw = `${step.run?.stdout ?? ''}${step.run?.stderr ?? ''}${step.output ?? ''}`;
      for (const secret of secrets) assert.ok(!raw.includes(secret), `a secret reached the output of ${describeStep(step)}`);
      if (step.run) assert.deepEqual(filesContaining(step.run.tempDirectory, secrets), []);
    }
    assert.deepEqual(filesContaining(root, secrets), [], 'a secret was left in a file of the run');
    assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
  };

  /** RunContainerTests removed its container (it carries the image's labels, the revision among them). */
  const assertNoContainersLeft = async () =>
    assert.deepEqual(
      await docker.listContainers({ all: true, filters: { label: [`org.opencontainers.image.revision=${sourceVersion}`] } }),
      [],
    );

  it('a pull request: the validation build tests and publishes the results, and pushes and deploys nothing', async () => {
    const run = await queue({
      'Build.Reason': 'PullRequest',
      'Build.SourceBranch': 'refs/pull/17/merge',
      'System.PullRequest.TargetBranch': 'refs/heads/main',
      'System.PullRequest.SourceBranch': 'refs/heads/topic/greeting',
    });
    report(run);
    const ran = run.steps.filter((s) => s.result !== 'Skipped').map((s) => s.label);
    assert.deepEqual(
      ran,
      ['Put a static busybox in the build context', 'testrunner', 'tests', 'results', 'publish test-results'],
      run.steps.map(describeStep).join('\n'),
    );
    for (const label of ['runtime', 'push', 'chart'])
      assert.match(stepNamed(run, label).skipped ?? '', /^condition .* is false$/, `${label} does not run for a pull request`);
    assert.deepEqual(
      run.stages.map((s) => [s.name, s.result]),
      [
        ['ci', 'Succeeded'],
        ['cd', 'Skipped'],
      ],
    );
    assert.equal(run.result, 'Succeeded');
    assert.deepEqual(await listRegistry(registry), {}, 'nothing was pushed');
    assert.deepEqual([...run.artifacts.keys()], ['test-results']);
    assertNoSecrets(run, workRoot);
    await assertNoContainersLeft();
  });

  it('a release branch: CI tests, pushes by digest and pins the chart; CD promotes the lock into prod/; the chain holds', async () => {
    ado.runs.clear();
    // What a signing step does between CI and CD: a signature and an SBOM attached to the pushed digest.
    const attached: { signature?: string; sbom?: string } = {};
    const run = await queue(
      { 'Build.Reason': 'IndividualCI', 'Build.SourceBranch': 'refs/heads/release/delivery/1.4.0' },
      {
        afterStage: async (stage, soFar) => {
          if (stage.name !== 'ci' || stage.result !== 'Succeeded') return;
          const digest = stepNamed(soFar, 'push').run!.outputs.digest;
          attached.signature = (await signImage(registry, 'delivery', digest)).digest;
          attached.sbom = (await attachSbom(registry, 'delivery', digest)).digest;
          console.log(`      between the stages: signed delivery@${digest} and attached an SBOM, as a signing step would`);
        },
      },
    );
    const summary = run.steps.map(describeStep).join('\n');
    report(run);

    // Every step ran, each of ours succeeded; only HelmDeploy was left out, because it is not ours.
    assert.equal(run.result, 'Succeeded', summary);
    assert.deepEqual(
      run.steps.map((s) => [s.stage, s.label, s.result]),
      [
        ['ci', 'Put a static busybox in the build context', 'Succeeded'],
        ['ci', 'testrunner', 'Succeeded'],
        ['ci', 'tests', 'Succeeded'],
        ['ci', 'results', 'Succeeded'],
        ['ci', 'publish test-results', 'Succeeded'],
        ['ci', 'runtime', 'Succeeded'],
        ['ci', 'push', 'Succeeded'],
        ['ci', 'chart', 'Succeeded'],
        ['cd', 'download image-lock', 'Succeeded'],
        ['cd', 'promote', 'Succeeded'],
        ['cd', 'helm upgrade delivery', 'Skipped'],
      ],
      summary,
    );
    assert.deepEqual(
      skippedSteps(run).map((s) => s.skipped),
      ["HelmDeploy@0 is not one of this repository's tasks: not run here"],
    );
    assert.ok(
      run.notes.includes(`environment ${ENVIRONMENT}: its approvals and checks passed (answered by the test, as an approver would)`),
    );
    const [ci, cd] = run.stages;
    const [build] = ci.jobs;
    const [prod] = cd.jobs;
    assert.deepEqual([prod.kind, prod.environment], ['deployment', ENVIRONMENT]);

    // The tests ran in the test runner and their results reached the Tests tab (the Test API contract server).
    const tests = stepNamed(run, 'tests').run!;
    assert.deepEqual(tests.outputs, { exitCode: '0', resultsDirectory: path.join(build.workspace, 'TestResults'), resultFiles: '2' });
    const results = stepNamed(run, 'results').run!;
    assert.deepEqual([results.outputs.totalTests, results.outputs.passedTests, results.outputs.failedTests], ['4', '4', '0']);
    assert.deepEqual(ado.violations, []);
    assert.equal(ado.runs.size, 1);
    assert.equal([...ado.runs.values()][0].resultCount, 4);
    assert.deepEqual(fs.readdirSync(run.artifacts.get('test-results')!).sort(), ['junit.xml', 'results.trx']);

    // The runtime image: built from the final stage, pushed by digest under both tags.
    const runtime = stepNamed(run, 'runtime').run!;
    const pushed = stepNamed(run, 'push').run!;
    const digest = pushed.outputs.digest;
    const imageRepository = `${registry.host}/delivery`;
    assert.equal(runtime.outputs.imageName, `${imageRepository}:${buildId}`);
    const image = await docker.getImage(runtime.outputs.imageId).inspect();
    assert.deepEqual(image.Config.Entrypoint, ['/app/bin/greet']);
    assert.ok(image.RepoDigests.includes(`${imageRepository}@${digest}`), 'the image built is the image pushed');
    // The tests ran in the test runner, not in this image: both come from the same commit, and the runtime image is
    // the tested base plus only the service the build stage made (its last layer).
    const testRunner = await docker.getImage(stepNamed(run, 'testrunner').run!.outputs.imageId).inspect();
    for (const built of [image, testRunner]) assert.equal(built.Config.Labels['org.opencontainers.image.revision'], sourceVersion);
    assert.deepEqual(testRunner.RootFS.Layers!.slice(0, image.RootFS.Layers!.length - 1), image.RootFS.Layers!.slice(0, -1));
    assert.equal(pushed.outputs.pinnedImage, `${imageRepository}@${digest}`);
    for (const tag of [buildId, '1.4.0']) assert.equal((await fetchManifest(registry, 'delivery', tag)).digest, digest, `delivery:${tag}`);

    // The chart: version from the branch, the pushed digest pinned in its values, pushed by digest.
    const chart = stepNamed(run, 'chart').run!;
    assert.equal(chart.outputs.chartVersion, '1.4.0');
    const values = yaml.parse(fileInPackage(chart.outputs.chartPackage, 'delivery/values.yaml')) as { image: Record<string, string> };
    assert.deepEqual([values.image.repository, values.image.digest], [imageRepository, digest], 'the chart pins the pushed image');
    const chartDigest = chart.outputs.chartDigest;
    assert.equal(chart.outputs.chartReference, `oci://${registry.host}/helm/delivery@${chartDigest}`);
    assert.equal((await fetchManifest(registry, 'helm/delivery', '1.4.0')).digest, chartDigest);

    // The lock artifact CD downloaded lists exactly that image and that chart.
    const lock = readLock(path.join(run.artifacts.get('image-lock')!, 'image-lock.json'));
    const lockedImage = onlyEntry(lock, 'image');
    const lockedChart = onlyEntry(lock, 'chart');
    assert.deepEqual([lockedImage.repository, lockedImage.digest], [imageRepository, digest]);
    assert.deepEqual(
      [lockedChart.repository, lockedChart.version, lockedChart.digest, lockedChart.images],
      [`oci://${registry.host}/helm/delivery`, '1.4.0', chartDigest, [{ repository: imageRepository, digest }]],
    );
    assert.deepEqual(
      fs.readFileSync(path.join(prod.workspace, 'image-lock', 'image-lock.json'), 'utf8'),
      fs.readFileSync(path.join(run.artifacts.get('image-lock')!, 'image-lock.json'), 'utf8'),
      'download: current put the artifact in $(Pipeline.Workspace)/image-lock',
    );

    // Promoted: the same digests in prod/, the signature and the SBOM beside the image.
    const promote = stepNamed(run, 'promote').run!;
    const prodImage = `${registry.host}/prod/delivery`;
    assert.equal(promote.outputs.pinned_delivery, `${prodImage}@${digest}`);
    assert.equal(promote.outputs.chart_delivery, `oci://${registry.host}/prod/helm/delivery@${chartDigest}`);
    const promotedLock = readLock(promote.outputs.promotedLockFile);
    assert.deepEqual(
      promotedLock.entries.map((e) => [e.kind, e.pinnedReference]),
      [
        ['image', `${prodImage}@${digest}`],
        ['chart', `oci://${registry.host}/prod/helm/delivery@${chartDigest}`],
      ],
    );
    assert.deepEqual(readLock(path.join(run.artifacts.get('promoted-lock')!, 'promoted-lock.json')), promotedLock);
    for (const tag of [buildId, '1.4.0'])
      assert.equal((await fetchManifest(registry, 'prod/delivery', tag)).digest, digest, `prod/delivery:${tag}`);
    assert.equal(
      (await fetchManifest(registry, 'prod/helm/delivery', '1.4.0')).digest,
      chartDigest,
      'the chart in prod is the chart CI pushed',
    );
    const referrers = await referrersOf(registry, 'prod/delivery', digest);
    assert.deepEqual(
      referrers.referrers.map((r) => [r.artifactType, r.digest]).sort(),
      [
        [ARTIFACT_MEDIA_TYPES.cosignSignature, attached.signature],
        [ARTIFACT_MEDIA_TYPES.spdxJson, attached.sbom],
      ].sort(),
      'the signature and the SBOM went along',
    );

    // What HelmDeploy would deploy: the chart by version from prod/, the image repository set to the promoted one.
    const deploy = stepNamed(run, 'helm upgrade delivery');
    assert.equal(deploy.inputs!.chartName, `oci://${registry.host}/prod/helm/delivery`);
    assert.equal(deploy.inputs!.chartVersion, '1.4.0');
    assert.equal(deploy.inputs!.overrideValues, `image.repository=${prodImage}`);
    const user = registry.users[0];
    const rendered = await runHelm([
      'template',
      deploy.inputs!.releaseName,
      deploy.inputs!.chartName,
      '--version',
      deploy.inputs!.chartVersion,
      '--set',
      deploy.inputs!.overrideValues,
      '--plain-http',
      '--username',
      user.username,
      '--password',
      user.password,
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, new RegExp(`image: "${escapeRegExp(prodImage)}@${digest}"`), 'helm renders the promoted image by digest');

    assertNoSecrets(run, workRoot);
    await assertNoContainersLeft();
  });
});
