// promoteRelease (shared/src/registry/release.ts): every image and chart of a lock file promoted by digest, against
// the real distribution registry 2.8 (which has no referrers API: referrers travel through the referrers tag schema)
// and real helm, through a counting proxy.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLog } from '../../shared/src/log';
import { PromoteRefusedError, promoteRelease, OptionError } from '../../shared/src/registry';
import { readLockFile, type LockFile } from '../../shared/src/release';
import { attachCosignTag, attachReferrer, listRegistry, referrersOf, referrersTag, cosignTag } from '../support/attach';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { requireHelm, runHelm } from '../support/helm';
import { fetchManifest, listTags, pushRandomImage } from '../support/images';
import { requireRegistry, sharedRegistry, startRegistry, type TestRegistry } from '../support/registries';
import { CHART_NAME, CHART_VERSION, seedRelease, type SeededRelease } from '../support/release-seed';

const WRITE_METHODS = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);

function writesSeen(proxy: FaultProxy): string[] {
  return proxy.log.filter((e) => WRITE_METHODS.has(e.method)).map((e) => `${e.method} ${e.path}`);
}

/** The digests a verifier finds attached to `digest` in `repository`: referrers (API or tag schema) and cosign tags. */
async function attachedDigests(registry: TestRegistry, repository: string, digest: string): Promise<string[]> {
  const found = await referrersOf(registry, repository, digest, { auth: null });
  return [...found.referrers.map((r) => r.digest), ...Object.values(found.cosign).map((c) => `${c.tag}=${c.digest}`)].sort();
}

