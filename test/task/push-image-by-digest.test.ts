// PushImageByDigest@1 run from its bundle exactly as the agent runs it, against the real engine and real distribution
// registries on loopback.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { parseLock } from '../../shared/src/release';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { startFaultProxy } from '../support/fault-proxy';
import {
  bundleOnce,
  describeRun,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  type TaskRun,
  assertFailedCleanly,
  assertNoSecrets,
  dockerConfigSnapshot,
  escapeRegExp,
  uploadedSummary,
} from '../support/harness';
import { fetchManifest, listTags } from '../support/images';
import { makeImmutable, undoReadOnly } from '../support/readonly';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';

const TASK = 'PushImageByDigest';

describe('PushImageByDigest@1 task (bundle run as the agent runs it, real engine, real registries)', function () {
  let docker: Dockerode;
  let source: string;
  let other: string;
  let work: string;
  let dockerConfigBefore: string;
  const agentFolders: string[] = [];

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    await bundleOnce();
    source = `outerloop-test/push-task-source:${TEST_RUN_ID}`;
    other = `outerloop-test/push-task-other:${TEST_RUN_ID}`;
    await buildBusyboxImage(docker, { tag: source, layers: 2, bytesPerLayer: 64 * 1024, seed: `push-task-${TEST_RUN_ID}` });
    await buildBusyboxImage(docker, { tag: other, layers: 1, bytesPerLayer: 64 * 1024, seed: `push-task-other-${TEST_RUN_ID}` });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-push-task-'));
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const folder of agentFolders) fs.rmSync(folder, { recursive: true, force: true });
  });

  const push = async (options: RunOptions) => {
    const run = await runBundledTask(TASK, { ...options, inputs: { sourceImage: source, ...options.inputs } });
    agentFolders.push(run.tempDirectory);
    return run;
  };

  /** Every tag resolves, in the registry, to the digest the task reported, and the engine recorded it as a RepoDigest. */
  async function assertPinned(
    run: TaskRun,
    registry: TestRegistry,
    repo: string,
    tags: string[],
    auth?: { username: string; password: string },
  ) {
    assert.match(run.outputs.digest, /^sha256:[a-f0-9]{64}$/, describeRun(run));
    assert.equal(run.outputs.pinnedImage, `${registry.host}/${repo}@${run.outputs.digest}`);
    assert.equal(run.outputs.imageTags, tags.map((tag) => `${registry.host}/${repo}:${tag}`).join(','));
    for (const tag of tags) {
      const head = await fetchManifest(registry, repo, tag, auth ?? null);
      assert.equal(head.status, 200, `${repo}:${tag}`);
      assert.equal(head.digest, run.outputs.digest, `the registry's digest of ${repo}:${tag}`);
    }
    const inspected = await docker.getImage(source).inspect();
    assert.ok(inspected.RepoDigests.includes(run.outputs.pinnedImage), inspected.RepoDigests.join(' '));
  }

  it("anonymous registry: pushes every tag, the digest is the registry's and the engine's, the lock file is written and uploaded", async () => {
    const registry = await sharedRegistry('anonymous');
    const repo = 'task-push/app';
    const run = await push({
      reader: 'late',
      inputs: { repository: `${registry.host}/${repo}`, tags: '4711\nlatest' },
      variables: { 'Build.SourceVersion': 'c0ffee' },
    });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    await assertPinned(run, registry, repo, ['4711', 'latest']);

    const lockFile = path.join(run.tempDirectory, 'a', 'image-lock.json');
    const lock = parseLock(fs.readFileSync(lockFile, 'utf8'));
    assert.equal(lock.entries.length, 1);
    assert.deepEqual(
      { ...lock.entries[0], pushedAt: undefined },
      {
        kind: 'image',
        repository: `${registry.host}/${repo}`,
        tags: ['4711', 'latest'],
        digest: run.outputs.digest,
        pinnedReference: run.outputs.pinnedImage,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        buildId: '4711',
        sourceVersion: 'c0ffee',
        pushedAt: undefined,
      },
    );
    const uploads = run.commands.filter((c) => c.command === 'artifact.upload');
    assert.deepEqual(uploads, [
      { command: 'artifact.upload', properties: { containerfolder: 'image-lock', artifactname: 'image-lock' }, message: lockFile },
    ]);

    const summary = uploadedSummary(run);
    assert.equal(summary.title, 'Pushed image');
    for (const row of [
      `| Repository | \`${registry.host}/${repo}\` |`,
      `| Tags | \`${registry.host}/${repo}:4711\`, \`${registry.host}/${repo}:latest\` |`,
      `| Digest | \`${run.outputs.digest}\` |`,
      `| Pinned reference | \`${run.outputs.pinnedImage}\` |`,
      `| Lock file | \`${lockFile}\` |`,
      '| Artifact | `image-lock` |',
    ]) {
      assert.ok(summary.markdown.split('\n').includes(row), `${row}\n${summary.markdown}`);
    }
  });

  it('merges a second push into the same lock file and uploads it again; a re-push of a tag moves it between entries', async () => {
    const registry = await sharedRegistry('anonymous');
    const lockFile = path.join(work, 'merge', 'image-lock.json');
    const common = { lockFile, artifactName: 'images' };
    const first = await push({ inputs: { ...common, repository: `${registry.host}/task-merge/api`, tags: '1\nstable' } });
    assert.equal(first.result, 'Succeeded', describeRun(first));
    const second = await push({ inputs: { ...common, repository: `${registry.host}/task-merge/web`, tags: '1' } });
    assert.equal(second.result, 'Succeeded', describeRun(second));
    for (const run of [first, second]) {
      assert.deepEqual(
        run.commands.filter((c) => c.command === 'artifact.upload').map((c) => [c.properties.artifactname, c.message]),
        [['images', lockFile]],
      );
    }
    let lock = parseLock(fs.readFileSync(lockFile, 'utf8'));
    assert.deepEqual(
      lock.entries.map((e) => [e.repository, e.tags.join(' ')]),
      [
        [`${registry.host}/task-merge/api`, '1 stable'],
        [`${registry.host}/task-merge/web`, '1'],
      ],
    );

    // Another image under api:stable: the tag leaves the first entry and a second api entry holds it.
    const moved = await push({ inputs: { ...common, repository: `${registry.host}/task-merge/api`, tags: 'stable', sourceImage: other } });
    assert.equal(moved.result, 'Succeeded', describeRun(moved));
    assert.notEqual(moved.outputs.digest, first.outputs.digest);
    lock = parseLock(fs.readFileSync(lockFile, 'utf8'));
    assert.deepEqual(
      lock.entries.map((e) => [e.repository, e.digest, e.tags.join(' ')]),
      [
        [`${registry.host}/task-merge/api`, first.outputs.digest, '1'],
        [`${registry.host}/task-merge/web`, second.outputs.digest, '1'],
        [`${registry.host}/task-merge/api`, moved.outputs.digest, 'stable'],
      ],
    );
  });

  it('does not upload the lock file when publishLockArtifact is false (it still writes it)', async () => {
    const registry = await sharedRegistry('anonymous');
    const run = await push({ inputs: { repository: `${registry.host}/task-push/quiet`, publishLockArtifact: 'false' } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.deepEqual(
      run.commands.filter((c) => c.command === 'artifact.upload'),
      [],
    );
    assert.ok(fs.existsSync(path.join(run.tempDirectory, 'a', 'image-lock.json')));
    assert.equal(run.outputs.imageTags, `${registry.host}/task-push/quiet:4711`, 'the default tag is $(Build.BuildId)');
  });

  for (const kind of ['htpasswd', 'token'] as const) {
    it(`${kind} registry: a repository path takes its host from the connection; nothing secret reaches the output, files or ~/.docker`, async () => {
      const registry = await sharedRegistry(kind);
      const user = registry.users[0];
      const repo = `team/task-${kind}`;
      const run = await push({
        inputs: { containerRegistry: 'reg', repository: repo, tags: `b${TEST_RUN_ID}\nlatest` },
        endpoints: [registryEndpoint('reg', registry.url, user)],
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      await assertPinned(run, registry, repo, [`b${TEST_RUN_ID}`, 'latest'], user);
      // The summary is among the files scanned: the connection's password is in no encoding in it.
      assert.ok(uploadedSummary(run).markdown.includes(run.outputs.pinnedImage));
      assert.ok(registry.secrets().includes(user.password), 'the password is among the secrets looked for');
      assertNoSecrets(run, registry.secrets());
      assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
    });
  }

  describe('bad input or refusal: one clear Failed line naming the input, nothing recorded', () => {
    it('a wrong password names containerRegistry and leaks nothing', async () => {
      const registry = await sharedRegistry('htpasswd');
      const wrong = { username: registry.users[0].username, password: 'wr0ng-Outer-Loop-pass' };
      const run = await push({
        inputs: { containerRegistry: 'reg', repository: 'team/denied' },
        endpoints: [registryEndpoint('reg', registry.url, wrong)],
      });
      assertFailedCleanly(run, /input 'containerRegistry'/);
      assertNoSecrets(run, [...registry.secrets(), wrong.password, Buffer.from(`${wrong.username}:${wrong.password}`).toString('base64')]);
      assert.ok(!fs.existsSync(path.join(run.tempDirectory, 'a', 'image-lock.json')), 'no lock entry for a failed push');
      assert.deepEqual(
        run.commands.filter((c) => c.command === 'artifact.upload'),
        [],
      );
    });

    it('no connection for a registry that wants one says to set containerRegistry', async () => {
      const registry = await sharedRegistry('htpasswd');
      const run = await push({ inputs: { repository: `${registry.host}/team/anonymous` } });
      assertFailedCleanly(run, /set input 'containerRegistry'/);
    });

    it('a repository that is not one', async () => {
      const run = await push({ inputs: { repository: '127.0.0.1:5000/Team/App' } });
      assertFailedCleanly(
        run,
        /^input 'repository' is '127\.0\.0\.1:5000\/Team\/App', which is not a repository: repository names are lower case/,
      );
    });

    it('a repository with a tag', async () => {
      const run = await push({ inputs: { repository: '127.0.0.1:5000/team/app:v1' } });
      assertFailedCleanly(run, /^input 'repository' .*a repository has no tag or digest/);
    });

    it('a tag that is not one', async () => {
      const registry = await sharedRegistry('anonymous');
      const run = await push({ inputs: { repository: `${registry.host}/task-push-badtag/app`, tags: 'ok\n-bad' } });
      assertFailedCleanly(run, /^input 'tags' holds '-bad', which is not a tag/);
      assert.deepEqual(await listTags(registry, 'task-push-badtag/app', null), [], 'nothing pushed, not even the good tag');
    });

    it('a source image that is not on the engine', async () => {
      const registry = await sharedRegistry('anonymous');
      const run = await push({
        inputs: { repository: `${registry.host}/task-bad/app`, sourceImage: `outerloop-test/never-built:${TEST_RUN_ID}` },
      });
      assertFailedCleanly(
        run,
        /source image 'outerloop-test\/never-built:.*' is not on the engine: build it first, or name another with sourceImage/,
      );
    });

    it('a lock file that cannot be merged into, before anything is pushed', async () => {
      const registry = await sharedRegistry('anonymous');
      const lockFile = path.join(work, 'broken-lock.json');
      fs.writeFileSync(lockFile, '{"images": [');
      const run = await push({ inputs: { repository: `${registry.host}/task-bad/locked`, lockFile } });
      assertFailedCleanly(run, /^input 'lockFile' names a file this push cannot be merged into: .* is not JSON/);
      assert.deepEqual(await listTags(registry, 'task-bad/locked', null), [], 'nothing pushed');
      assert.equal(fs.readFileSync(lockFile, 'utf8'), '{"images": [', 'the file is left as it was');
    });

    it('a lock file that becomes unwritable after the check says exactly what was pushed, and that it is not recorded', async function () {
      const registry = await sharedRegistry('anonymous');
      const repo = 'task-record/app';
      const folder = path.join(work, 'record-fails');
      fs.mkdirSync(folder);
      // A gate in front of the registry: once the manifest is put, the folder turns immutable before the task's
      // confirming HEAD is answered, so the record is what fails, after a proven-writable check and a real push.
      let put = false;
      let sealed = false;
      const gate = await startFaultProxy({
        target: registry.url,
        onRequest: (method, url) => {
          if (method === 'PUT' && url === `/v2/${repo}/manifests/1`) put = true;
          if (method === 'HEAD' && url === `/v2/${repo}/manifests/1` && put && !sealed) {
            sealed = true;
            makeImmutable(this, folder);
          }
        },
      });
      const host = gate.host;
      try {
        const run = await push({ inputs: { repository: `${host}/${repo}`, tags: '1', lockFile: path.join(folder, 'image-lock.json') } });
        assert.ok(sealed, 'the gate saw the push and sealed the folder');
        assertFailedCleanly(
          run,
          new RegExp(
            `^pushed ${escapeRegExp(host)}/task-record/app@sha256:[a-f0-9]{64} as ${escapeRegExp(host)}/task-record/app:1 but could not record it in lockFile '.*image-lock\\.json': EPERM`,
          ),
        );
        assert.deepEqual(await listTags(registry, repo, null), ['1'], 'the push happened, as the line says');
        assert.deepEqual(fs.readdirSync(folder), [], 'no lock file and no temporary file');
        assert.deepEqual(
          run.commands.filter((c) => c.command === 'artifact.upload'),
          [],
        );
      } finally {
        undoReadOnly();
        await gate.stop();
      }
    });

    it('an artifact name the agent would refuse', async () => {
      const run = await push({ inputs: { repository: '127.0.0.1:5000/team/app', artifactName: 'locks/images' } });
      assertFailedCleanly(run, /^input 'artifactName' is 'locks\/images': an artifact name cannot contain/);
    });
  });
});
