import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { pushImage, PushError, readLockFile, recordInLockFile, type ConfirmDigest } from '../../shared/src/docker/push';
import { memoryLog } from '../../shared/src/log';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { startFaultProxy } from '../support/fault-proxy';
import { MANIFEST_ACCEPT, SeedClient } from '../support/images';
import { requireRegistry, sharedRegistry, type TestRegistry, type TestUser } from '../support/registries';

/**
 * The registry's own answer for a tag (HEAD, Docker-Content-Digest), through the test support's independent client.
 * Stands in for the product's registry verb until shared/src/registry lands; the product wires that one in.
 */
function registryHead(registry: TestRegistry, user?: TestUser): ConfirmDigest {
  return async (repository, tag) => {
    assert.ok(repository.startsWith(`${registry.host}/`), repository);
    const repo = repository.slice(registry.host.length + 1);
    const res = await new SeedClient(registry, user).request('HEAD', `/v2/${repo}/manifests/${tag}`, {
      scope: `repository:${repo}:pull`,
      headers: { accept: MANIFEST_ACCEPT },
    });
    if (res.status !== 200) throw new Error(`HEAD ${repo}:${tag} → ${res.status}`);
    return { digest: res.headers.get('docker-content-digest') ?? '', mediaType: res.headers.get('content-type') ?? undefined };
  };
}

