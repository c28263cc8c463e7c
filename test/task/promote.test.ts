// PromoteImage@1 run from its bundle exactly as the agent runs it, against real distribution registries on loopback.
import { strict as assert } from 'node:assert';
import { attachCosignTag, referrersOf, signImage } from '../support/attach';
import { startFaultProxy } from '../support/fault-proxy';
import {
  bundleOnce,
  describeRun,
  registryEndpoint,
  runBundledTask,
  assertFailedCleanly,
  assertNoSecrets,
  uploadedSummary,
} from '../support/harness';
import { fetchManifest, listTags, pushIndex, pushRandomImage } from '../support/images';
import { requireRegistry, sharedRegistry, userOf, type TestRegistry } from '../support/registries';

const TASK = 'PromoteImage';

describe('PromoteImage@1 task (bundle run as the agent runs it, real registries)', function () {
  let anonymous: TestRegistry;
  before(async function () {
    requireRegistry(this);
    await bundleOnce();
    anonymous = await sharedRegistry('anonymous');
  });

  it('promotes host/app:v1 to host/prod/app:v1 with the same digest and sets the outputs', async () => {
    const source = await pushRandomImage(anonymous, 'task-promote/app', 'v1', { layers: 3, seed: 101 });
    const run = await runBundledTask(TASK, { reader: 'late', inputs: { sourceImage: `${anonymous.host}/task-promote/app:v1` } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(run.outputs.digest, source.digest);
    assert.equal(run.outputs.promotedImage, `${anonymous.host}/prod/task-promote/app@${source.digest}`);
    const promoted = await fetchManifest(anonymous, 'prod/task-promote/app', 'v1', null);
    assert.equal(promoted.digest, source.digest);
    assert.ok(promoted.bytes.equals(source.manifest), 'the manifest bytes are the original ones');
    const summary = uploadedSummary(run);
    assert.equal(summary.title, 'Promoted app v1');
    assert.match(summary.markdown, new RegExp(`\\| Promoted \\| \`${anonymous.host}/prod/task-promote/app@${source.digest}\` \\|`));
  });

  it('adds additionalTags on the same digest, and a re-run succeeds without writing anything', async () => {
    const source = await pushRandomImage(anonymous, 'task-rerun/app', 'v2', { layers: 2, seed: 102 });
    const proxy = await startFaultProxy({ target: anonymous.url, faultRate: 0 });
    try {
      const inputs = { sourceImage: `${proxy.host}/task-rerun/app:v2`, additionalTags: 'stable\nv2-approved' };
      const first = await runBundledTask(TASK, { inputs });
      assert.equal(first.result, 'Succeeded', describeRun(first));
      assert.deepEqual(await listTags(anonymous, 'prod/task-rerun/app', null), ['stable', 'v2', 'v2-approved']);
      for (const tag of ['v2', 'stable', 'v2-approved']) {
        assert.equal((await fetchManifest(anonymous, 'prod/task-rerun/app', tag, null)).digest, source.digest, tag);
      }
      proxy.reset();
      const again = await runBundledTask(TASK, { inputs });
      assert.equal(again.result, 'Succeeded', describeRun(again));
      assert.equal(again.outputs.digest, source.digest);
      const counts = proxy.counts();
      assert.equal(counts.manifestPuts, 0, 'no manifest written on a re-run');
      assert.equal(counts.uploadStarts + counts.mounts, 0, 'no blob written on a re-run');
    } finally {
      await proxy.stop();
    }
  });

  it('refuses to move a target tag that points at another digest, moves nothing, and says how to allow it', async () => {
    const old = await pushRandomImage(anonymous, 'prod/task-clobber/app', 'v1', { layers: 1, seed: 103 });
    const source = await pushRandomImage(anonymous, 'task-clobber/app', 'v1', { layers: 1, seed: 104 });
    const inputs = { sourceImage: `${anonymous.host}/task-clobber/app:v1`, additionalTags: 'latest-approved' };
    const refused = await runBundledTask(TASK, { inputs });
    assertFailedCleanly(refused, /allowOverwrite/);
    assert.equal((await fetchManifest(anonymous, 'prod/task-clobber/app', 'v1', null)).digest, old.digest, 'tag untouched');
    assert.deepEqual(await listTags(anonymous, 'prod/task-clobber/app', null), ['v1'], 'no other tag written either');

    const allowed = await runBundledTask(TASK, { inputs: { ...inputs, allowOverwrite: 'true' } });
    assert.equal(allowed.result, 'Succeeded', describeRun(allowed));
    assert.equal((await fetchManifest(anonymous, 'prod/task-clobber/app', 'v1', null)).digest, source.digest);
  });

  it('copies a multi-arch index whole, keeping its digest and its children', async () => {
    const index = await pushIndex(anonymous, 'task-index/app', '1.0', { layers: 2, seed: 105 });
    const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-index/app:1.0` } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(run.outputs.digest, index.digest);
    assert.equal((await fetchManifest(anonymous, 'prod/task-index/app', '1.0', null)).digest, index.digest);
    assert.equal(index.children.length, 2, 'pushIndex makes an amd64 and an arm64 image');
    for (const child of index.children) {
      assert.equal((await fetchManifest(anonymous, 'prod/task-index/app', child.digest, null)).status, 200);
    }
  });

  it('copies the signature and the cosign tag attached to the image, unless copyReferrers is false', async () => {
    const source = await pushRandomImage(anonymous, 'task-signed/app', 'v1', { layers: 1, seed: 113 });
    const signature = await signImage(anonymous, source.repo, source.digest);
    const sig = await attachCosignTag(anonymous, source.repo, source.digest, 'sig');
    const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-signed/app:v1` } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.ok(run.lines.includes(`Referrers: 2 copied, 0 already in ${anonymous.host}/prod/task-signed/app`), run.lines.join('\n'));
    const found = await referrersOf(anonymous, 'prod/task-signed/app', source.digest, { auth: null });
    assert.deepEqual(found.referrers, [signature.descriptor]);
    assert.equal(found.cosign.sig?.digest, sig.digest);

    const bare = await runBundledTask(TASK, {
      inputs: { sourceImage: `${anonymous.host}/task-signed/app:v1`, targetNamespace: 'bare', copyReferrers: 'false' },
    });
    assert.equal(bare.result, 'Succeeded', describeRun(bare));
    assert.deepEqual(await listTags(anonymous, 'bare/task-signed/app', null), ['v1'], 'no referrers tag, no cosign tag');
  });

  describe('bad input: one clear Failed line naming the input', () => {
    it('a malformed source reference', async () => {
      const run = await runBundledTask(TASK, { inputs: { sourceImage: 'Team/SVC::1.4.0' } });
      assertFailedCleanly(run, /sourceImage.*Team\/SVC::1\.4\.0/);
    });

    it('a tag@digest whose tag points elsewhere', async () => {
      const source = await pushRandomImage(anonymous, 'task-bad/app', 'v1', { layers: 1, seed: 106 });
      const other = await pushRandomImage(anonymous, 'task-bad/app', 'v0', { layers: 1, seed: 107 });
      assert.notEqual(source.digest, other.digest);
      const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-bad/app:v1@${other.digest}` } });
      assertFailedCleanly(run, /sourceImage/);
      assert.deepEqual(await listTags(anonymous, 'prod/task-bad/app', null), []);
    });

    it('an unknown repository', async () => {
      const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-bad/does-not-exist:v1` } });
      assertFailedCleanly(run, /sourceImage/);
    });

    it('a digest-only source without a tagged target', async () => {
      const source = await pushRandomImage(anonymous, 'task-bad/digest-only', 'v1', { layers: 1, seed: 108 });
      const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-bad/digest-only@${source.digest}` } });
      assertFailedCleanly(run, /targetImage/);
    });

    it('a registry that is down', async () => {
      const run = await runBundledTask(TASK, { inputs: { sourceImage: '127.0.0.1:9/app:v1' } });
      assertFailedCleanly(run, /sourceImage|127\.0\.0\.1:9/);
    });

    it('a boolean that is not true or false', async () => {
      const run = await runBundledTask(TASK, { inputs: { sourceImage: `${anonymous.host}/task-promote/app:v1`, allowOverwrite: 'yes' } });
      assertFailedCleanly(run, /input 'allowOverwrite' must be true or false/);
    });
  });

  describe('with a service connection', () => {
    it('htpasswd: promotes with the connection and leaks neither the password nor user:pass', async () => {
      const registry = await sharedRegistry('htpasswd');
      const user = registry.users[0];
      const source = await pushRandomImage(registry, 'task-auth/app', 'v1', { layers: 2, seed: 109 });
      const run = await runBundledTask(TASK, {
        inputs: { containerRegistry: 'reg', sourceImage: `${registry.host}/task-auth/app:v1` },
        endpoints: [registryEndpoint('reg', registry.url, user)],
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.equal(run.outputs.digest, source.digest);
      assert.deepEqual(run.secrets, [], 'nothing sent as ##vso[task.setsecret]: that would print the value on raw stdout');
      assertNoSecrets(run, registry.secrets());
    });

    it('htpasswd: a wrong password is one line naming containerRegistry', async () => {
      const registry = await sharedRegistry('htpasswd');
      const wrong = { username: registry.users[0].username, password: 'wr0ng-Outer-Loop-pass' };
      const run = await runBundledTask(TASK, {
        inputs: { containerRegistry: 'reg', sourceImage: `${registry.host}/task-auth/app:v1` },
        endpoints: [registryEndpoint('reg', registry.url, wrong)],
      });
      assertFailedCleanly(run, /containerRegistry/);
      assertNoSecrets(run, [wrong.password, Buffer.from(`${wrong.username}:${wrong.password}`).toString('base64')]);
    });

    it('token auth: promotes with one token flow and never prints an issued token', async () => {
      const registry = await sharedRegistry('token');
      const source = await pushRandomImage(registry, 'task-token/app', 'v1', { layers: 2, seed: 110 });
      const run = await runBundledTask(TASK, {
        inputs: { containerRegistry: 'reg', sourceImage: `${registry.host}/task-token/app:v1` },
        endpoints: [registryEndpoint('reg', registry.url, userOf(registry, 'promoter'))],
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.equal((await fetchManifest(registry, 'prod/task-token/app', 'v1')).digest, source.digest);
      assertNoSecrets(run, registry.secrets());
    });

    it('token auth: a pull-only user is refused clearly and nothing is written', async () => {
      const registry = await sharedRegistry('token');
      await pushRandomImage(registry, 'task-token/readonly', 'v1', { layers: 1, seed: 111 });
      const run = await runBundledTask(TASK, {
        inputs: { containerRegistry: 'reg', sourceImage: `${registry.host}/task-token/readonly:v1` },
        endpoints: [registryEndpoint('reg', registry.url, userOf(registry, 'reader'))],
      });
      assertFailedCleanly(run, /containerRegistry|denied|push/i);
      assert.deepEqual(await listTags(registry, 'prod/task-token/readonly'), []);
      assertNoSecrets(run, registry.secrets());
    });

    it('targetContainerRegistry: copies from the anonymous registry into the htpasswd one, same digest', async () => {
      const target = await sharedRegistry('htpasswd');
      const source = await pushRandomImage(anonymous, 'task-cross/app', 'v3', { layers: 3, seed: 112 });
      const run = await runBundledTask(TASK, {
        inputs: {
          sourceImage: `${anonymous.host}/task-cross/app:v3`,
          targetImage: `${target.host}/prod/task-cross/app:v3`,
          targetContainerRegistry: 'target',
        },
        endpoints: [registryEndpoint('target', target.url, target.users[0])],
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.equal(run.outputs.promotedImage, `${target.host}/prod/task-cross/app@${source.digest}`);
      assert.equal((await fetchManifest(target, 'prod/task-cross/app', 'v3')).digest, source.digest);
      assertNoSecrets(run, target.secrets());
    });
  });
});
