// promoteImage (shared/src/registry) against real distribution registries (Debian docker-registry 2.8) on loopback:
// anonymous, htpasswd (Basic) and token (Bearer with our issuer), through a counting / fault-injecting proxy.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryLog } from '../../shared/src/log';
import {
  OptionError,
  PromoteRefusedError,
  promoteImage,
  RegistryClient,
  RegistryError,
  resolveDigest,
  type PromoteImageOptions,
} from '../../shared/src/registry';
import { startFaultProxy, type FaultKind, type FaultProxy } from '../support/fault-proxy';
import { blobExists, fetchBlob, fetchManifest, listTags, pushIndex, pushRandomImage, type PushedImage } from '../support/images';
import { DEFAULT_USERS, requireRegistry, sharedRegistry, startRegistry, userOf, type TestRegistry } from '../support/registries';

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

/** Requests that changed (or tried to change) something, as the proxy saw them. */
function writesSeen(proxy: FaultProxy): string[] {
  return proxy.log.filter((e) => WRITE_METHODS.has(e.method)).map((e) => `${e.method} ${e.path}`);
}

async function withProxy<T>(registry: TestRegistry, action: (proxy: FaultProxy) => Promise<T>): Promise<T> {
  const proxy = await startFaultProxy({ target: registry.url, faultRate: 0 });
  try {
    return await action(proxy);
  } finally {
    await proxy.stop();
  }
}

/** The registry holds `image`'s manifest under `repo:tag` (same bytes, same digest) and every one of its blobs. */
async function assertImageIn(registry: TestRegistry, repo: string, tag: string, image: PushedImage): Promise<void> {
  const stored = await fetchManifest(registry, repo, tag);
  assert.equal(stored.status, 200, `${repo}:${tag} exists`);
  assert.equal(stored.digest, image.digest, `${repo}:${tag} has the source digest`);
  assert.ok(stored.bytes.equals(image.manifest), `${repo}:${tag} has the exact source bytes`);
  for (const digest of [image.configDigest, ...image.layerDigests]) {
    assert.ok(await blobExists(registry, repo, digest), `${repo} has blob ${digest}`);
  }
}

/**
 * A pass-through proxy that drops `mount`/`from` from upload starts, so the registry opens a plain upload session
 * (202) as a registry without cross-repository mounting does. Returns its `host:port` and a stop function.
 */