describe('docker engine: pushImage (integration)', function () {
  let docker: Dockerode;
  let source: string;
  let work: string;

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    source = `outerloop-test/push-source:${TEST_RUN_ID}`;
    await buildBusyboxImage(docker, { tag: source, layers: 2, bytesPerLayer: 256 * 1024, seed: `push-${TEST_RUN_ID}` });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-push-'));
  });

  after(async () => {
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  for (const kind of ['htpasswd', 'token'] as const) {
    it(`pushes every tag to a ${kind} registry; the digest equals the engine's RepoDigest and the registry's HEAD of each tag`, async () => {
      const registry = await sharedRegistry(kind);
      const user = registry.users[0];
      const repository = `${registry.host}/team/app-${kind}`;
      const log = memoryLog();
      const tags = [`b${TEST_RUN_ID}`, 'latest'];
      const pushed = await pushImage(
        docker,
        { sourceImage: source, repository, tags, login: { host: registry.host, credentials: { username: user.username, password: user.password } } },
        log,
        registryHead(registry, user),
      );
      assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
      assert.equal(pushed.pinnedImage, `${repository}@${pushed.digest}`);
      assert.deepEqual(pushed.imageTags, tags.map((t) => `${repository}:${t}`));
      assert.equal(pushed.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      const inspected = await docker.getImage(source).inspect();
      assert.ok(inspected.RepoDigests.includes(pushed.pinnedImage), inspected.RepoDigests.join(' '));
      for (const tag of tags) assert.equal((await registryHead(registry, user)(repository, tag)).digest, pushed.digest);
      const printed = log.lines.join('\n');
      for (const secret of registry.secrets()) assert.ok(!printed.includes(secret), 'a secret reached the log');
      // The X-Registry-Auth value (base64url of the auth JSON) is registered, so the agent masks it wherever it shows.
      const decoded = log.secrets.map((v) => Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
      assert.ok(decoded.some((json) => JSON.parse(json).password === user.password));
      assert.ok(!fs.existsSync(path.join(os.homedir(), '.docker', 'config.json')), 'no Docker config file written');
    });
  }

  it('retries a push whose manifest upload the registry answers with 503 (scripted faults), then confirms it', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const proxy = await startFaultProxy({
      target: registry.url,
      seed: 7,
      eligible: (method, p) => method === 'PUT' && /\/manifests\//.test(p),
      script: ['503', '503'],
    });
    try {
      const repository = `${proxy.host}/team/flaky`;
      const log = memoryLog();
      const pushed = await pushImage(
        docker,
        { sourceImage: source, repository, tags: ['1'], login: { host: proxy.host, credentials: user }, retry: { attempts: 3, delayMs: 10 } },
        log,
        registryHead({ ...registry, host: proxy.host, url: proxy.url }, user),
      );
      assert.equal(proxy.counts().byKind['503'], 2);
      assert.equal(log.lines.filter((l) => /trying again/.test(l)).length, 2, log.lines.join('\n'));
      assert.equal((await registryHead(registry, user)(`${registry.host}/team/flaky`, '1')).digest, pushed.digest);
    } finally {
      await proxy.stop();
    }
  });

  it('gives up after the bounded number of attempts', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const proxy = await startFaultProxy({ target: registry.url, eligible: (method, p) => method === 'PUT' && /\/manifests\//.test(p), script: ['503', '503', '503'] });
    try {
      await assert.rejects(
        pushImage(
          docker,
          { sourceImage: source, repository: `${proxy.host}/team/down`, tags: ['1'], login: { host: proxy.host, credentials: user }, retry: { attempts: 2, delayMs: 10 } },
          memoryLog(),
          registryHead(registry, user),
        ),
        (e: Error) => e instanceof PushError && e.temporary && /503|unavailable/i.test(e.message),
      );
      // Two attempts, each ending at its faulted manifest upload; the third scripted fault is never reached.
      assert.equal(proxy.counts().byKind['503'], 2);
      await assert.rejects(registryHead(registry, user)(`${registry.host}/team/down`, '1'), /→ 404/);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a tag the registry resolves to another digest', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const other = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      pushImage(
        docker,
        { sourceImage: source, repository: `${registry.host}/team/mismatch`, tags: ['1'], login: { host: registry.host, credentials: user } },
        memoryLog(),
        async () => ({ digest: other }),
      ),
      (e: Error) => e instanceof PushError && new RegExp(`^push ${registry.host}/team/mismatch:1: the engine pushed sha256:[a-f0-9]{64} but the registry resolves the tag to ${other}$`).test(e.message),
    );
  });

  it('fails in one line, without retrying, when the credentials are wrong', async () => {
    const registry = await sharedRegistry('htpasswd');
    const log = memoryLog();
    await assert.rejects(
      pushImage(
        docker,
        { sourceImage: source, repository: `${registry.host}/team/denied`, tags: ['1'], login: { host: registry.host, credentials: { username: 'promoter', password: 'wrong' } } },
        log,
        registryHead(registry),
      ),
      (e: Error) => e instanceof PushError && /^push .*\/team\/denied:1: .*(unauthorized|authentication required)/i.test(e.message) && !e.message.includes('\n'),
    );
    assert.ok(!log.lines.some((l) => /trying again/.test(l)));
  });

  it('names the source image when it is not on the engine, and a bad tag before pushing anything', async () => {
    const registry = await sharedRegistry('htpasswd');
    const confirm = registryHead(registry);
    await assert.rejects(
      pushImage(docker, { sourceImage: `outerloop-test/nothing:${TEST_RUN_ID}`, repository: `${registry.host}/team/x`, tags: ['1'] }, memoryLog(), confirm),
      new RegExp(`^PushError: source image 'outerloop-test/nothing:${TEST_RUN_ID}' is not on the engine`),
    );
    await assert.rejects(
      pushImage(docker, { sourceImage: source, repository: `${registry.host}/team/x`, tags: ['ok', '-bad'] }, memoryLog(), confirm),
      /'-bad' is not a valid tag/,
    );
  });

  it('merges re-runs into the lock file instead of duplicating them', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const repository = `${registry.host}/team/locked`;
    const lockFile = path.join(work, 'staging', 'image-lock.json');
    for (const tags of [['41'], ['41', 'latest']]) {
      const pushed = await pushImage(docker, { sourceImage: source, repository, tags, login: { host: registry.host, credentials: user } }, memoryLog(), registryHead(registry, user));
      recordInLockFile(lockFile, {
        repository,
        tags,
        digest: pushed.digest,
        pinnedReference: pushed.pinnedImage,
        mediaType: pushed.mediaType,
        buildId: '41',
        sourceVersion: 'abc123',
        pushedAt: new Date().toISOString(),
      });
    }
    const lock = readLockFile(lockFile);
    assert.equal(lock.images.length, 1);
    assert.deepEqual(lock.images[0].tags, ['41', 'latest']);
    assert.equal((await registryHead(registry, user)(repository, 'latest')).digest, lock.images[0].digest);
  });
});
