// The pure parts of referrer copying (shared/src/registry/referrers.ts) and of the promotion summary.
import { strict as assert } from 'node:assert';
import { MEDIA_TYPES, parseManifestContent, type Manifest } from '../../shared/src/registry/manifest';
import { cosignTag, holdsEveryLayerOf, referrerDescriptor, referrersTag } from '../../shared/src/registry/referrers';
import { releasePromotionSummary } from '../../shared/src/registry/summary';
import type { PromoteReleaseResult } from '../../shared/src/registry/release';
import { sha256Digest } from '../../shared/src/reference/reference';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

function manifest(value: Record<string, unknown>): Manifest {
  const body = bytes(value);
  return { bytes: body, digest: sha256Digest(body), mediaType: String(value.mediaType) };
}

describe('referrers (pure)', () => {
  describe('referrersTag: distribution-spec 1.1 "Referrers Tag Schema", its table of examples', () => {
    const cases: Array<[string, string]> = [
      [`sha256:${'a'.repeat(64)}`, `sha256-${'a'.repeat(64)}`],
      [`sha512:${'a'.repeat(128)}`, `sha512-${'a'.repeat(64)}`],
      [
        'test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAndLotsOfCharactersToExcerciseEncodedTruncation',
        'test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphenReplacementAndLotsAndLot',
      ],
    ];
    for (const [digest, tag] of cases) it(`${digest.slice(0, 24)}… → ${tag.slice(0, 24)}…`, () => assert.equal(referrersTag(digest), tag));

    it("and cosign's tags beside it", () => {
      assert.equal(cosignTag(d('b'), 'sig'), `sha256-${'b'.repeat(64)}.sig`);
      assert.equal(cosignTag(d('b'), 'sbom'), `sha256-${'b'.repeat(64)}.sbom`);
    });
  });

  describe('referrerDescriptor: "Pushing Manifests with Subject" step 5', () => {
    it("takes the manifest's artifactType and annotations", () => {
      const m = manifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        artifactType: 'application/spdx+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: d('e'), size: 2 },
        layers: [],
        subject: { mediaType: MEDIA_TYPES.ociManifest, digest: d('5'), size: 10 },
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      });
      const content = parseManifestContent(m.bytes, m.mediaType);
      assert.equal(content.subject?.digest, d('5'));
      assert.deepEqual(referrerDescriptor(m, content), {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: m.digest,
        size: m.bytes.length,
        artifactType: 'application/spdx+json',
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
      });
    });

    it("falls back to the config's media type for an image manifest, to none for an index", () => {
      const image = manifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'application/x.sig', digest: d('c'), size: 1 },
        layers: [],
      });
      assert.equal(referrerDescriptor(image, parseManifestContent(image.bytes, image.mediaType)).artifactType, 'application/x.sig');
      const index = manifest({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] });
      assert.equal(referrerDescriptor(index, parseManifestContent(index.bytes, index.mediaType)).artifactType, undefined);
    });
  });

  describe('holdsEveryLayerOf: when a cosign tag may move forward', () => {
    const layer = (c: string, signature: string) => ({
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      digest: d(c),
      size: 1,
      annotations: { 'dev.cosignproject.cosign/signature': signature },
    });
    const sig = (...layers: unknown[]) =>
      parseManifestContent(
        bytes({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { digest: d('f'), size: 1 }, layers }),
        MEDIA_TYPES.ociManifest,
      );

    it('yes when the source has every signature of the target and more (cosign appended one)', () => {
      assert.equal(holdsEveryLayerOf(sig(layer('1', 'A'), layer('1', 'B')), sig(layer('1', 'A'))), true);
    });
    it('no when the target holds a signature the source lacks, even over the same payload', () => {
      assert.equal(holdsEveryLayerOf(sig(layer('1', 'A')), sig(layer('1', 'B'))), false);
      assert.equal(holdsEveryLayerOf(sig(layer('1', 'A')), sig(layer('1', 'A'), layer('2', 'C'))), false);
    });
    it('no when the target has no layers at all', () => {
      assert.equal(holdsEveryLayerOf(sig(layer('1', 'A')), sig()), false);
    });
  });

  describe('releasePromotionSummary', () => {
    it('has a row per entry, escapes what the lock file says, and says how to deploy a chart', () => {
      const outcome = {
        digest: d('a'),
        mediaType: MEDIA_TYPES.ociManifest,
        promotedImage: `r.io/prod/app@${d('a')}`,
        targetRepository: 'r.io/prod/app',
        tags: ['1|2'],
        tagsWritten: ['1|2'],
        blobsMounted: 2,
        blobsCopied: 0,
        childManifests: 0,
        referrersFound: 3,
        referrersCopied: 1,
      };
      const result = {
        entries: [
          {
            source: {
              kind: 'chart',
              repository: 'oci://r.io/charts/app',
              name: 'app<b>',
              version: '1.0.0',
              tags: [],
              digest: d('a'),
              pinnedReference: '',
              mediaType: '',
              images: [],
              pushedAt: '',
            },
            promoted: {
              kind: 'chart',
              repository: 'oci://r.io/prod/charts/app',
              name: 'app',
              version: '1.0.0',
              tags: [],
              digest: d('a'),
              pinnedReference: `oci://r.io/prod/charts/app@${d('a')}`,
              mediaType: '',
              images: [],
              pushedAt: '',
            },
            outputName: 'chart_app',
            outcome,
          },
        ],
        lock: { version: 2, entries: [] },
        tagsWritten: 1,
        blobsMounted: 2,
        blobsCopied: 0,
        childManifests: 0,
        referrersFound: 3,
        referrersCopied: 1,
        requests: 9,
        writes: 4,
        tokenRequests: 0,
        blobBytes: 0,
      } as unknown as PromoteReleaseResult;
      const { title, markdown } = releasePromotionSummary(result, { file: '/a/promoted-lock.json', artifactName: 'promoted-lock' });
      assert.equal(title, 'Promoted 1 chart');
      const rows = markdown.split('\n').filter((l) => l.startsWith('| chart'));
      assert.equal(rows.length, 1, markdown);
      assert.match(rows[0], /`app<b> 1\.0\.0`/, 'the chart name stays inside a code span');
      assert.match(rows[0], /`1\\\|2`/, 'a | in a tag does not break the row');
      assert.match(markdown, /1 referrers copied of 3 found; 9 registry requests, 4 writes, 0 blob bytes uploaded\./);
      assert.match(markdown, /deploy it with the image repository set to the promoted one/);
    });
  });
});
