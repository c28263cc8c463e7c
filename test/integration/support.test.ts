import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import {
  TEST_LABEL,
  TEST_RUN_ID,
  buildBusyboxImage,
  pushImageWithEngine,
  removeTestContainers,
  removeTestImages,
  requireEngine,
} from '../support/engine';
import { startFaultProxy, type FaultKind, type FaultProxy } from '../support/fault-proxy';
import {
  blobExists,
  fetchBlob,
  fetchManifest,
  listTags,
  MEDIA_TYPES,
  pushIndex,
  pushRandomImage,
  seededBytes,
  sha256Digest,
} from '../support/images';
import { DEFAULT_USERS, requireRegistry, sharedRegistry, startRegistry, userOf } from '../support/registries';

function basic(user: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
}

describe('test support: registries, token issuer, fault proxy, seeding (real docker-registry)', function () {
  before(function () {
    requireRegistry(this);
  });

  describe('anonymous registry', function () {
    it('pushes a seeded image and reads back the same manifest and blobs', async function () {
      const registry = await sharedRegistry('anonymous');
      const image = await pushRandomImage(registry, 'support/anon', 'v1', {
        layers: 3,
        bytesPerLayer: 4096,
        seed: 7,
        mediaType: 'docker',
      });
      const fetched = await fetchManifest(registry, 'support/anon', 'v1');
      assert.equal(fetched.status, 200);
      assert.equal(fetched.digest, image.digest);
      assert.equal(fetched.mediaType, MEDIA_TYPES.docker.manifest);
      assert.deepEqual(fetched.bytes, image.manifest);
      assert.equal(sha256Digest(fetched.bytes), image.digest);
      const manifest = JSON.parse(fetched.bytes.toString('utf8')) as { layers: { digest: string }[] };
      assert.deepEqual(
        manifest.layers.map((l) => l.digest),
        image.layerDigests,
      );
      for (const digest of [...image.layerDigests, image.configDigest]) {
        await fetchBlob(registry, 'support/anon', digest);
      }
      assert.deepEqual(await listTags(registry, 'support/anon'), ['v1']);

      const again = await pushRandomImage(registry, 'support/anon-copy', 'v1', {
        layers: 3,
        bytesPerLayer: 4096,
        seed: 7,
        mediaType: 'docker',
      });
      assert.equal(again.digest, image.digest, 'the same seed gives the same image');
      const other = await pushRandomImage(registry, 'support/anon-copy', 'v2', { layers: 3, bytesPerLayer: 4096, seed: 8 });
      assert.notEqual(other.digest, image.digest);
      assert.equal(new Set([...other.layerDigests, ...image.layerDigests]).size, 6, 'another seed, other layers');
    });

    it('pushes an OCI index and a Docker manifest list whose children resolve by digest', async function () {
      const registry = await sharedRegistry('anonymous');
      for (const mediaType of ['oci', 'docker'] as const) {
        const repo = `support/multi-${mediaType}`;
        const index = await pushIndex(registry, repo, 'multi', { mediaType, seed: 3 });
        const fetched = await fetchManifest(registry, repo, 'multi');
        assert.equal(fetched.digest, index.digest);
        assert.equal(fetched.mediaType, MEDIA_TYPES[mediaType].index);
        const parsed = JSON.parse(fetched.bytes.toString('utf8')) as {
          manifests: { digest: string; mediaType: string; platform: { architecture: string } }[];
        };
        assert.deepEqual(
          parsed.manifests.map((m) => m.platform.architecture),
          ['amd64', 'arm64'],
        );
        assert.notEqual(parsed.manifests[0].digest, parsed.manifests[1].digest);
        for (const child of parsed.manifests) {
          assert.equal(child.mediaType, MEDIA_TYPES[mediaType].manifest);
          const childManifest = await fetchManifest(registry, repo, child.digest);
          assert.equal(childManifest.status, 200);
          assert.equal(childManifest.digest, child.digest);
        }
        assert.deepEqual(await listTags(registry, repo), ['multi'], 'children are pushed by digest, untagged');
      }
    });

    it('stop() ends the registry process and removes its config and storage dirs', async function () {
      const registry = await startRegistry('anonymous');
      await pushRandomImage(registry, 'support/tmp', 'x', { layers: 1, bytesPerLayer: 100 });
      assert.ok(fs.existsSync(registry.storageDir));
      assert.ok(fs.existsSync(registry.configPath));
      await registry.stop();
      assert.equal(fs.existsSync(registry.storageDir), false);
      assert.equal(fs.existsSync(path.dirname(registry.configPath)), false);
      await assert.rejects(fetch(`${registry.url}/v2/`));
    });
  });

  describe('htpasswd registry', function () {
    it('rejects a wrong password and accepts the right one', async function () {
      const registry = await sharedRegistry('htpasswd');
      const user = registry.users[0];
      const wrong = await fetch(`${registry.url}/v2/`, {
        headers: { authorization: basic({ username: user.username, password: `${user.password}x` }) },
      });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic /);
      const none = await fetch(`${registry.url}/v2/`);
      assert.equal(none.status, 401);
      const right = await fetch(`${registry.url}/v2/`, { headers: { authorization: basic(user) } });
      assert.equal(right.status, 200);

      await assert.rejects(
        pushRandomImage(registry, 'support/basic', 'v1', { auth: { username: user.username, password: 'nope' } }),
        /401/,
      );
      const image = await pushRandomImage(registry, 'support/basic', 'v1');
      assert.equal((await fetchManifest(registry, 'support/basic', 'v1')).digest, image.digest);
      assert.equal((await fetchManifest(registry, 'support/basic', 'v1', null)).status, 401);
      const reader = userOf(registry, 'reader');
      assert.equal((await fetchManifest(registry, 'support/basic', 'v1', reader)).status, 200);
    });

    it('keeps only bcrypt hashes in the htpasswd file', async function () {
      const registry = await sharedRegistry('htpasswd');
      const file = fs.readFileSync(path.join(path.dirname(registry.configPath), 'htpasswd'), 'utf8');
      const lines = file.trim().split('\n');
      assert.equal(registry.users.length, DEFAULT_USERS.htpasswd.length);
      assert.equal(lines.length, registry.users.length);
      for (const line of lines) assert.match(line, /^[a-z]+:\$2[aby]\$05\$[./A-Za-z0-9]{53}$/);
      for (const secret of registry.secrets()) assert.equal(file.includes(secret), false);
    });
  });

  describe('token registry', function () {
    it('lets the pull-only user pull but denies its push', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      const image = await pushRandomImage(registry, 'support/token', 'v1', { auth: userOf(registry, 'promoter') });
      const reader = userOf(registry, 'reader');

      const pulled = await fetchManifest(registry, 'support/token', 'v1', reader);
      assert.equal(pulled.status, 200);
      assert.equal(pulled.digest, image.digest);

      issuer.reset();
      await assert.rejects(
        pushRandomImage(registry, 'support/token', 'v2', { auth: reader, seed: 99 }),
        /→ 40[13] .*(UNAUTHORIZED|DENIED)/,
      );
      const readerTokens = issuer.issued.filter((t) => t.username === 'reader');
      assert.ok(readerTokens.length > 0);
      for (const t of readerTokens) {
        assert.equal(t.access.length, 1, 'one repository asked for, one granted');
        for (const a of t.access) assert.deepEqual(a.actions, ['pull'], 'the issuer grants the reader pull only');
      }
      assert.deepEqual(await listTags(registry, 'support/token', reader), ['v1']);
      assert.equal((await fetchManifest(registry, 'support/token', 'v1', null)).status, 401, 'anonymous gets nothing');
      await assert.rejects(
        fetchManifest(registry, 'support/token', 'v1', { username: 'reader', password: 'wrong' }),
        /token request .* 401/,
      );
    });

    it('serves oauth2 POST (password with refresh token, refresh_token) and GET tokens the registry accepts', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      await pushRandomImage(registry, 'support/oauth', 'v1', { seed: 11 });
      const promoter = userOf(registry, 'promoter');
      const scope = 'repository:support/oauth:pull';
      const post = (form: Record<string, string>) =>
        fetch(issuer.realm, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(form).toString(),
        });
      const useToken = (token: string) =>
        fetch(`${registry.url}/v2/support/oauth/manifests/v1`, {
          headers: { authorization: `Bearer ${token}`, accept: MEDIA_TYPES.oci.manifest },
        });

      issuer.reset();
      const first = await post({
        grant_type: 'password',
        username: promoter.username,
        password: promoter.password,
        service: registry.service!,
        scope,
        client_id: 'outerloop-tests',
        access_type: 'offline',
      });
      assert.equal(first.status, 200);
      const firstBody = (await first.json()) as { access_token: string; refresh_token: string; expires_in: number };
      assert.equal(firstBody.expires_in, 300);
      assert.ok(firstBody.refresh_token);
      assert.equal((await useToken(firstBody.access_token)).status, 200);

      const refreshed = await post({
        grant_type: 'refresh_token',
        refresh_token: firstBody.refresh_token,
        service: registry.service!,
        scope,
        client_id: 'outerloop-tests',
      });
      assert.equal(refreshed.status, 200);
      const refreshedBody = (await refreshed.json()) as { access_token: string };
      assert.notEqual(refreshedBody.access_token, firstBody.access_token);
      assert.equal((await useToken(refreshedBody.access_token)).status, 200);

      const badPassword = await post({ grant_type: 'password', username: 'promoter', password: 'x', scope });
      assert.equal(badPassword.status, 401);
      const badRefresh = await post({ grant_type: 'refresh_token', refresh_token: 'rt-nope', scope });
      assert.equal(badRefresh.status, 400);

      const viaGet = await fetch(`${issuer.realm}?service=${registry.service}&scope=${scope}`, {
        headers: { authorization: basic(promoter) },
      });
      const getBody = (await viaGet.json()) as { token: string };
      assert.equal((await useToken(getBody.token)).status, 200);

      assert.deepEqual(issuer.counts(), { requests: 5, accessTokens: 3, refreshTokens: 1, denied: 2 });
      const tokens = issuer.tokens();
      for (const t of [firstBody.access_token, firstBody.refresh_token, refreshedBody.access_token, getBody.token]) {
        assert.ok(tokens.includes(t));
        assert.ok(registry.secrets().includes(t), 'issued tokens are listed as secrets');
      }
    });

    it('hands out an already-expired token on request, which the registry rejects until a fresh one', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      await pushRandomImage(registry, 'support/expiry', 'v1', { seed: 12 });
      const getToken = async () => {
        const res = await fetch(`${issuer.realm}?service=${registry.service}&scope=repository:support/expiry:pull`, {
          headers: { authorization: basic(userOf(registry, 'reader')) },
        });
        return ((await res.json()) as { token: string }).token;
      };
      const tagsWith = (token: string) =>
        fetch(`${registry.url}/v2/support/expiry/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      issuer.expireNext(1);
      const stale = await getToken();
      const rejected = await tagsWith(stale);
      assert.equal(rejected.status, 401);
      assert.match(rejected.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      assert.equal((await tagsWith(await getToken())).status, 200);
    });

    it('rejects a token signed by a key the registry does not trust', async function () {
      const registry = await sharedRegistry('token');
      const issuer = registry.tokenIssuer!;
      const res = await fetch(`${issuer.realm}?service=${registry.service}&scope=repository:support/forged:pull`, {
        headers: { authorization: basic(userOf(registry, 'promoter')) },
      });
      const genuine = ((await res.json()) as { token: string }).token;
      const [header, claims] = genuine.split('.');
      const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      const forgedSignature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), privateKey).toString('base64url');
      const tags = (token: string) =>
        fetch(`${registry.url}/v2/support/forged/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal((await tags(`${header}.${claims}.${forgedSignature}`)).status, 401);
      assert.equal((await tags(genuine)).status, 404, 'the genuine token gets past auth (no such repository)');
    });
  });

  describe('fault proxy', function () {
    const proxies: FaultProxy[] = [];
    afterEach(async function () {
      await Promise.all(proxies.splice(0).map((p) => p.stop()));
    });

    async function drive(proxy: FaultProxy, count: number): Promise<string[]> {
      const outcomes: string[] = [];
      for (let i = 0; i < count; i++) {
        try {
          const res = await fetch(`${proxy.url}/v2/`);
          await res.arrayBuffer();
          outcomes.push(`${res.status}${res.status === 429 ? `/retry-after=${res.headers.get('retry-after')}` : ''}`);
        } catch {
          outcomes.push('network-error');
        }
      }
      return outcomes;
    }

    it('injects every kind on a seeded schedule: same seed, same schedule; other seed, other schedule', async function () {
      const registry = await sharedRegistry('anonymous');
      const kinds: FaultKind[] = ['500', '503', '429', 'reset', 'truncate'];
      const start = (seed: number) =>
        startFaultProxy({ target: registry.url, seed, faultRate: 0.5, maxConsecutive: 2, kinds, retryAfter: 0 });
      const [a, b, c] = await Promise.all([start(42), start(42), start(43)]);
      proxies.push(a, b, c);
      const outA = await drive(a, 80);
      const outB = await drive(b, 80);
      await drive(c, 80);

      const schedule = (p: FaultProxy) => p.log.map((e) => e.fault ?? '-').join(' ');
      assert.equal(schedule(a), schedule(b));
      assert.deepEqual(outA, outB);
      assert.notEqual(schedule(a), schedule(c));

      const counts = a.counts();
      assert.equal(counts.requests, 80);
      for (const kind of kinds) assert.ok(counts.byKind[kind] > 0, `kind ${kind} was injected`);
      assert.equal(
        counts.faults,
        Object.values(counts.byKind).reduce((x, y) => x + y, 0),
      );
      let run = 0;
      let longest = 0;
      for (const entry of a.log) {
        run = entry.fault ? run + 1 : 0;
        longest = Math.max(longest, run);
      }
      assert.equal(longest, 2, 'faults come in runs of at most maxConsecutive');

      a.log.forEach((entry, i) => {
        const outcome = outA[i];
        switch (entry.fault) {
          case undefined:
            assert.equal(outcome, '200');
            assert.equal(entry.forwarded, true);
            break;
          case '429':
            assert.equal(outcome, '429/retry-after=0');
            assert.equal(entry.forwarded, false);
            break;
          case '500':
          case '503':
            assert.equal(outcome, entry.fault);
            assert.equal(entry.forwarded, false);
            break;
          case 'reset':
            assert.equal(outcome, 'network-error');
            assert.equal(entry.forwarded, false);
            break;
          case 'truncate':
            assert.equal(outcome, 'network-error');
            assert.equal(entry.forwarded, true, 'truncate lets the upstream act first');
            break;
        }
      });
    });

    it('follows a script first, and faults only eligible requests', async function () {
      const registry = await sharedRegistry('anonymous');
      const proxy = await startFaultProxy({
        target: registry.url,
        script: ['503', null, '429'],
        eligible: (method) => method === 'GET',
        retryAfter: 0,
      });
      proxies.push(proxy);
      const statuses: number[] = [];
      for (const method of ['HEAD', 'GET', 'GET', 'HEAD', 'GET', 'GET']) {
        const res = await fetch(`${proxy.url}/v2/`, { method });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [200, 503, 200, 200, 429, 200]);
    });

    it('as a counting proxy, forwards pushes (upload locations rewritten) and counts blob bytes and mounts', async function () {
      const registry = await sharedRegistry('anonymous');
      const proxy = await startFaultProxy({ target: registry.url });
      proxies.push(proxy);
      const image = await pushRandomImage(proxy, 'support/counted', 'v1', { layers: 2, bytesPerLayer: 20_000, seed: 5, auth: null });
      const pushedBytes = image.layerSizes.reduce((x, y) => x + y, 0) + image.config.length;
      let counts = proxy.counts();
      assert.equal(counts.blobBytesUp, pushedBytes);
      assert.equal(counts.uploadStarts, 3);
      assert.equal(counts.manifestPuts, 1);
      assert.equal(counts.blobBytesDown, 0);
      const puts = proxy.log.filter((e) => e.method === 'PUT' && e.path.includes('/blobs/uploads/'));
      assert.equal(puts.length, 3, 'upload PUTs came back through the proxy');
      assert.ok(puts.every((e) => e.status === 201));

      proxy.reset();
      for (const digest of image.layerDigests) await fetchBlob(proxy, 'support/counted', digest, null);
      counts = proxy.counts();
      assert.equal(counts.blobGets, 2);
      assert.equal(counts.blobBytesDown, image.layerSizes[0] + image.layerSizes[1]);

      proxy.reset();
      const mount = await fetch(
        `${proxy.url}/v2/support/counted-mounted/blobs/uploads/?mount=${image.layerDigests[0]}&from=support/counted`,
        { method: 'POST' },
      );
      assert.equal(mount.status, 201);
      counts = proxy.counts();
      assert.deepEqual([counts.mounts, counts.mountsCreated, counts.blobBytesUp, counts.blobBytesDown], [1, 1, 0, 0]);
      assert.ok(await blobExists(registry, 'support/counted-mounted', image.layerDigests[0], null));
    });
  });

  describe('engine build and push', function () {
    let docker: Dockerode;
    before(async function () {
      docker = await requireEngine(this);
    });
    after(async function () {
      if (!docker) return;
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    });

    it('builds a labelled FROM-scratch busybox image with seeded layers and pushes it by engine API', async function () {
      const registry = await sharedRegistry('anonymous');
      const tag = `${registry.host}/support/busybox:t1`;
      const built = await buildBusyboxImage(docker, {
        tag,
        layers: 3,
        bytesPerLayer: 64 * 1024,
        seed: 'support',
        extraDockerfile: 'CMD ["/bin/busybox", "true"]',
      });
      const inspected = await docker.getImage(tag).inspect();
      assert.equal(inspected.Id, built.id);
      assert.equal(inspected.Config.Labels?.[TEST_LABEL], '1');
      assert.equal(inspected.RootFS.Layers?.length, 4, 'busybox plus one layer per file');

      // The files in the image are the seeded bytes.
      const container = await docker.createContainer({
        Image: tag,
        Cmd: ['/bin/busybox', 'sha256sum', '/data/layer-1.bin'],
        Labels: { [TEST_LABEL]: '1', 'outerloop.test.run': TEST_RUN_ID },
        HostConfig: { NetworkMode: 'none' },
      });
      await container.start();
      await container.wait();
      const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
      await container.remove({ force: true });
      const expected = sha256Digest(seededBytes('support', 64 * 1024, 'engine-layer-1')).slice('sha256:'.length);
      assert.ok(logs.includes(expected), `sha256sum output: ${logs}`);

      const digest = await pushImageWithEngine(docker, tag);
      const fetched = await fetchManifest(registry, 'support/busybox', 't1');
      assert.equal(fetched.status, 200);
      assert.equal(fetched.digest, digest);
      const manifest = JSON.parse(fetched.bytes.toString('utf8')) as { layers: unknown[] };
      assert.equal(manifest.layers.length, 4);
    });

    it('pushes to the htpasswd registry only with the per-call credentials', async function () {
      const registry = await sharedRegistry('htpasswd');
      const tag = `${registry.host}/support/busybox-auth:t1`;
      await buildBusyboxImage(docker, { tag, layers: 1, bytesPerLayer: 1024, seed: 'auth' });
      await assert.rejects(pushImageWithEngine(docker, tag), /push .*(unauthorized|authentication required|no basic auth)/i);
      const digest = await pushImageWithEngine(docker, tag, registry.users[0]);
      assert.equal((await fetchManifest(registry, 'support/busybox-auth', 't1')).digest, digest);
    });
  });
});
