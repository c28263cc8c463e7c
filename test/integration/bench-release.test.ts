// bench/release's fixture against a real distribution registry (Debian docker-registry 2.8), at a tiny size: what the
// bench promotes must be a real release — images and a helm chart by digest in a version 2 lock file, each signed and
// with an SBOM attached — or its figures mean nothing. Nothing here is timed.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildReleaseFixture, checkPromotion, repositoryPath, RELEASE_TAG, type ReleaseFixture } from '../../bench/release/fixture';
import { HELM_CONFIG_MEDIA_TYPE } from '../../shared/src/helm';
import { parseLock } from '../../shared/src/release';
import { ARTIFACT_MEDIA_TYPES, referrersOf } from '../support/attach';
import { fetchManifest } from '../support/images';
import { requireRegistry, startRegistry, type TestRegistry } from '../support/registries';

describe('bench/release fixture: 2 images × 2 layers and a chart in a real registry, listed in a version 2 lock file', function () {
  let registry: TestRegistry | undefined;
  let work: string | undefined;
  let fixture: ReleaseFixture;

  before(async function () {
    requireRegistry(this);
    registry = await startRegistry('htpasswd');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-release-test-'));
    fixture = await buildReleaseFixture(registry, {
      images: 2,
      layers: 2,
      bytesPerLayer: 512,
      seed: `bench-release-${process.pid}`,
      workDir: work,
    });
  });
  after(async () => {
    await registry?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists both images and the chart, each pinned by the digest its tag holds in the registry', async function () {
    const lock = parseLock(fs.readFileSync(fixture.lockFile, 'utf8'));
    assert.deepEqual(lock, fixture.lock);
    assert.deepEqual(
      lock.entries.map((e) => e.kind),
      ['image', 'image', 'chart'],
    );
    for (const entry of lock.entries) {
      const scheme = entry.kind === 'chart' ? 'oci://' : '';
      assert.ok(entry.repository.startsWith(`${scheme}${registry!.host}/`), entry.repository);
      assert.equal(entry.pinnedReference, `${entry.repository}@${entry.digest}`);
      assert.deepEqual(entry.tags, [RELEASE_TAG]);
      const stored = await fetchManifest(registry!, repositoryPath(entry), RELEASE_TAG);
      assert.equal(stored.status, 200, `${entry.repository}:${RELEASE_TAG}`);
      assert.equal(stored.digest, entry.digest, entry.repository);
    }
  });

  it('the chart is a helm OCI artifact pinning the first image, as PackageHelmChart@1 records it', async function () {
    const [first, , chart] = fixture.lock.entries;
    assert.ok(chart.kind === 'chart', `the third entry is a ${chart.kind}`);
    assert.equal(chart.name, 'sample-service');
    assert.equal(chart.version, RELEASE_TAG);
    assert.deepEqual(chart.images, [{ repository: first.repository, digest: first.digest }]);
    const manifest = JSON.parse((await fetchManifest(registry!, repositoryPath(chart), chart.digest)).bytes.toString('utf8'));
    assert.equal(manifest.config.mediaType, HELM_CONFIG_MEDIA_TYPE);
  });

  it('every entry has a signature and an SPDX SBOM attached, found as a verifier finds them', async function () {
    assert.equal(fixture.subjects.length, 3);
    for (const subject of fixture.subjects) {
      const found = await referrersOf(registry!, subject.repository, subject.entry.digest);
      assert.equal(found.source, 'tag-schema', 'distribution 2.8 has no referrers API');
      assert.deepEqual(
        found.referrers.map((r) => r.digest),
        subject.referrers,
      );
      assert.deepEqual(
        found.referrers.map((r) => r.artifactType),
        [ARTIFACT_MEDIA_TYPES.cosignSignature, ARTIFACT_MEDIA_TYPES.spdxJson],
      );
    }
  });

  it('checkPromotion counts what a namespace holds: everything at the source, nothing in a namespace never written', async function () {
    assert.deepEqual(await checkPromotion(registry!, fixture, ''), {
      entriesPromoted: 3,
      referrersCopied: 6,
      referrersInSource: 6,
      missing: [],
    });
    const empty = await checkPromotion(registry!, fixture, 'prod-never');
    assert.equal(empty.entriesPromoted, 0);
    assert.equal(empty.referrersCopied, 0);
    assert.deepEqual(
      empty.missing,
      fixture.subjects.map((s) => `prod-never/${s.repository}:${s.tag}`),
    );
  });
});
