import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { pushImage, PushError, type ConfirmDigest } from '../../shared/src/docker/push';
import { readLockFile, recordInLockFile } from '../../shared/src/release';
import { classifyEnginePushMessage } from '../../shared/src/docker/push-errors';
import { BASE_DELAY_MS, MAX_DELAY_MS } from '../../shared/src/registry/retry';
import { memoryLog } from '../../shared/src/log';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { startFaultProxy, type FaultKind } from '../support/fault-proxy';
import { MANIFEST_ACCEPT, SeedClient } from '../support/images';
import { DEFAULT_USERS, requireRegistry, sharedRegistry, userOf, type TestRegistry, type TestUser } from '../support/registries';

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
        {
          sourceImage: source,
          repository,
          tags,
          login: { host: registry.host, credentials: { username: user.username, password: user.password } },
        },
        log,
        registryHead(registry, user),
      );
      assert.match(pushed.digest, /^sha256:[a-f0-9]{64}$/);
      assert.equal(pushed.pinnedImage, `${repository}@${pushed.digest}`);
      assert.deepEqual(
        pushed.imageTags,
        tags.map((t) => `${repository}:${t}`),
      );
      assert.equal(pushed.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
      const inspected = await docker.getImage(source).inspect();
      assert.ok(inspected.RepoDigests.includes(pushed.pinnedImage), inspected.RepoDigests.join(' '));
      for (const tag of tags) assert.equal((await registryHead(registry, user)(repository, tag)).digest, pushed.digest);
      const printed = log.lines.join('\n');
      assert.ok(registry.secrets().length >= 2 * DEFAULT_USERS[kind].length, 'each user gives a password and a basic token to look for');
      for (const secret of registry.secrets()) assert.ok(!printed.includes(secret), 'a secret reached the log');
      // The X-Registry-Auth value (base64url of the auth JSON) is registered, so the agent masks it wherever it shows.
      const decoded = log.secrets.map((v) => Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
      assert.ok(decoded.some((json) => JSON.parse(json).password === user.password));
      assert.ok(!fs.existsSync(path.join(os.homedir(), '.docker', 'config.json')), 'no Docker config file written');
    });
  }

  it('meets every fault kind on manifest uploads (scripted, then seeded) and succeeds through the registry retry policy', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const kinds: FaultKind[] = ['503', '500', '429', 'reset', 'truncate'];
    // Never more than two faults in a row, so each tag gets through within the policy's default five attempts.
    const script: (FaultKind | null)[] = ['503', null, '500', '429', null, 'reset', 'truncate', null];
    const proxy = await startFaultProxy({
      target: registry.url,
      seed: 7,
      faultRate: 0.3,
      maxConsecutive: 2,
      kinds,
      retryAfter: 0,
      eligible: (method, p) => method === 'PUT' && /\/manifests\//.test(p),
      script,
    });
    const delays: number[] = [];
    try {
      const repository = `${proxy.host}/team/flaky`;
      const tags = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
      const log = memoryLog();
      const pushed = await pushImage(
        docker,
        {
          sourceImage: source,
          repository,
          tags,
          login: { host: proxy.host, credentials: user },
          retry: { sleep: (ms: number) => Promise.resolve(void delays.push(ms)) },
        },
        log,
        registryHead({ ...registry, host: proxy.host, url: proxy.url }, user),
      );
      const counts = proxy.counts();
      for (const kind of kinds) assert.ok(counts.byKind[kind] > 0, `fault kind ${kind} occurred (${JSON.stringify(counts.byKind)})`);
      assert.ok(counts.faults > script.filter(Boolean).length, `the seeded schedule added faults after the script (${counts.faults})`);
      const manifestUploads = proxy.log.filter((e) => e.method === 'PUT' && /\/manifests\//.test(e.path)).length;
      assert.equal(manifestUploads, tags.length + counts.faults, 'one manifest upload per tag, plus one more per fault');
      assert.equal(
        counts.manifestPuts,
        tags.length + counts.byKind.truncate,
        'the registry stored each manifest once, plus the truncated answers',
      );
      const retries = log.lines.filter((l) => /trying again/.test(l));
      assert.equal(retries.length, counts.faults, log.lines.join('\n'));
      assert.equal(delays.length, counts.faults, 'every retry waited through the policy');
      for (const delay of delays)
        assert.ok(delay >= BASE_DELAY_MS / 2 && delay <= MAX_DELAY_MS, `delay ${delay} ms within the policy's backoff`);
      // Every message the engine gave is one the classifier documents as temporary.
      const rules = new Set<string>();
      for (const line of retries) {
        const message = line.replace(/^.*?push [^ ]+: /, '').replace(/; trying again.*$/, '');
        const rule = classifyEnginePushMessage(message);
        assert.ok(rule?.temporary, `classified as temporary: ${message}`);
        rules.add(rule.name);
      }
      assert.deepEqual([...rules].sort(), [
        'connection dropped',
        'server error or throttling status',
        'throttled or unavailable (error body)',
      ]);
      assert.deepEqual(
        pushed.imageTags,
        tags.map((t) => `${repository}:${t}`),
      );
      for (const tag of tags) assert.equal((await registryHead(registry, user)(`${registry.host}/team/flaky`, tag)).digest, pushed.digest);
    } finally {
      await proxy.stop();
    }
  });

  it('fails, naming the last fault, when the retry budget is cut', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const proxy = await startFaultProxy({
      target: registry.url,
      eligible: (method, p) => method === 'PUT' && /\/manifests\//.test(p),
      script: ['503', '503', '503'],
    });
    try {
      const log = memoryLog();
      await assert.rejects(
        pushImage(
          docker,
          {
            sourceImage: source,
            repository: `${proxy.host}/team/down`,
            tags: ['1'],
            login: { host: proxy.host, credentials: user },
            retry: { attempts: 2, sleep: () => Promise.resolve() },
          },
          log,
          registryHead(registry, user),
        ),
        (e: Error) =>
          e instanceof PushError &&
          e.temporary &&
          e.message === `push ${proxy.host}/team/down:1: received unexpected HTTP status: 503 Service Unavailable`,
      );
      // Two attempts, each ending at its faulted manifest upload; the third scripted fault is never reached.
      assert.equal(proxy.counts().byKind['503'], 2);
      assert.equal(log.lines.filter((l) => /trying again/.test(l)).length, 1);
      await assert.rejects(registryHead(registry, user)(`${registry.host}/team/down`, '1'), /→ 404/);
    } finally {
      await proxy.stop();
    }
  });

  it('retries a registry that refuses connections, then gives up naming it', async () => {
    const delays: number[] = [];
    const log = memoryLog();
    await assert.rejects(
      pushImage(
        docker,
        {
          sourceImage: source,
          repository: '127.0.0.1:1/team/nowhere',
          tags: ['1'],
          retry: { attempts: 3, sleep: (ms: number) => Promise.resolve(void delays.push(ms)) },
        },
        log,
        () => Promise.reject(new Error('nothing to confirm')),
      ),
      (e: Error) =>
        e instanceof PushError && e.temporary && /^push 127\.0\.0\.1:1\/team\/nowhere:1: .*connect: connection refused$/.test(e.message),
    );
    assert.equal(delays.length, 2);
    assert.equal(log.lines.filter((l) => /trying again/.test(l)).length, 2);
  });

  it('refuses a tag the registry resolves to another digest', async () => {
    const registry = await sharedRegistry('htpasswd');
    const user = registry.users[0];
    const other = `sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      pushImage(
        docker,
        {
          sourceImage: source,
          repository: `${registry.host}/team/mismatch`,
          tags: ['1'],
          login: { host: registry.host, credentials: user },
        },
        memoryLog(),
        () => Promise.resolve({ digest: other }),
      ),
      (e: Error) =>
        e instanceof PushError &&
        new RegExp(
          `^push ${registry.host}/team/mismatch:1: the engine pushed sha256:[a-f0-9]{64} but the registry resolves the tag to ${other}$`,
        ).test(e.message),
    );
  });

  it('fails in one line, without retrying, when the credentials are wrong', async () => {
    const registry = await sharedRegistry('htpasswd');
    const log = memoryLog();
    await assert.rejects(
      pushImage(
        docker,
        {
          sourceImage: source,
          repository: `${registry.host}/team/denied`,
          tags: ['1'],
          login: { host: registry.host, credentials: { username: 'promoter', password: 'wrong' } },
        },
        log,
        registryHead(registry),
      ),
      (e: Error) =>
        e instanceof PushError &&
        !e.temporary &&
        e.message === `push ${registry.host}/team/denied:1: unauthorized: authentication required`,
    );
    assert.ok(!log.lines.some((l) => /trying again/.test(l)));
  });

  it('a failed push puts the local tags back: a tag it made is gone, a tag it moved points where it did', async () => {
    const registry = await sharedRegistry('htpasswd');
    const repository = `${registry.host}/team/rollback`;
    const earlier = await buildBusyboxImage(docker, {
      tag: `${repository}:2`,
      layers: 1,
      bytesPerLayer: 1024,
      seed: `rollback-${TEST_RUN_ID}`,
    });
    const sourceId = (await docker.getImage(source).inspect()).Id;
    assert.notEqual(earlier.id, sourceId);
    const idOf = (reference: string) =>
      docker
        .getImage(reference)
        .inspect()
        .then(
          (image) => image.Id,
          () => undefined,
        );
    for (const tag of ['1', '2']) {
      const log = memoryLog();
      await assert.rejects(
        pushImage(
          docker,
          {
            sourceImage: source,
            repository,
            tags: [tag],
            login: { host: registry.host, credentials: { username: 'promoter', password: 'wrong' } },
          },
          log,
          registryHead(registry),
        ),
        /unauthorized/,
      );
      assert.ok(
        log.lines.some((line) => line.startsWith(`Local tag ${repository}:${tag} `)),
        log.lines.join('\n'),
      );
    }
    assert.equal(await idOf(`${repository}:1`), undefined, 'the tag the push made is removed');
    assert.equal(await idOf(`${repository}:2`), earlier.id, 'the tag it moved points at the earlier image again');
    assert.equal(await idOf(source), sourceId, 'the source image is untouched');
  });

  it('fails at once, without retrying, when the token registry denies the push', async () => {
    const registry = await sharedRegistry('token');
    const reader = userOf(registry, 'reader');
    const log = memoryLog();
    await assert.rejects(
      pushImage(
        docker,
        {
          sourceImage: source,
          repository: `${registry.host}/team/read-only`,
          tags: ['1'],
          login: { host: registry.host, credentials: reader },
        },
        log,
        registryHead(registry, reader),
      ),
      (e: Error) =>
        e instanceof PushError &&
        !e.temporary &&
        e.message === `push ${registry.host}/team/read-only:1: denied: requested access to the resource is denied`,
    );
    assert.ok(!log.lines.some((l) => /trying again/.test(l)));
  });

  it('names the source image when it is not on the engine, and a bad tag before pushing anything', async () => {
    const registry = await sharedRegistry('htpasswd');
    const confirm = registryHead(registry);
    await assert.rejects(
      pushImage(
        docker,
        { sourceImage: `outerloop-test/nothing:${TEST_RUN_ID}`, repository: `${registry.host}/team/x`, tags: ['1'] },
        memoryLog(),
        confirm,
      ),
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
      const pushed = await pushImage(
        docker,
        { sourceImage: source, repository, tags, login: { host: registry.host, credentials: user } },
        memoryLog(),
        registryHead(registry, user),
      );
      recordInLockFile(lockFile, {
        kind: 'image',
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
    assert.equal(lock.entries.length, 1);
    assert.deepEqual(lock.entries[0].tags, ['41', 'latest']);
    assert.equal((await registryHead(registry, user)(repository, 'latest')).digest, lock.entries[0].digest);
  });
});
