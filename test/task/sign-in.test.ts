// Issue 9, "Sign in to Azure Container Registry the way Azure DevOps users do", through the bundled tasks run as the
// agent runs them: each of the eight ways of signing in promotes, pushes through the real engine, pushes a chart and
// builds from a private base image, against a real distribution registry (`auth: token`) behind an ACR-like token
// service on one loopback origin (Azure/acr docs/AAD-OAuth.md: POST /oauth2/exchange, POST and Basic GET /oauth2/token),
// with contract servers for Azure DevOps' job OIDC route, Entra ID's v2.0 token endpoint and the instance metadata
// service (test/support/azure-identity.ts). No secret reaches any output or file; nothing is written to ~/.docker.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { MODE_TITLES, SIGN_IN_MODES, startSignInWorld, type SignInMode, type SignInWorld } from '../support/azure-signin';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL, untagImage } from '../support/engine';
import { repoRoot } from '../support/env';
import {
  assertNoSecrets,
  bundleOnce,
  describeRun,
  dockerConfigSnapshot,
  runBundledTask,
  type RunOptions,
  type TaskRun,
} from '../support/harness';
import { attachCosignTag, cosignTag } from '../support/attach';
import { fetchManifest, listTags, pushRandomImage } from '../support/images';
import { requireRegistry } from '../support/registries';

const CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');

/** What one promotion spent, per service, for the closing note's table. */
interface Spent {
  mode: SignInMode;
  ado: number;
  entra: number;
  imds: number;
  exchange: number;
  token: number;
  registry: number;
}

function withOptions(base: RunOptions, extra: RunOptions): RunOptions {
  return {
    ...base,
    ...extra,
    inputs: { ...base.inputs, ...extra.inputs },
    variables: { ...base.variables, ...extra.variables },
    env: { ...base.env, ...extra.env },
  };
}

