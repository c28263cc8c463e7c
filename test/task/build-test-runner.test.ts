// BuildTestRunner@1 run from its bundle exactly as the agent runs it, against the real engine, on the sample service.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { normalizeImageName } from '../../tasks/BuildTestRunner/src/inputs';
import { stageSampleService } from '../fixtures/sample-service/stage';
import {
  pushPrivateBaseImage,
  removeTestContainers,
  removeTestImages,
  requireEngine,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../support/engine';
import {
  bundleOnce,
  describeRun,
  filesContaining,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  assertFailedCleanly,
  dockerConfigSnapshot,
  uploadedSummary,
} from '../support/harness';
import { DEFAULT_USERS, requireRegistry, sharedRegistry } from '../support/registries';

const TASK = 'BuildTestRunner';
/** Passed through the task's own `labels` input, so cleanup finds every image the task builds here. */
const TEST_LABELS = `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`;

describe('BuildTestRunner@1: image names are made valid lower-case references', () => {
  it('lower-cases the repository name of the default and keeps the tag', () => {
    assert.equal(normalizeImageName('My.Repo-testrunner:4711'), 'my.repo-testrunner:4711');
    assert.equal(normalizeImageName('Contoso/Team Service-testrunner:20240611.3'), 'contoso/team-service-testrunner:20240611.3');
    assert.equal(normalizeImageName('MyAcr.AzureCR.io/Team/App:V1_rc'), 'myacr.azurecr.io/team/app:V1_rc');
    assert.equal(normalizeImageName('localhost:5000/a..b--c__d:1'), 'localhost:5000/a-b--c__d:1');
    assert.equal(normalizeImageName('_Repo_-testrunner'), 'repo-testrunner');
  });

  it('refuses what cannot be made a name, naming imageName', () => {
    assert.throws(() => normalizeImageName('app@sha256:' + 'a'.repeat(64)), /input 'imageName' .*tagged, not pinned/);
    assert.throws(() => normalizeImageName('!!!:1'), /input 'imageName' is '!!!:1', which is not an image name/);
  });

  it('rewrites nothing beyond the documented lower-casing: look-alike letters and bad tags are refused, not changed or cut', () => {
    assert.throws(
      () => normalizeImageName('sеrvice-testrunner:1'),
      /^InputError: input 'imageName' is 'sеrvice-testrunner:1', which is not an image name: 'е' \(U\+0435\) is not ASCII, though it looks like 'e'/,
    );
    assert.throws(
      () => normalizeImageName(`app:${'t'.repeat(200)}`),
      /input 'imageName' .* a tag has at most 128 characters, this one has 200$/,
    );
    assert.throws(
      () => normalizeImageName('app:release candidate'),
      /input 'imageName' .*tag 'release candidate' may contain only letters/,
    );
    assert.throws(() => normalizeImageName('https://r.io/app:1'), /input 'imageName' .*drop the 'https:\/\/' prefix/);
    assert.throws(
      () => normalizeImageName('app:1\nlatest'),
      /input 'imageName' is 'app:1\\nlatest', which is not an image name: it contains a line break$/,
    );
  });
});

describe('BuildTestRunner@1 task (bundle run as the agent runs it, real engine)', function () {
  let docker: Dockerode;
  let sample: string;
  let dockerConfigBefore: string;

  before(async function () {
    docker = await requireEngine(this);
    await bundleOnce();
    sample = stageSampleService();
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    if (sample) fs.rmSync(sample, { recursive: true, force: true });
    for (const folder of agentFolders) fs.rmSync(folder, { recursive: true, force: true });
  });

  /** The sample checked out at System.DefaultWorkingDirectory, as a pipeline job has it. */
  const agentFolders: string[] = [];
  const build = async (options: RunOptions = {}) => {
    const run = await runBundledTask(TASK, {
      ...options,
      inputs: { labels: TEST_LABELS, ...options.inputs },
      variables: { 'System.DefaultWorkingDirectory': sample, 'Build.Repository.Name': 'Sample.Service', ...options.variables },
    });
    agentFolders.push(run.tempDirectory);
    return run;
  };

  for (const builder of ['buildkit', 'classic'] as const) {
    it(`builds the testrunner stage with ${builder}, tagged with the default name made lower case, with pipeline labels`, async () => {
      const buildId = `${builder}-${TEST_RUN_ID}`;
      // A version of this run's own, so the RUN step that prints it is not answered from an earlier run's cache.
      const version = `2.3.4-${buildId}`;
      const run = await build({
        reader: 'late',
        inputs: { builder, buildArguments: `SERVICE_VERSION=${version}\n# a comment line` },
        variables: {
          'Build.Repository.Name': 'Outer.Loop Sample',
          'Build.BuildId': buildId,
          'Build.BuildNumber': '20260102.7',
          'Build.SourceVersion': 'f00dfeed',
          'Build.Repository.Uri': 'https://contoso@dev.azure.com/contoso/outer/_git/Outer.Loop%20Sample',
        },
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.equal(run.outputs.imageName, `outer.loop-sample-testrunner:${buildId}`);
      const image = await docker.getImage(run.outputs.imageName).inspect();
      assert.equal(run.outputs.imageId, image.Id);
      assert.deepEqual(image.Config.Cmd, ['sh', '/src/tests/run-tests.sh'], 'the testrunner stage, the default target');
      const labels = image.Config.Labels;
      assert.equal(labels['org.opencontainers.image.revision'], 'f00dfeed');
      assert.equal(
        labels['org.opencontainers.image.source'],
        'https://dev.azure.com/contoso/outer/_git/Outer.Loop%20Sample',
        'no user info in a label',
      );
      assert.equal(labels['org.opencontainers.image.version'], '20260102.7');
      assert.ok(!Number.isNaN(Date.parse(labels['org.opencontainers.image.created'])), labels['org.opencontainers.image.created']);
      assert.equal(labels[TEST_RUN_LABEL], TEST_RUN_ID);
      const log = run.lines.join('\n');
      assert.ok(log.includes(`built delivery ${version}`), `the build argument reached the RUN step\n${log}`);
      if (builder === 'buildkit') assert.ok(log.includes(`] RUN sh src/build.sh "${version}"`), log);
      else assert.match(log, /^Step \d+\/\d+ : RUN sh src\/build\.sh "\$SERVICE_VERSION"$/m);

      const summary = uploadedSummary(run);
      assert.equal(summary.title, 'Test runner image');
      const md = summary.markdown;
      assert.ok(md.includes(`| Image ID | \`${image.Id}\` |`), md);
      assert.ok(md.includes(`| Image | \`outer.loop-sample-testrunner:${buildId}\` |`), md);
      assert.ok(md.includes('| Stage | `testrunner` |'), md);
      assert.ok(md.includes(`| Builder | ${builder === 'buildkit' ? 'BuildKit' : 'classic builder'} |`), md);
      assert.match(md, /\| Cache \| \d+ of \d+ steps? from the cache \|/);
      assert.match(md, /\| Duration \| [\d.]+ (ms|s|min \d+ s) \|/);
      assert.ok(md.includes('| `org.opencontainers.image.revision` | `f00dfeed` |'), md);
      assert.ok(md.includes(`| \`${TEST_RUN_LABEL}\` | \`${TEST_RUN_ID}\` |`), md);
    });
  }

  for (const builder of ['buildkit', 'classic'] as const) {
    it(`says in its summary how many steps ${builder} took from its cache: all but the labels, built twice`, async () => {
      const inputs = { builder, target: 'base', addPipelineLabels: 'false' };
      const first = await build({ inputs: { ...inputs, imageName: `outerloop-test/cached-${builder}:a-${TEST_RUN_ID}` } });
      assert.equal(first.result, 'Succeeded', describeRun(first));
      const again = await build({ inputs: { ...inputs, imageName: `outerloop-test/cached-${builder}:b-${TEST_RUN_ID}` } });
      assert.equal(again.result, 'Succeeded', describeRun(again));
      const cache = /\| Cache \| (\d+) of (\d+) steps? from the cache \|/.exec(uploadedSummary(again).markdown);
      assert.ok(cache, uploadedSummary(again).markdown);
      const [cached, total] = [Number(cache[1]), Number(cache[2])];
      assert.ok(total > 0 && cached > 0, `${cached} of ${total} steps from the cache`);
      assert.ok(
        again.lines.filter((line) => /^#\d+ CACHED$|^ ---> Using cache$/.test(line)).length >= cached,
        'no more than the log shows as cached',
      );
    });
  }

  it('builds the last stage (the runtime image) when target is empty, without pipeline labels when told', async () => {
    const run = await build({
      inputs: { target: '', imageName: `outerloop-test/sample-final:${TEST_RUN_ID}`, addPipelineLabels: 'false' },
    });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    const image = await docker.getImage(`outerloop-test/sample-final:${TEST_RUN_ID}`).inspect();
    assert.deepEqual(image.Config.Entrypoint, ['/app/bin/greet']);
    assert.equal(image.Config.Labels['org.opencontainers.image.revision'], undefined);
    assert.ok(uploadedSummary(run).markdown.includes('| Stage | the last stage |'));
  });

  it('defangs ##vso[ and ##[ printed by a build step', async () => {
    fs.writeFileSync(
      path.join(sample, 'Hostile.Dockerfile'),
      'FROM scratch AS testrunner\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo \'##vso[task.setvariable variable=pwned]yes\'; echo \'##[error]from a build step\'"]\n',
    );
    const run = await build({
      inputs: { dockerfile: 'Hostile.Dockerfile', imageName: `outerloop-test/hostile:${TEST_RUN_ID}`, noCache: 'true' },
    });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.ok(!run.commands.some((c) => c.properties.variable === 'pwned'), 'the build step set a pipeline variable');
    assert.deepEqual(run.errors, [], 'the build step logged an error issue');
    assert.doesNotMatch(run.stdout, /##\[error\]/i);
    assert.match(run.stdout, /# #vso\[task\.setvariable variable=pwned\]yes/);
  });

  describe('a private base image through containerRegistry', () => {
    it('pulls it with the connection, per call: no secret in the output or in files, nothing written to ~/.docker', async function () {
      requireRegistry(this);
      const registry = await sharedRegistry('htpasswd');
      const user = registry.users[0];
      const base = await pushPrivateBaseImage(docker, sample, registry, 'task-build/private-base');
      fs.writeFileSync(path.join(sample, 'Private.Dockerfile'), `FROM ${base} AS testrunner\nRUN echo on the private base\n`);
      const run = await build({
        inputs: {
          dockerfile: 'Private.Dockerfile',
          containerRegistry: 'reg',
          pull: 'true',
          imageName: `outerloop-test/on-private:${TEST_RUN_ID}`,
        },
        endpoints: [registryEndpoint('reg', registry.url, user)],
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      const raw = run.stdout + run.stderr;
      assert.ok(registry.secrets().length >= 2 * DEFAULT_USERS.htpasswd.length, 'each user gives a password and a basic token to look for');
      for (const secret of registry.secrets()) assert.ok(!raw.includes(secret), `a secret reached the output (${secret.slice(0, 4)}…)`);
      assert.deepEqual(filesContaining(run.tempDirectory, registry.secrets()), [], 'a secret was left in a file');
      assert.deepEqual(run.secrets, [], 'nothing sent as ##vso[task.setsecret]');
      assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
    });
  });

  describe('bad input: one clear Failed line naming the input, nothing built', () => {
    it('a Dockerfile that does not exist', async () => {
      const run = await build({ inputs: { dockerfile: 'docker/Nope.Dockerfile' } });
      assertFailedCleanly(
        run,
        new RegExp(`^input 'dockerfile' names '${path.join(sample, 'docker', 'Nope.Dockerfile')}', which is not a file`),
      );
    });

    it('a target stage the Dockerfile does not have', async () => {
      const run = await build({ inputs: { target: 'tests' } });
      assertFailedCleanly(
        run,
        /^input 'target' is 'tests', but Dockerfile '.*' has no stage named 'tests' \(its stages: base, build, testrunner, final\)$/,
      );
    });

    it('a build argument line that is not KEY=VALUE', async () => {
      const run = await build({ inputs: { buildArguments: 'SERVICE_VERSION=1\nnot an argument' } });
      assertFailedCleanly(run, /^input 'buildArguments' has a line that is not KEY=VALUE: 'not an argument'$/);
    });

    it('a build context that is not a folder', async () => {
      const run = await build({ inputs: { buildContext: 'no-such-folder' } });
      assertFailedCleanly(run, /^input 'buildContext' names '.*no-such-folder', which is not a folder$/);
    });

    it('a builder that is not on the list, and a boolean that is not true or false', async () => {
      assertFailedCleanly(
        await build({ inputs: { builder: 'kaniko' } }),
        /^input 'builder' must be one of auto, buildkit, classic, got 'kaniko'$/,
      );
      assertFailedCleanly(await build({ inputs: { noCache: 'yes' } }), /^input 'noCache' must be true or false, got 'yes'$/);
    });

    it('an image name left with an undefined variable', async () => {
      // No Build.Repository.Name: the agent leaves the default's macro as it is.
      const run = await runBundledTask(TASK, { inputs: { labels: TEST_LABELS }, variables: { 'System.DefaultWorkingDirectory': sample } });
      agentFolders.push(run.tempDirectory);
      assertFailedCleanly(run, /^input 'imageName' holds '\$\(Build\.Repository\.Name\)', a variable this job does not define/);
    });

    for (const builder of ['buildkit', 'classic'] as const) {
      it(`a failing RUN step (${builder}): the step and its last output, no image tagged`, async () => {
        fs.writeFileSync(
          path.join(sample, 'Broken.Dockerfile'),
          'FROM scratch AS testrunner\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo compiling; echo error: missing semicolon >&2; exit 3"]\n',
        );
        const imageName = `outerloop-test/broken-${builder}:${TEST_RUN_ID}`;
        const run = await build({ inputs: { dockerfile: 'Broken.Dockerfile', imageName, builder } });
        assertFailedCleanly(
          run,
          /^build failed at .*exit 3"\]: .*(exit code: 3|non-zero code: 3).*last output: .*(compiling|missing semicolon)/,
        );
        await assert.rejects(docker.getImage(imageName).inspect(), (e: { statusCode?: number }) => e.statusCode === 404);
      });
    }
  });
});
