// What is attached to an image follows it (shared/src/registry/referrers.ts), on the three paths a registry offers:
// - the OCI 1.1 referrers API, against the contract server of test/support/referrers-api.ts (distribution-spec 1.1
//   "Listing Referrers" and "Pushing Manifests with Subject") in front of the real distribution 2.8, which lacks it;
// - the referrers tag schema (distribution-spec 1.1 "Referrers Tag Schema"), against distribution 2.8 itself;
// - cosign's `sha256-<hex>.sig/.att/.sbom` tags.
import { strict as assert } from 'node:assert';
import { memoryLog } from '../../shared/src/log';
import { promoteImage, PromoteRefusedError } from '../../shared/src/registry';
import { attachCosignTag, attachSbom, listRegistry, referrersOf, referrersTag, signImage } from '../support/attach';
import { listTags, pushIndex, pushRandomImage } from '../support/images';
import { startReferrersApi, type ReferrersApiServer } from '../support/referrers-api';
import { requireRegistry, startRegistry, type TestRegistry } from '../support/registries';

/** The referrers tags (`sha256-<hex>`, no cosign suffix) of a repository. */
async function referrersTags(registry: TestRegistry, repository: string): Promise<string[]> {
  return (await listTags(registry, repository, null)).filter((tag) => /^sha256-[0-9a-f]{64}$/.test(tag));
}