describe('sign in to ACR the way Azure DevOps users do (issue 9; bundled tasks, real engine, real token-auth registry behind an ACR-like token service)', function () {
  let world: SignInWorld;
  let docker: Dockerode;
  let localImage: string;
  let work: string;
  let dockerConfigBefore: string;
  const spent: Spent[] = [];

  before(async function () {
    this.timeout(180_000);
    requireRegistry(this);
    docker = await requireEngine(this);
    await bundleOnce();
    world = await startSignInWorld();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-signin-'));
    dockerConfigBefore = dockerConfigSnapshot();
    // The private base image every build starts from, and the local image every push sends.
    await pushRandomImage(world.acr.seed, 'signin/base', 'v1', { layers: 2, seed: 901, mediaType: 'docker' });
    localImage = (
      await buildBusyboxImage(docker, {
        tag: `outerloop-test/signin-push:${TEST_RUN_ID}`,
        layers: 1,
        bytesPerLayer: 2048,
        seed: `signin-${TEST_RUN_ID}`,
      })
    ).tag;
  });

  after(async function () {
    this.timeout(60_000);
    if (spent.length > 0) {
      // The figures of the closing note: requests one promotion spends at each service, per way of signing in.
      const cells = (values: (string | number)[]) => values.map((v) => String(v).padStart(10)).join('');
      const rows = spent.map((s) => `${MODE_TITLES[s.mode].padEnd(66)}${cells([s.ado, s.entra, s.imds, s.exchange, s.token, s.registry])}`);
      const head = `${'mode'.padEnd(66)}${cells(['ADO OIDC', 'Entra', 'IMDS', 'exchange', 'token', 'registry'])}`;
      console.log(`\n      requests for one promotion (2-layer image, same registry)\n      ${head}\n      ${rows.join('\n      ')}\n`);
    }
    if (docker) {
      await removeTestImages(docker, { onlyThisRun: true });
      // The base the builds pulled carries no run label (its bytes are the same every run): untag this run's name of it.
      if (world) await untagImage(docker, `${world.acr.host}/signin/base:v1`);
    }
    await world?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  /** True when the front issued a token to a Basic GET of the null-GUID user (how the engine uses a refresh token). */
  function engineSignedInWithRefreshToken(): boolean {
    return world.acr.requests.some(
      (r) => r.kind === 'token' && r.method === 'GET' && r.grantType === 'refresh_token (basic)' && r.status === 200,
    );
  }

  /** Runs `task` signing in `mode`, checking what every run must: no secret anywhere, ~/.docker untouched. */
  async function run(task: string, mode: SignInMode, extra: RunOptions): Promise<TaskRun> {
    const result = await runBundledTask(task, withOptions(world.runOptions(mode), extra));
    assertNoSecrets(result, world.secrets());
    assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
    return result;
  }

  SIGN_IN_MODES.forEach((mode, index) => {
    describe(MODE_TITLES[mode], () => {
      const entra = !['docker-password', 'docker-service-principal', 'arm-secret'].includes(mode);

      it('PromoteImage: promotes by digest, one exchange and one token at most', async function () {
        this.timeout(60_000);
        const source = await pushRandomImage(world.acr.seed, `signin/${mode}/app`, 'v1', { layers: 2, seed: 910 + index });
        world.identity.reset();
        world.acr.reset();
        const result = await run('PromoteImage', mode, { inputs: { sourceImage: `${world.acr.host}/signin/${mode}/app:v1` } });
        const identity = world.identity.counts();
        const acr = world.acr.counts();
        assert.equal(result.result, 'Succeeded', describeRun(result));
        assert.equal(result.outputs.digest, source.digest);
        assert.equal((await fetchManifest(world.acr.seed, `prod/signin/${mode}/app`, 'v1')).digest, source.digest);
        spent.push({ mode, ...identity, ...acr });
        assert.equal(acr.exchange, entra ? 1 : 0, 'one exchange for an Entra identity, none otherwise');
        // A Docker Registry connection of type Others, to a host not named *.azurecr.io (here 127.0.0.1), learns from
        // the first tag listing's challenge that ACR lists tags for metadata_read: one token more. ACR connections,
        // Azure identities and *.azurecr.io hosts ask for it with the first token.
        assert.equal(acr.token, mode === 'docker-password' ? 2 : 1, 'one access token covers the whole promotion');
        assert.equal(
          identity.entra,
          ['docker-workload-identity', 'arm-workload-identity', 'arm-certificate'].includes(mode) ? 1 : 0,
          'Entra requests',
        );
        assert.equal(identity.ado, mode.endsWith('workload-identity') ? 1 : 0, 'OIDC requests');
        assert.equal(identity.imds, mode.endsWith('managed-identity') ? 1 : 0, 'IMDS requests');
      });

      it('PushImageByDigest: pushes through the real engine and confirms the digest with the registry', async function () {
        this.timeout(120_000);
        const repository = `${world.acr.host}/signin/${mode}/pushed`;
        world.acr.reset();
        const result = await run('PushImageByDigest', mode, {
          inputs: { repository, tags: 'v1', sourceImage: localImage, publishLockArtifact: 'false' },
        });
        assert.equal(result.result, 'Succeeded', describeRun(result));
        assert.equal(world.acr.counts().exchange, entra ? 1 : 0, 'the engine gets the refresh token of the exchange the digest check made');
        if (entra)
          assert.ok(engineSignedInWithRefreshToken(), 'the engine asked for its tokens as the null-GUID user with the refresh token');
        const stored = await fetchManifest(world.acr.seed, `signin/${mode}/pushed`, 'v1');
        assert.equal(result.outputs.digest, stored.digest);
        assert.equal(result.outputs.pinnedImage, `${repository}@${stored.digest}`);
      });

      it('PackageHelmChart: pushes the chart to the registry', async function () {
        this.timeout(60_000);
        const result = await run('PackageHelmChart', mode, {
          inputs: { chartPath: CHART, push: 'true', chartRepository: `${world.acr.host}/signin-charts/${mode}` },
        });
        assert.equal(result.result, 'Succeeded', describeRun(result));
        const tags = await listTags(world.acr.seed, `signin-charts/${mode}/sample-service`);
        assert.equal(tags.length, 1, `one chart version pushed: ${tags.join(', ')}`);
        assert.equal(
          result.outputs.chartDigest,
          (await fetchManifest(world.acr.seed, `signin-charts/${mode}/sample-service`, tags[0])).digest,
        );
      });

      // Every other mode builds with the classic builder (X-Registry-Config) instead of BuildKit (its session).
      const builder = index % 2 === 0 ? 'buildkit' : 'classic';
      it(`BuildTestRunner: builds from a private base image (${builder})`, async function () {
        this.timeout(120_000);
        const folder = fs.mkdtempSync(path.join(work, 'build-'));
        fs.writeFileSync(
          path.join(folder, 'Dockerfile'),
          `FROM ${world.acr.host}/signin/base:v1 AS testrunner\nLABEL outerloop.signin=${mode}\n`,
        );
        const imageName = `outerloop-test/signin-build-${mode}:${TEST_RUN_ID}`;
        world.acr.reset();
        const result = await run('BuildTestRunner', mode, {
          cwd: folder,
          inputs: {
            dockerfile: 'Dockerfile',
            imageName,
            pull: 'true',
            builder,
            labels: `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`,
          },
        });
        assert.equal(result.result, 'Succeeded', describeRun(result));
        if (entra) assert.ok(engineSignedInWithRefreshToken(), 'the engine pulled as the null-GUID user with the refresh token');
        const image = await docker.getImage(imageName).inspect();
        assert.equal(image.Config.Labels?.['outerloop.signin'], mode);
      });
    });
  });

  describe('a registry that sends Docker-Content-Digest as bare hex (treated as absent: the bytes are hashed)', () => {
    afterEach(() => world.acr.setBareHexDigest('off'));

    it('PromoteImage promotes when every answer carries the bare hex', async function () {
      this.timeout(60_000);
      const source = await pushRandomImage(world.acr.seed, 'signin/bare-hex/app', 'v1', { layers: 2, seed: 930 });
      world.acr.setBareHexDigest('all');
      const result = await run('PromoteImage', 'arm-workload-identity', {
        inputs: { sourceImage: `${world.acr.host}/signin/bare-hex/app:v1`, additionalTags: 'stable' },
      });
      assert.equal(result.result, 'Succeeded', describeRun(result));
      assert.equal(result.outputs.digest, source.digest);
      world.acr.setBareHexDigest('off');
      assert.deepEqual(await listTags(world.acr.seed, 'prod/signin/bare-hex/app'), ['stable', 'v1']);
      assert.equal((await fetchManifest(world.acr.seed, 'prod/signin/bare-hex/app', 'stable')).digest, source.digest);
    });

    it("PushImageByDigest's digest check holds when manifest reads carry the bare hex", async function () {
      this.timeout(120_000);
      world.acr.setBareHexDigest('reads');
      const repository = `${world.acr.host}/signin/bare-hex/pushed`;
      const result = await run('PushImageByDigest', 'docker-managed-identity', {
        inputs: { repository, tags: 'v1\nv1-again', sourceImage: localImage, publishLockArtifact: 'false' },
      });
      assert.equal(result.result, 'Succeeded', describeRun(result));
      world.acr.setBareHexDigest('off');
      const stored = await fetchManifest(world.acr.seed, 'signin/bare-hex/pushed', 'v1');
      assert.equal(result.outputs.digest, stored.digest);
      assert.match(result.stdout, /confirmed by the registry/);
    });
  });

  it('PromoteImage with an ACR token that may pull and push but not list tags (scope map without metadata/read): each tag looked up, the signature copied', async function () {
    this.timeout(60_000);
    const source = await pushRandomImage(world.acr.seed, 'signin/push-token/app', 'v1', { layers: 2, seed: 950 });
    const signature = await attachCosignTag(world.acr.seed, 'signin/push-token/app', source.digest, 'sig');
    world.acr.reset();
    const result = await runBundledTask(
      'PromoteImage',
      withOptions(world.scopedTokenOptions(), {
        inputs: { sourceImage: `${world.acr.host}/signin/push-token/app:v1`, additionalTags: 'stable' },
      }),
    );
    assertNoSecrets(result, world.secrets());
    assert.equal(result.result, 'Succeeded', describeRun(result));
    const refused = world.acr.requests.filter((r) => r.kind === 'registry' && r.path.includes('/tags/list') && r.status === 401);
    assert.ok(refused.length > 0, 'the registry refused to list tags for this token');
    assert.deepEqual(
      await listTags(world.acr.seed, 'prod/signin/push-token/app'),
      [cosignTag(source.digest, 'sig'), 'stable', 'v1'].sort(),
    );
    assert.equal(
      (await fetchManifest(world.acr.seed, 'prod/signin/push-token/app', cosignTag(source.digest, 'sig'))).digest,
      signature.digest,
    );
    const again = await runBundledTask(
      'PromoteImage',
      withOptions(world.scopedTokenOptions(), {
        inputs: { sourceImage: `${world.acr.host}/signin/push-token/app:v1`, additionalTags: 'stable' },
      }),
    );
    assert.equal(again.result, 'Succeeded', describeRun(again));
    assert.match(again.stdout, /Already promoted/);
  });

  it('PromoteImage across two ACR logins (Docker Registry WIF source, AzureRM managed identity target): two exchanges, one per registry', async function () {
    this.timeout(60_000);
    // The same registry under a second login server name (localhost) makes the promotion cross-registry.
    const targetHost = world.acr.host.replace('127.0.0.1', 'localhost');
    const source = await pushRandomImage(world.acr.seed, 'signin/cross/app', 'v1', { layers: 2, seed: 940 });
    const target = world.runOptions('arm-managed-identity', 'target');
    const options = withOptions(world.runOptions('docker-workload-identity'), {
      inputs: {
        ...target.inputs,
        targetAzureContainerRegistry: targetHost,
        sourceImage: `${world.acr.host}/signin/cross/app:v1`,
        targetImage: `${targetHost}/prod/signin/cross/app:v1`,
      },
    });
    options.endpoints = [
      ...(options.endpoints ?? []),
      ...(target.endpoints ?? []).filter((e) => !(options.endpoints ?? []).some((o) => o.id === e.id)),
    ];
    world.identity.reset();
    world.acr.reset();
    const result = await runBundledTask('PromoteImage', options);
    assert.equal(result.result, 'Succeeded', describeRun(result));
    assertNoSecrets(result, world.secrets());
    assert.equal(result.outputs.digest, source.digest);
    assert.equal(world.acr.counts().exchange, 2, 'one exchange per identity and registry');
    assert.deepEqual(world.identity.counts(), { ado: 1, entra: 1, imds: 1 });
  });
});