async function startMountRefusingProxy(
  registry: TestRegistry,
): Promise<{ host: string; refused: () => number; stop: () => Promise<void> }> {
  const target = new URL(registry.url);
  let refused = 0;
  const server = http.createServer((req, res) => {
    let path = req.url ?? '/';
    const [pathname, query = ''] = path.split('?', 2);
    if (req.method === 'POST' && new URLSearchParams(query).has('mount')) {
      refused++;
      path = pathname;
    }
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('promoteImage against real registries (docker-registry 2.8)', function () {
  let anonymous: TestRegistry;
  before(async function () {
    requireRegistry(this);
    anonymous = await sharedRegistry('anonymous');
  });

  describe('one registry, anonymous, through a counting proxy', function () {
    it('promotes host/team/app:1.4.0 to host/prod/team/app:1.4.0 with the same digest, mounting every blob', async function () {
      const source = await pushRandomImage(anonymous, 'core-single/team/app', '1.4.0', { layers: 3, seed: 201 });
      await withProxy(anonymous, async (proxy) => {
        const log = memoryLog();
        const result = await promoteImage({ sourceImage: `${proxy.host}/core-single/team/app:1.4.0` }, log);
        assert.equal(result.digest, source.digest);
        assert.equal(result.promotedImage, `${proxy.host}/prod/core-single/team/app@${source.digest}`);
        assert.equal(result.targetRepository, `${proxy.host}/prod/core-single/team/app`);
        assert.deepEqual(result.tags, ['1.4.0']);
        assert.deepEqual(result.tagsWritten, ['1.4.0']);
        assert.equal(result.blobsMounted, 4);
        assert.equal(result.blobsCopied, 0);
        assert.ok(
          log.lines.some((l) => l.startsWith('Promoted ')),
          log.lines.join('\n'),
        );
      });
      await assertImageIn(anonymous, 'prod/core-single/team/app', '1.4.0', source);
    });

    it('stays within N+4 requests for N layers (N+6 looking for referrers) and downloads no blob byte', async function () {
      const layers = 6;
      const source = await pushRandomImage(anonymous, 'core-budget/app', 'v7', { layers, bytesPerLayer: 64 * 1024, seed: 202 });
      for (const [copyReferrers, budget, namespace] of [
        [false, layers + 4, 'prod'],
        // One tags/list of the source repository and one referrers API question (distribution 2.8 answers 404); the
        // target's tags/list (404: a new repository) takes the place of the HEAD of its tag.
        [true, layers + 6, 'prod-referrers'],
      ] as const) {
        await withProxy(anonymous, async (proxy) => {
          const result = await promoteImage(
            { sourceImage: `${proxy.host}/core-budget/app:v7`, copyReferrers, targetNamespace: namespace },
            memoryLog(),
          );
          const counts = proxy.counts();
          const seen = proxy.log.map((e) => `${e.method} ${e.path}`).join('\n');
          assert.ok(
            counts.requests <= budget,
            `${counts.requests} requests for ${layers} layers (copyReferrers ${copyReferrers}):\n${seen}`,
          );
          assert.equal(result.requests, counts.requests, 'the result counts what the proxy saw');
          assert.equal(result.blobBytes, 0);
          assert.equal(counts.blobGets, 0);
          assert.equal(counts.blobBytesDown, 0);
          assert.equal(counts.blobBytesUp, 0);
          assert.equal(counts.uploadStarts, 0);
          assert.equal(counts.mountsCreated, layers + 1, 'config and every layer mounted');
          assert.equal(counts.manifestPuts, 1);
        });
        await assertImageIn(anonymous, `${namespace}/core-budget/app`, 'v7', source);
      }
    });

    for (const mediaType of ['oci', 'docker'] as const) {
      it(`copies a multi-platform ${mediaType === 'oci' ? 'OCI index' : 'Docker manifest list'} whole, with the same digest`, async function () {
        const repo = `core-index-${mediaType}/app`;
        const index = await pushIndex(anonymous, repo, 'multi', { mediaType, seed: 203, layers: 2 });
        await withProxy(anonymous, async (proxy) => {
          const result = await promoteImage({ sourceImage: `${proxy.host}/${repo}:multi`, additionalTags: ['stable'] }, memoryLog());
          assert.equal(result.digest, index.digest);
          assert.equal(result.childManifests, index.children.length);
          assert.deepEqual(result.tagsWritten, ['multi', 'stable']);
          assert.equal(proxy.counts().blobBytesDown, 0, 'no blob downloaded');
        });
        for (const tag of ['multi', 'stable']) {
          const stored = await fetchManifest(anonymous, `prod/${repo}`, tag);
          assert.equal(stored.digest, index.digest);
          assert.ok(stored.bytes.equals(index.manifest), 'the index bytes are the original ones');
        }
        assert.equal(index.children.length, 2, 'pushIndex makes an amd64 and an arm64 image');
        for (const child of index.children) {
          const stored = await fetchManifest(anonymous, `prod/${repo}`, child.digest);
          assert.equal(stored.status, 200, `child ${child.platform.architecture} is in the target`);
          assert.ok(stored.bytes.equals(child.manifest));
          for (const digest of [child.configDigest, ...child.layerDigests]) assert.ok(await blobExists(anonymous, `prod/${repo}`, digest));
        }
      });
    }

    it('streams the blobs into the upload session when the registry answers a mount with 202', async function () {
      const source = await pushRandomImage(anonymous, 'core-nomount/app', 'v1', { layers: 2, bytesPerLayer: 4096, seed: 217 });
      const shim = await startMountRefusingProxy(anonymous);
      try {
        const result = await promoteImage({ sourceImage: `${shim.host}/core-nomount/app:v1` }, memoryLog());
        assert.equal(result.digest, source.digest);
        assert.equal(shim.refused(), 3, 'every mount attempt was turned into a plain upload start');
        assert.equal(result.blobsMounted, 0);
        assert.equal(result.blobsCopied, 3);
      } finally {
        await shim.stop();
      }
      await assertImageIn(anonymous, 'prod/core-nomount/app', 'v1', source);
    });

    it('promotes a digest-only source to a tagged targetImage', async function () {
      const source = await pushRandomImage(anonymous, 'core-digest/app', undefined, { layers: 1, seed: 204 });
      const result = await promoteImage(
        { sourceImage: `${anonymous.host}/core-digest/app@${source.digest}`, targetImage: `${anonymous.host}/release/app:2.0.0` },
        memoryLog(),
      );
      assert.equal(result.promotedImage, `${anonymous.host}/release/app@${source.digest}`);
      await assertImageIn(anonymous, 'release/app', '2.0.0', source);
    });

    it('re-running the same promotion succeeds and writes nothing', async function () {
      const source = await pushRandomImage(anonymous, 'core-rerun/app', 'v1', { layers: 2, seed: 205 });
      const options: PromoteImageOptions = { sourceImage: `${anonymous.host}/core-rerun/app:v1`, additionalTags: ['approved'] };
      await promoteImage(options, memoryLog());
      await withProxy(anonymous, async (proxy) => {
        const log = memoryLog();
        const again = await promoteImage({ ...options, sourceImage: `${proxy.host}/core-rerun/app:v1` }, log);
        assert.equal(again.digest, source.digest);
        assert.equal(again.writes, 0);
        assert.deepEqual(again.tagsWritten, []);
        assert.deepEqual(writesSeen(proxy), []);
        assert.ok(
          log.lines.some((l) => l.startsWith('Already promoted')),
          log.lines.join('\n'),
        );
      });
      assert.deepEqual(await listTags(anonymous, 'prod/core-rerun/app'), ['approved', 'v1']);
    });

    it('refuses to move a tag that points at another image, checking every tag before writing anything', async function () {
      const source = await pushRandomImage(anonymous, 'core-clobber/app', 'v1', { layers: 2, seed: 206 });
      const other = await pushRandomImage(anonymous, 'prod/core-clobber/app', 'stable', { layers: 1, seed: 207 });
      const options: PromoteImageOptions = {
        sourceImage: `${anonymous.host}/core-clobber/app:v1`,
        additionalTags: ['v1-approved', 'stable'],
      };
      await withProxy(anonymous, async (proxy) => {
        await assert.rejects(
          promoteImage({ ...options, sourceImage: `${proxy.host}/core-clobber/app:v1` }, memoryLog()),
          (error: unknown) => {
            assert.ok(error instanceof PromoteRefusedError, String(error));
            assert.match(error.message, /refusing to move a tag that points at another image/);
            assert.match(error.message, new RegExp(`prod/core-clobber/app:stable is ${other.digest}`));
            assert.match(error.message, /nothing was changed: set allowOverwrite: true to move it$/);
            assert.deepEqual(error.conflicts, [
              { reference: `${proxy.host}/prod/core-clobber/app:stable`, tag: 'stable', digest: other.digest },
            ]);
            return true;
          },
        );
        assert.deepEqual(writesSeen(proxy), [], 'nothing was written, not even a blob mount');
      });
      assert.deepEqual(await listTags(anonymous, 'prod/core-clobber/app'), ['stable'], 'v1 and v1-approved were not created');
      assert.equal((await fetchManifest(anonymous, 'prod/core-clobber/app', 'stable')).digest, other.digest);

      const log = memoryLog();
      const moved = await promoteImage({ ...options, allowOverwrite: true }, log);
      assert.deepEqual(moved.tagsWritten, ['v1', 'v1-approved', 'stable']);
      for (const tag of ['v1', 'v1-approved', 'stable'])
        assert.equal((await fetchManifest(anonymous, 'prod/core-clobber/app', tag)).digest, source.digest);
      assert.ok(
        log.lines.some((l) => l.includes(`Moving ${anonymous.host}/prod/core-clobber/app:stable from ${other.digest}`)),
        log.lines.join('\n'),
      );
    });

    it('fails naming sourceImage when tag@digest does not match where the tag points, writing nothing', async function () {
      await pushRandomImage(anonymous, 'core-pinned/app', 'v1', { layers: 1, seed: 208 });
      const stale = await pushRandomImage(anonymous, 'core-pinned/other', 'x', { layers: 1, seed: 209 });
      await withProxy(anonymous, async (proxy) => {
        await assert.rejects(
          promoteImage({ sourceImage: `${proxy.host}/core-pinned/app:v1@${stale.digest}` }, memoryLog()),
          (error: unknown) => {
            assert.ok(error instanceof OptionError, String(error));
            assert.equal(error.option, 'sourceImage');
            assert.match(
              error.message,
              /^input 'sourceImage' names .*core-pinned\/app:v1@sha256:[0-9a-f]{64}, but tag 'v1' points at sha256:[0-9a-f]{64} now/,
            );
            return true;
          },
        );
        assert.deepEqual(writesSeen(proxy), []);
      });
      assert.deepEqual(await listTags(anonymous, 'prod/core-pinned/app'), []);
    });

    it('reports a missing source as the registry says it, with verb and object', async function () {
      await assert.rejects(promoteImage({ sourceImage: `${anonymous.host}/core-missing/app:nope` }, memoryLog()), (error: unknown) => {
        assert.ok(error instanceof RegistryError, String(error));
        assert.equal(error.status, 404);
        assert.match(
          error.message,
          new RegExp(
            `^promote ${anonymous.host}/core-missing/app:nope → ${anonymous.host}/prod/core-missing/app: read sourceImage: 404 (MANIFEST_UNKNOWN|NAME_UNKNOWN): `,
          ),
        );
        return true;
      });
    });

    it('resolveDigest answers what a tag points at, and 404 for a missing one', async function () {
      const source = await pushRandomImage(anonymous, 'core-resolve/app', 'v1', { layers: 1, seed: 210 });
      const client = new RegistryClient({ registry: anonymous.host });
      const head = await resolveDigest(client, `${anonymous.host}/core-resolve/app:v1`);
      assert.equal(head.digest, source.digest);
      assert.equal(head.mediaType, source.mediaType);
      await assert.rejects(
        resolveDigest(client, `${anonymous.host}/core-resolve/app:v2`),
        /resolve .*core-resolve\/app:v2: 404 MANIFEST_UNKNOWN/,
      );
    });
  });

  describe('authentication', function () {
    it('htpasswd: promotes with the right password; a wrong one fails clearly without printing it', async function () {
      const registry = await sharedRegistry('htpasswd');
      const promoter = userOf(registry, 'promoter');
      const source = await pushRandomImage(registry, 'core-basic/app', 'v1', { layers: 2, seed: 211 });
      const log = memoryLog();
      const result = await promoteImage(
        { sourceImage: `${registry.host}/core-basic/app:v1`, containerRegistry: { host: registry.host, credentials: promoter } },
        log,
      );
      assert.equal(result.digest, source.digest);
      await assertImageIn(registry, 'prod/core-basic/app', 'v1', source);

      const wrong = { username: 'promoter', password: 'Wr0ng-Passw0rd-x1' };
      await assert.rejects(
        promoteImage(
          {
            sourceImage: `${registry.host}/core-basic/app:v1`,
            targetNamespace: 'prod-wrong',
            containerRegistry: { host: registry.host, credentials: wrong },
          },
          log,
        ),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError, String(error));
          assert.equal(error.status, 401);
          assert.equal(error.code, 'UNAUTHORIZED');
          assert.match(
            error.message,
            new RegExp(
              `^promote ${registry.host}/core-basic/app:v1 → .*: 401 UNAUTHORIZED: .*${registry.host} refused the credentials of user 'promoter' \\(input 'containerRegistry'\\)`,
            ),
          );
          assert.doesNotMatch(error.message, /[\r\n]/);
          assert.ok(
            registry.secrets().length >= 2 * DEFAULT_USERS.htpasswd.length,
            'each user gives a password and a basic token to look for',
          );
          for (const secret of [wrong.password, Buffer.from(`promoter:${wrong.password}`).toString('base64'), ...registry.secrets()]) {
            assert.ok(!error.message.includes(secret), 'no secret in the message');
          }
          return true;
        },
      );
      for (const secret of registry.secrets()) assert.ok(!log.lines.some((l) => l.includes(secret)), 'no secret in the log');
      assert.ok(log.secrets.includes(promoter.password), 'the password is registered as a secret');
      assert.deepEqual(await listTags(registry, 'prod-wrong/core-basic/app'), []);

      await assert.rejects(
        promoteImage({ sourceImage: `${registry.host}/core-basic/app:v1`, targetNamespace: 'prod-none' }, log),
        new RegExp(
          `: read sourceImage: 401 UNAUTHORIZED: .*${registry.host} needs credentials for this: set input 'containerRegistry' to a service connection for it`,
        ),
      );
    });

    it('token: one token covers the whole promotion; it is registered as a secret and never logged', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      const source = await pushRandomImage(registry, 'core-token/app', 'v1', { layers: 3, seed: 212 });
      issuer.reset();
      const log = memoryLog();
      const result = await promoteImage(
        { sourceImage: `${registry.host}/core-token/app:v1`, logins: [{ host: registry.host, credentials: userOf(registry, 'promoter') }] },
        log,
      );
      assert.equal(result.digest, source.digest);
      assert.equal(result.tokenRequests, 1);
      assert.equal(issuer.counts().accessTokens, 1);
      assert.deepEqual(issuer.issued[0].access.map((a) => `${a.name}:${a.actions.join(',')}`).sort(), [
        'core-token/app:pull',
        'prod/core-token/app:pull,push',
      ]);
      assert.ok(log.secrets.includes(issuer.issued[0].token));
      assert.ok(
        registry.secrets().length >= 2 * DEFAULT_USERS.token.length + 1,
        'passwords, basic tokens and the issued token to look for',
      );
      for (const secret of registry.secrets()) assert.ok(!log.lines.some((l) => l.includes(secret)), 'no secret in the log');
      await assertImageIn(registry, 'prod/core-token/app', 'v1', source);
    });

    it('token: a pull-only user gets a clear refusal and nothing is written', async function () {
      const registry = await sharedRegistry('token');
      await pushRandomImage(registry, 'core-reader/app', 'v1', { layers: 2, seed: 213 });
      await assert.rejects(
        promoteImage(
          {
            sourceImage: `${registry.host}/core-reader/app:v1`,
            containerRegistry: { host: registry.host, credentials: userOf(registry, 'reader') },
          },
          memoryLog(),
        ),
        (error: unknown) => {
          assert.ok(error instanceof RegistryError, String(error));
          assert.equal(error.status, 401);
          assert.equal(error.temporary, false);
          assert.match(
            error.message,
            /: 401 UNAUTHORIZED: .*user 'reader' \(input 'containerRegistry'\) lacks the access '[^']*repository:prod\/core-reader\/app:(pull,push|push,pull)[^']*' \(insufficient_scope\)/,
          );
          return true;
        },
      );
      assert.deepEqual(await listTags(registry, 'prod/core-reader/app'), []);
    });

    it('token: asks again when the registry refuses an expired token, and succeeds', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      const source = await pushRandomImage(registry, 'core-expiry/app', 'v1', { layers: 1, seed: 214 });
      issuer.reset();
      issuer.expireNext(1);
      const result = await promoteImage(
        {
          sourceImage: `${registry.host}/core-expiry/app:v1`,
          logins: [{ host: registry.host, credentials: userOf(registry, 'promoter') }],
        },
        memoryLog(),
      );
      assert.equal(result.digest, source.digest);
      assert.deepEqual(
        issuer.issued.filter((t) => t.kind === 'access').map((t) => t.expired),
        [true, false],
        'the first token was expired on arrival, the second was used',
      );
      await assertImageIn(registry, 'prod/core-expiry/app', 'v1', source);
    });

    it('token: renews a cached token once the client clock says it expired', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      await pushRandomImage(registry, 'core-clock/app', 'v1', { layers: 1, seed: 215 });
      let now = Date.now();
      const client = new RegistryClient({
        registry: registry.host,
        credentials: userOf(registry, 'promoter'),
        retry: { now: () => now },
      });
      issuer.reset();
      await resolveDigest(client, `${registry.host}/core-clock/app:v1`);
      await resolveDigest(client, `${registry.host}/core-clock/app:v1`);
      assert.equal(issuer.counts().accessTokens, 1, 'the cached token is reused while fresh');
      now += 301_000;
      await resolveDigest(client, `${registry.host}/core-clock/app:v1`);
      assert.equal(issuer.counts().accessTokens, 2, 'a new token once the old one expired');
    });
  });

  it('survives a seeded 20% fault schedule: 50 of 50 promotions succeed and every fault kind occurs', async function () {
    const kinds: FaultKind[] = ['500', '503', '429', 'reset', 'truncate'];
    const proxy = await startFaultProxy({ target: anonymous.url, seed: 20260301, faultRate: 0.2, maxConsecutive: 3, kinds, retryAfter: 1 });
    const delays: number[] = [];
    try {
      const sources: PushedImage[] = [];
      for (let i = 0; i < 50; i++)
        sources.push(await pushRandomImage(anonymous, `core-faults/app-${i}`, 'v1', { layers: 2, bytesPerLayer: 512, seed: 1000 + i }));
      let succeeded = 0;
      for (let i = 0; i < 50; i++) {
        const result = await promoteImage(
          {
            sourceImage: `${proxy.host}/core-faults/app-${i}:v1`,
            // One blob at a time, so the schedule depends on the seed alone; waits are recorded instead of slept.
            concurrency: 1,
            transport: { retry: { sleep: (ms: number) => Promise.resolve(void delays.push(ms)) } },
          },
          memoryLog(),
        );
        assert.equal(result.digest, sources[i].digest);
        succeeded++;
      }
      assert.equal(succeeded, 50);
      const counts = proxy.counts();
      for (const kind of kinds) assert.ok(counts.byKind[kind] > 0, `fault kind ${kind} occurred (${JSON.stringify(counts.byKind)})`);
      assert.ok(counts.faults >= 50, `a 20% schedule over ${counts.requests} requests gave ${counts.faults} faults`);
      assert.ok(delays.filter((d) => d === 1000).length >= counts.byKind['429'], 'every 429 was followed by the Retry-After wait (1 s)');
    } finally {
      await proxy.stop();
    }
    for (let i = 0; i < 50; i++) {
      const stored = await fetchManifest(anonymous, `prod/core-faults/app-${i}`, 'v1');
      assert.equal(stored.status, 200, `app-${i} promoted`);
    }
  });

  it('copies across registries through seeded faults on both sides, restarting a stream cut in the middle', async function () {
    const target = await startRegistry('anonymous');
    const sourceProxy = await startFaultProxy({
      target: anonymous.url,
      seed: 77,
      faultRate: 0.3,
      maxConsecutive: 2,
      kinds: ['truncate', 'reset', '503'],
      retryAfter: 0,
    });
    const targetProxy = await startFaultProxy({
      target: target.url,
      seed: 78,
      faultRate: 0.3,
      maxConsecutive: 2,
      kinds: ['truncate', 'reset', '500'],
      retryAfter: 0,
    });
    const sources: PushedImage[] = [];
    try {
      for (let i = 0; i < 5; i++)
        sources.push(
          await pushRandomImage(anonymous, `core-cross-faults/app-${i}`, 'v1', { layers: 2, bytesPerLayer: 256 * 1024, seed: 300 + i }),
        );
      let cut = 0;
      for (let i = 0; i < 5; i++) {
        const result = await promoteImage(
          {
            sourceImage: `${sourceProxy.host}/core-cross-faults/app-${i}:v1`,
            targetImage: `${targetProxy.host}/prod/app-${i}:v1`,
            concurrency: 1,
            transport: { retry: { sleep: () => Promise.resolve() } },
          },
          memoryLog(),
        );
        assert.equal(result.digest, sources[i].digest);
        cut += sourceProxy.log.filter((e) => e.method === 'GET' && e.fault === 'truncate' && /\/blobs\/sha256:/.test(e.path)).length;
        sourceProxy.reset();
      }
      assert.ok(cut > 0, 'the schedule cut some blob downloads in the middle, and the copies restarted');
    } finally {
      await sourceProxy.stop();
      await targetProxy.stop();
    }
    try {
      for (let i = 0; i < 5; i++) {
        await assertImageIn(target, `prod/app-${i}`, 'v1', sources[i]);
      }
    } finally {
      await target.stop();
    }
  });

  it('copies across registries (anonymous → htpasswd), streaming blobs, keeping the digest', async function () {
    const target = await startRegistry('htpasswd');
    try {
      const source = await pushRandomImage(anonymous, 'core-cross/app', 'v3', { layers: 3, bytesPerLayer: 1024 * 1024, seed: 216 });
      const sourceProxy = await startFaultProxy({ target: anonymous.url });
      const targetProxy = await startFaultProxy({ target: target.url });
      try {
        const result = await promoteImage(
          {
            sourceImage: `${sourceProxy.host}/core-cross/app:v3`,
            targetContainerRegistry: { host: targetProxy.host, credentials: userOf(target, 'promoter') },
          },
          memoryLog(),
        );
        assert.equal(result.digest, source.digest);
        assert.equal(result.promotedImage, `${targetProxy.host}/prod/core-cross/app@${source.digest}`);
        assert.equal(result.blobsCopied, 4);
        const total = source.layerSizes.reduce((a, b) => a + b, 0) + source.config.length;
        const down = sourceProxy.counts();
        const up = targetProxy.counts();
        assert.equal(down.blobGets, 4, 'each blob read once');
        assert.equal(down.blobBytesDown, total, 'each blob read once, whole');
        assert.equal(up.blobBytesUp, total, 'each blob sent once');
        assert.deepEqual(writesSeen(sourceProxy), [], 'the source is not written to');
      } finally {
        await sourceProxy.stop();
        await targetProxy.stop();
      }
      await assertImageIn(target, 'prod/core-cross/app', 'v3', source);
      for (const digest of source.layerDigests) await fetchBlob(target, 'prod/core-cross/app', digest);
    } finally {
      await target.stop();
    }
  });
});