describe('referrers follow a promoted image', function () {
  let plain: TestRegistry;
  let other: TestRegistry;
  let api: ReferrersApiServer;
  let otherApi: ReferrersApiServer;
  before(async function () {
    requireRegistry(this);
    [plain, other] = await Promise.all([startRegistry('anonymous'), startRegistry('anonymous')]);
    [api, otherApi] = await Promise.all([startReferrersApi(plain), startReferrersApi(other)]);
  });
  after(async () => {
    await Promise.all([api?.stop(), otherApi?.stop()]);
    await Promise.all([plain?.stop(), other?.stop()]);
  });

  it('referrers API on both sides (contract server, distribution-spec 1.1): pushed with subject, acknowledged, no referrers tag', async function () {
    const image = await pushRandomImage(plain, 'api-both/app', 'v1', { layers: 2, seed: 'api-both' });
    // Attached through the contract server: it answers OCI-Subject, so no referrers tag is written in the source.
    const signature = await signImage(api, image.repo, image.digest);
    const sbom = await attachSbom(api, image.repo, image.digest);
    const sbomSignature = await signImage(api, image.repo, sbom.digest, { format: 'notation' });
    assert.deepEqual(
      [signature, sbom, sbomSignature].map((r) => r.recordedBy),
      ['referrers-api', 'referrers-api', 'referrers-api'],
    );
    const before = api.counts();

    const log = memoryLog();
    const result = await promoteImage({ sourceImage: `${api.host}/api-both/app:v1` }, log);
    assert.equal(result.referrersFound, 3);
    assert.equal(result.referrersCopied, 3);
    const after = api.counts();
    assert.equal(after.subjectsAcknowledged - before.subjectsAcknowledged, 3, 'each referrer was put with its subject and acknowledged');
    assert.ok(after.referrersRequests > before.referrersRequests, 'found through the API');
    assert.deepEqual(await referrersTags(plain, 'prod/api-both/app'), [], 'no referrers tag: the target indexes subjects itself');
    const found = await referrersOf(api, 'prod/api-both/app', image.digest, { auth: null });
    assert.equal(found.source, 'referrers-api');
    assert.deepEqual(found.referrers.map((r) => r.digest).sort(), [signature.digest, sbom.digest].sort());
    assert.deepEqual(
      found.referrers.find((r) => r.digest === sbom.digest),
      sbom.descriptor,
      'artifactType and annotations as the source lists them',
    );
    const ofSbom = await referrersOf(api, 'prod/api-both/app', sbom.digest, { auth: null });
    assert.deepEqual(
      ofSbom.referrers.map((r) => r.digest),
      [sbomSignature.digest],
      'the signature of the SBOM followed too',
    );
    assert.ok(log.lines.includes('Referrers: 3 copied, 0 already in ' + `${api.host}/prod/api-both/app`), log.lines.join('\n'));

    // Again: the target lists all three, so nothing is written.
    const again = await promoteImage({ sourceImage: `${api.host}/api-both/app:v1` }, memoryLog());
    assert.equal(again.referrersCopied, 0);
    assert.equal(again.writes, 0);
  });

  it('tag schema in the source (distribution 2.8) → referrers API in the target (another registry): no referrers tag there', async function () {
    const index = await pushIndex(plain, 'tag-to-api/app', 'v1', { layers: 1, seed: 'tag-to-api' });
    const signature = await signImage(plain, index.repo, index.digest);
    const childSbom = await attachSbom(plain, index.repo, index.children[1].digest);
    assert.equal(signature.recordedBy, 'tag-schema');
    const result = await promoteImage(
      { sourceImage: `${plain.host}/tag-to-api/app:v1`, targetImage: `${otherApi.host}/prod/app:v1` },
      memoryLog(),
    );
    assert.equal(result.referrersCopied, 2);
    assert.ok(result.blobsCopied > 0, 'streamed across registries');
    assert.deepEqual(await referrersTags(other, 'prod/app'), []);
    assert.deepEqual(
      (await referrersOf(otherApi, 'prod/app', index.digest, { auth: null })).referrers.map((r) => r.digest),
      [signature.digest],
    );
    assert.deepEqual(
      (await referrersOf(otherApi, 'prod/app', index.children[1].digest, { auth: null })).referrers.map((r) => r.digest),
      [childSbom.digest],
      "the referrer of the index's child followed",
    );
  });

  it('referrers API in the source → distribution 2.8 in the target: the referrers tag is written there, cosign tags copied', async function () {
    const image = await pushRandomImage(other, 'api-to-tag/app', 'v1', { layers: 1, seed: 'api-to-tag' });
    const signature = await signImage(otherApi, image.repo, image.digest);
    const sig = await attachCosignTag(other, image.repo, image.digest, 'sig');
    const sbom = await attachCosignTag(other, image.repo, image.digest, 'sbom');
    const result = await promoteImage(
      { sourceImage: `${otherApi.host}/api-to-tag/app:v1`, targetImage: `${plain.host}/prod/api-to-tag:v1` },
      memoryLog(),
    );
    assert.equal(result.referrersCopied, 3);
    assert.deepEqual(await referrersTags(plain, 'prod/api-to-tag'), [referrersTag(image.digest)]);
    const found = await referrersOf(plain, 'prod/api-to-tag', image.digest, { auth: null });
    assert.equal(found.source, 'tag-schema');
    assert.deepEqual(found.referrers, [signature.descriptor], 'the descriptor as distribution-spec 1.1 builds it');
    assert.equal(found.cosign.sig?.digest, sig.digest);
    assert.equal(found.cosign.sbom?.digest, sbom.digest);
  });

  it('a referrers tag in the target that is not an image index: refused before the first write (the registry listed before and after), replaced with allowOverwrite', async function () {
    const image = await pushRandomImage(plain, 'not-index/app', 'v1', { layers: 1, seed: 'not-index' });
    const signature = await signImage(plain, image.repo, image.digest);
    assert.equal(signature.recordedBy, 'tag-schema');
    // Something that is not an index under the subject's referrers tag in the target: no merge can keep it.
    const squatter = await pushRandomImage(plain, 'prod/not-index/app', referrersTag(image.digest), { layers: 1, seed: 'squatter' });
    const before = await listRegistry(plain, { auth: null });

    const log = memoryLog();
    await assert.rejects(promoteImage({ sourceImage: `${plain.host}/not-index/app:v1` }, log), (error: Error) => {
      assert.ok(error instanceof PromoteRefusedError, String(error));
      assert.match(
        error.message,
        new RegExp(
          `:${referrersTag(image.digest)} is ${squatter.digest}, a referrers tag, but not an image index.*nothing was changed: set allowOverwrite`,
        ),
      );
      return true;
    });
    assert.deepEqual(await listRegistry(plain, { auth: null }), before, 'no tag was written or moved');

    const replaced = memoryLog();
    const result = await promoteImage({ sourceImage: `${plain.host}/not-index/app:v1`, allowOverwrite: true }, replaced);
    assert.equal(result.referrersCopied, 1);
    assert.ok(
      replaced.lines.some((line) => line.startsWith(`warning: Replacing ${plain.host}/prod/not-index/app:${referrersTag(image.digest)}`)),
      replaced.lines.join('\n'),
    );
    const found = await referrersOf(plain, 'prod/not-index/app', image.digest, { auth: null });
    assert.equal(found.source, 'tag-schema');
    assert.deepEqual(found.referrers, [signature.descriptor], "an index of the source's referrers, nothing of what was there");
  });
});