describe('promoteRelease: a lock file promoted by digest (docker-registry 2.8, real helm)', function () {
  let registry: TestRegistry;
  before(async function () {
    requireRegistry(this);
    requireHelm(this);
    registry = await sharedRegistry('anonymous');
  });

  it('promotes every image and chart with 0 blob bytes moved, every referrer copied, and a re-run writes nothing', async function () {
    const seeded = await seedRelease(registry, 'rel-all', { chart: true });
    const proxy = await startFaultProxy({ target: registry.url, faultRate: 0 });
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-promoted-lock-'));
    try {
      const promotedLockFile = path.join(folder, 'promoted-lock.json');
      const lock = seeded.lock(proxy.host);
      const log = memoryLog();
      const now = new Date('2026-02-03T04:05:06.000Z');
      const result = await promoteRelease({ lock, promotedLockFile, additionalTags: ['approved'], now: () => now }, log);

      const counts = proxy.counts();
      assert.equal(counts.blobBytesUp + counts.blobBytesDown, 0, 'no blob byte downloaded or uploaded: every blob mounted');
      assert.equal(result.blobBytes, 0);
      assert.equal(result.blobsCopied, 0);
      assert.ok(result.blobsMounted > 0);
      assert.equal(result.requests, counts.requests, 'the result counts what the proxy saw');
      // distribution 2.8 has no referrers API ("404 page not found"): asked once for the release, not per entry and side.
      const referrersQuestions = proxy.log.filter((e) => /\/referrers\//.test(e.path)).map((e) => `${e.method} ${e.path} ${e.status}`);
      assert.equal(referrersQuestions.length, 1, referrersQuestions.join('\n'));
      // Tag listings tell what is there: nothing that does not exist is looked up (beside that question, only the new
      // target repositories' listings answer 404).
      const misses = proxy.log
        .filter((e) => e.status === 404 && !/\/(tags\/list|referrers\/[^/]+)$/.test(e.path))
        .map((e) => `${e.method} ${e.path}`);
      assert.deepEqual(misses, [], 'no lookup of a manifest or tag the listings do not show');
      assert.equal(result.referrersFound, seeded.attachedToApi + seeded.attachedToWeb);
      assert.equal(result.referrersCopied, result.referrersFound, 'every referrer copied');
      assert.deepEqual(
        result.entries.map((e) => e.outputName),
        ['pinned_api', 'pinned_web', 'chart_sample_service'],
      );

      // One line per entry, one summary line, nothing else at info level.
      const info = log.lines.filter((l) => !l.startsWith('debug: '));
      assert.equal(info.length, 1 + 3 + 1, info.join('\n'));
      assert.match(info[0], /^Promoting 3 entries of the lock file into prod\//);
      assert.match(
        info[4],
        /^Promoted 2 images and 1 chart: 6 tags written, \d+ blobs mounted, 0 streamed \(0 bytes\), 7 referrers copied \(7 found\)/,
      );

      // The target holds every entry under its tags and the extra one, by the same digest.
      const host = proxy.host;
      for (const [repo, digest] of [
        [`prod/${seeded.api.repo}`, seeded.api.digest],
        [`prod/${seeded.web.repo}`, seeded.web.digest],
        [`prod/rel-all/charts/${CHART_NAME}`, seeded.chart!.digest],
      ]) {
        for (const tag of repo.endsWith(CHART_NAME) ? [CHART_VERSION, 'approved'] : ['101', 'approved']) {
          assert.equal((await fetchManifest(registry, repo, tag, null)).digest, digest, `${repo}:${tag}`);
        }
      }
      // Everything attached followed, through the referrers tag schema and cosign's tags, recursively.
      for (const [repo, digest] of [
        [seeded.api.repo, seeded.api.digest],
        [seeded.api.repo, seeded.apiSbom.digest],
        [seeded.web.repo, seeded.web.digest],
        [seeded.web.repo, seeded.web.children[0].digest],
      ]) {
        const source = await attachedDigests(registry, repo, digest);
        assert.ok(source.length > 0, `${repo}@${digest} has something attached in the source`);
        assert.deepEqual(await attachedDigests(registry, `prod/${repo}`, digest), source, `what is attached to ${repo}@${digest}`);
      }
      const found = await referrersOf(registry, `prod/${seeded.api.repo}`, seeded.api.digest, { auth: null });
      assert.equal(found.source, 'tag-schema');
      assert.deepEqual(
        found.referrers.map((r) => r.artifactType).sort(),
        [seeded.apiSbom.descriptor.artifactType, seeded.apiSignature.descriptor.artifactType].sort(),
      );

      // The promoted lock file: same format, prod references, charts' images pointing at the promoted repository.
      const promoted = readLockFile(promotedLockFile);
      assert.deepEqual(promoted, result.lock);
      const [api, web, chart] = promoted.entries;
      assert.equal(api.repository, `${host}/prod/${seeded.api.repo}`);
      assert.equal(api.pinnedReference, `${host}/prod/${seeded.api.repo}@${seeded.api.digest}`);
      assert.deepEqual(api.tags, ['101', 'approved']);
      assert.equal(api.pushedAt, now.toISOString());
      assert.equal(api.buildId, '101');
      assert.equal(web.pinnedReference, `${host}/prod/${seeded.web.repo}@${seeded.web.digest}`);
      assert.equal(chart.kind, 'chart');
      if (chart.kind !== 'chart') return;
      assert.equal(chart.repository, `oci://${host}/prod/rel-all/charts/${CHART_NAME}`);
      assert.equal(chart.pinnedReference, `oci://${host}/prod/rel-all/charts/${CHART_NAME}@${seeded.chart!.digest}`);
      assert.deepEqual(chart.images, [{ repository: `${host}/prod/${seeded.api.repo}`, digest: seeded.api.digest }]);

      // helm pulls the promoted chart by version, with the digest CI pushed.
      const pull = await runHelm([
        'pull',
        `oci://${registry.host}/prod/rel-all/charts/${CHART_NAME}`,
        '--version',
        CHART_VERSION,
        '--plain-http',
        '-d',
        folder,
      ]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.match(pull.stdout + pull.stderr, new RegExp(`Digest: ${seeded.chart!.digest}`));

      // A re-run reads and writes nothing.
      proxy.reset();
      const again = await promoteRelease({ lock, promotedLockFile, additionalTags: ['approved'] }, memoryLog());
      assert.deepEqual(writesSeen(proxy), []);
      assert.equal(again.writes, 0);
      assert.equal(again.tagsWritten, 0);
      assert.equal(again.referrersCopied, 0);
      assert.equal(again.referrersFound, result.referrersFound);
    } finally {
      await proxy.stop();
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  describe('a refusal anywhere moves nothing (the target listed before and after)', function () {
    let own: TestRegistry;
    let seeded: SeededRelease;
    beforeEach(async function () {
      // A registry of its own, so that listing all of it shows exactly what a promotion changed.
      own = await startRegistry('anonymous');
      seeded = await seedRelease(own, 'rel-refuse', { chart: true });
    });
    afterEach(() => own?.stop());

    it('a chart tag at another digest in the last entry: nothing of the first two entries is written', async function () {
      const other = await pushRandomImage(own, `prod/rel-refuse/charts/${CHART_NAME}`, CHART_VERSION, {
        layers: 1,
        seed: 'rel-refuse-other',
      });
      const before = await listRegistry(own, { auth: null });
      await assert.rejects(promoteRelease({ lock: seeded.lock(own.host) }, memoryLog()), (error: unknown) => {
        assert.ok(error instanceof PromoteRefusedError, String(error));
        assert.match(
          error.message,
          new RegExp(
            `refusing to move a tag that points at another image \\(${own.host}/prod/rel-refuse/charts/${CHART_NAME}:${CHART_VERSION} is ${other.digest}\\); nothing was changed: set allowOverwrite: true to move it$`,
          ),
        );
        return true;
      });
      assert.deepEqual(await listRegistry(own, { auth: null }), before, 'catalog, tags and referrers tags unchanged');
      assert.deepEqual(await listTags(own, `prod/${seeded.api.repo}`, null), []);

      const moved = await promoteRelease({ lock: seeded.lock(own.host), allowOverwrite: true }, memoryLog());
      assert.equal(moved.entries[2].outcome.tagsWritten.length, 1);
      assert.equal((await fetchManifest(own, `prod/rel-refuse/charts/${CHART_NAME}`, CHART_VERSION, null)).digest, seeded.chart!.digest);
    });

    it("a cosign tag in the target holding a signature the source's lacks is refused; allowOverwrite replaces it", async function () {
      await promoteRelease({ lock: seeded.lock(own.host) }, memoryLog());
      // Someone signs the promoted image in prod: the target's .sig now holds a layer the source's does not.
      const prodSig = await attachCosignTag(own, `prod/${seeded.api.repo}`, seeded.api.digest, 'sig');
      // And CI adds an SBOM referrer to the source, which a promotion would copy.
      await attachReferrer(own, seeded.api.repo, seeded.api.digest, { artifactType: 'application/vnd.example.report', payload: 'report' });
      const before = await listRegistry(own, { auth: null });
      const tag = cosignTag(seeded.api.digest, 'sig');
      await assert.rejects(promoteRelease({ lock: seeded.lock(own.host) }, memoryLog()), (error: unknown) => {
        assert.ok(error instanceof PromoteRefusedError, String(error));
        assert.match(error.message, new RegExp(`${own.host}/prod/${seeded.api.repo}:${tag} is ${prodSig.digest}`));
        return true;
      });
      assert.deepEqual(await listRegistry(own, { auth: null }), before, 'nothing copied, not even the new referrer');

      const log = memoryLog();
      await promoteRelease({ lock: seeded.lock(own.host), allowOverwrite: true }, log);
      assert.ok(
        log.lines.some((l) => l.startsWith(`warning: Replacing ${own.host}/prod/${seeded.api.repo}:${tag}`)),
        log.lines.join('\n'),
      );
      assert.equal((await fetchManifest(own, `prod/${seeded.api.repo}`, tag, null)).digest, seeded.apiCosignSig.digest);
    });
  });

  it("moves a cosign tag forward when the source's holds every signature the target's does, and merges the referrers tag", async function () {
    const seeded = await seedRelease(registry, 'rel-forward');
    const lock = seeded.lock(registry.host);
    await promoteRelease({ lock }, memoryLog());
    const target = `prod/${seeded.api.repo}`;
    // Signed again in CI: cosign appends a layer to the source's .sig.
    const resigned = await attachCosignTag(registry, seeded.api.repo, seeded.api.digest, 'sig');
    assert.equal(resigned.layers.length, 2);
    // A prod-only referrer in the target, and a new one in the source: the target's referrers tag keeps the first.
    const prodOnly = await attachReferrer(registry, target, seeded.api.digest, {
      artifactType: 'application/vnd.example.prod-scan',
      payload: 'scan',
    });
    const added = await attachReferrer(registry, seeded.api.repo, seeded.api.digest, {
      artifactType: 'application/vnd.example.report',
      payload: 'r',
    });

    const result = await promoteRelease({ lock }, memoryLog());
    assert.equal(result.tagsWritten, 0);
    assert.equal(result.referrersCopied, 2, 'the new referrer and the .sig moved forward');
    assert.equal((await fetchManifest(registry, target, resigned.tag, null)).digest, resigned.digest);
    const found = await referrersOf(registry, target, seeded.api.digest, { auth: null });
    assert.deepEqual(
      found.referrers.map((r) => r.digest).sort(),
      [seeded.apiSignature.digest, seeded.apiSbom.digest, prodOnly.digest, added.digest].sort(),
      `${target}:${referrersTag(seeded.api.digest)} merged, never refused`,
    );
  });

  it('copyReferrers: false promotes the images alone', async function () {
    const seeded = await seedRelease(registry, 'rel-bare');
    const result = await promoteRelease({ lock: seeded.lock(registry.host), copyReferrers: false, targetNamespace: 'bare' }, memoryLog());
    assert.equal(result.referrersFound, 0);
    assert.deepEqual(await listTags(registry, `bare/${seeded.api.repo}`, null), ['101']);
  });

  describe('a lock file that cannot be promoted fails naming lockFile, before any request', function () {
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    const image = (repository: string, tags: string[], d = digest('a')): LockFile['entries'][number] => ({
      kind: 'image',
      repository,
      tags,
      digest: d,
      pinnedReference: `${repository}@${d}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      pushedAt: '2026-01-01T00:00:00Z',
    });
    const cases: Array<[string, LockFile, RegExp]> = [
      ['no entries', { version: 2, entries: [] }, /^input 'lockFile' lists no image or chart to promote$/],
      [
        'two entries whose outputs share a name',
        { version: 2, entries: [image('127.0.0.1:9/a/app', ['1']), image('127.0.0.1:9/b/app', ['1'], digest('b'))] },
        /^input 'lockFile' has entry 1 \(127\.0\.0\.1:9\/a\/app@sha256:a{12}…\) and entry 2 \(127\.0\.0\.1:9\/b\/app@sha256:b{12}…\), which would both set the output variable 'pinned_app'/,
      ],
      [
        'an entry without tags',
        { version: 2, entries: [image('127.0.0.1:9/a/app', [])] },
        /^input 'lockFile' has entry 1 \(127\.0\.0\.1:9\/a\/app@sha256:a{12}…\) without tags: give the promoted images a tag with additionalTags$/,
      ],
      [
        'a tag that is not one',
        { version: 2, entries: [image('127.0.0.1:9/a/app', ['-x'])] },
        /^input 'lockFile' has a value that is not a tag: '-x'/,
      ],
      [
        'a repository that is not one',
        { version: 2, entries: [image('127.0.0.1:9/A/app', ['1'])] },
        /^input 'lockFile' has entry 1 .*, whose repository is not one: repository names are lower case$/,
      ],
    ];
    for (const [what, lock, message] of cases) {
      it(what, async function () {
        await assert.rejects(promoteRelease({ lock }, memoryLog()), (error: unknown) => {
          assert.ok(error instanceof OptionError, String(error));
          assert.equal(error.option, 'lockFile');
          assert.match(error.message, message);
          return true;
        });
      });
    }
  });
});
