import { strict as assert } from 'node:assert';
import { manifestMediaType, MEDIA_TYPES, parseManifestContent } from '../../shared/src/registry/manifest';
import { OptionError, planPromotion } from '../../shared/src/registry/promote';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('registry manifests and promotion planning (pure)', () => {
  describe('manifest content', () => {
    it('lists config and layers of an image, deduplicated, without non-distributable layers', () => {
      const manifest = bytes({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('c'), size: 10 },
        layers: [
          { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: d('f'), size: 1, urls: ['https://x'] },
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('1'), size: 11 },
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('1'), size: 11 },
          { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: d('e'), size: 1 },
          { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('2'), size: 12 },
        ],
      });
      const content = parseManifestContent(manifest, MEDIA_TYPES.dockerManifest);
      assert.equal(content.kind, 'image');
      if (content.kind !== 'image') return;
      assert.deepEqual(
        content.blobs.map((b) => b.digest),
        [d('c'), d('1'), d('2')],
      );
      assert.equal(content.layers.length, 5);
    });

    it('lists the child manifests of an index with their platforms', () => {
      const index = bytes({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          { mediaType: MEDIA_TYPES.ociManifest, digest: d('a'), size: 100, platform: { os: 'linux', architecture: 'amd64' } },
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: d('b'),
            size: 100,
            annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          },
        ],
      });
      const content = parseManifestContent(index, MEDIA_TYPES.ociIndex);
      assert.equal(content.kind, 'index');
      if (content.kind !== 'index') return;
      assert.deepEqual(
        content.manifests.map((m) => m.digest),
        [d('a'), d('b')],
      );
      assert.deepEqual(content.manifests[0].platform, { os: 'linux', architecture: 'amd64' });
    });

    it('refuses schema 1, non-JSON and descriptors without a sha256 digest', () => {
      assert.throws(() => parseManifestContent(bytes({}), 'application/vnd.docker.distribution.manifest.v1+prettyjws'), /schema 1/);
      assert.throws(() => parseManifestContent(Buffer.from('<html>'), MEDIA_TYPES.ociManifest), /not JSON/);
      assert.throws(
        () => parseManifestContent(bytes({ config: { digest: 'sha512:abc', size: 1 }, layers: [] }), MEDIA_TYPES.ociManifest),
        /config has a descriptor without a sha256 digest/,
      );
    });

    it("takes the media type from the manifest's own field, else the registry's, else the shape", () => {
      assert.equal(
        manifestMediaType(bytes({ mediaType: MEDIA_TYPES.dockerManifestList, manifests: [] }), MEDIA_TYPES.ociIndex),
        MEDIA_TYPES.dockerManifestList,
      );
      assert.equal(
        manifestMediaType(bytes({ schemaVersion: 2, config: {} }), `${MEDIA_TYPES.ociManifest}; charset=utf-8`),
        MEDIA_TYPES.ociManifest,
      );
      assert.equal(manifestMediaType(bytes({ schemaVersion: 2, manifests: [] }), 'application/json'), MEDIA_TYPES.ociIndex);
      assert.equal(manifestMediaType(bytes({ schemaVersion: 2, config: {} }), null), MEDIA_TYPES.ociManifest);
    });
  });

  describe('promotion plan', () => {
    it('inserts the namespace after the host and keeps the tag: myrepo.azurecr.io/delivery:v1.0.2 → …/prod/delivery:v1.0.2', () => {
      const plan = planPromotion({ sourceImage: 'myrepo.azurecr.io/delivery:v1.0.2' });
      assert.deepEqual(plan.target, { registry: 'myrepo.azurecr.io', repository: 'prod/delivery', tag: 'v1.0.2' });
      assert.deepEqual(plan.tags, ['v1.0.2']);
      const nested = planPromotion({
        sourceImage: 'r.io/team/app:1',
        targetNamespace: ' release/eu/ ',
        additionalTags: ['stable', '', ' 1 ', 'stable'],
      });
      assert.deepEqual(nested.target, { registry: 'r.io', repository: 'release/eu/team/app', tag: '1' });
      assert.deepEqual(nested.tags, ['1', 'stable']);
    });

    it('defaults a reference without tag or digest to latest, as Docker does', () => {
      assert.equal(planPromotion({ sourceImage: 'r.io/team/app' }).sourceTag, 'latest');
    });

    it('uses targetRegistry for the default target and for a targetImage without a host', () => {
      assert.deepEqual(planPromotion({ sourceImage: 'a.io/team/app:1', targetRegistry: 'b.io' }).target, {
        registry: 'b.io',
        repository: 'prod/team/app',
        tag: '1',
      });
      assert.deepEqual(planPromotion({ sourceImage: 'a.io/team/app:1', targetImage: 'x/app', targetRegistry: 'b.io' }).target, {
        registry: 'b.io',
        repository: 'x/app',
        tag: '1',
      });
    });

    const refusals: Array<[string, Parameters<typeof planPromotion>[0], string, RegExp]> = [
      [
        'a bad source',
        { sourceImage: 'Team/SVC::1.4.0' },
        'sourceImage',
        /^input 'sourceImage' is not an image reference: 'Team\/SVC::1\.4\.0' \(repository names are lower case\)$/,
      ],
      [
        'a digest source without target',
        { sourceImage: `r.io/app@${d('a')}` },
        'targetImage',
        /^input 'targetImage' is required when 'sourceImage' is a digest/,
      ],
      [
        'a digest source with an untagged target',
        { sourceImage: `r.io/app@${d('a')}`, targetImage: 'r.io/prod/app' },
        'targetImage',
        /must name a tag when 'sourceImage' is a digest: e\.g\. 'r\.io\/prod\/app:1\.0\.0'/,
      ],
      [
        'a digest target',
        { sourceImage: 'r.io/app:1', targetImage: `r.io/prod/app@${d('a')}` },
        'targetImage',
        /must name a tag, not a digest/,
      ],
      [
        'a bad target',
        { sourceImage: 'r.io/app:1', targetImage: 'r.io/Prod/app:1' },
        'targetImage',
        /is not an image reference: 'r\.io\/Prod\/app:1' \(repository names are lower case\)/,
      ],
      ['the source as target', { sourceImage: 'r.io/app:1', targetImage: 'r.io/app' }, 'targetImage', /is the source itself/],
      [
        'a bad additional tag',
        { sourceImage: 'r.io/app:1', additionalTags: ['ok', 'not ok'] },
        'additionalTags',
        /has a value that is not a tag: 'not ok'/,
      ],
      [
        'a bad namespace',
        { sourceImage: 'r.io/app:1', targetNamespace: 'Prod' },
        'targetNamespace',
        /is not a repository path: 'Prod' \(repository names are lower case\)/,
      ],
    ];
    for (const [what, options, option, message] of refusals) {
      it(`refuses ${what}, naming input '${option}'`, () => {
        assert.throws(
          () => planPromotion(options),
          (error: unknown) => {
            assert.ok(error instanceof OptionError, String(error));
            assert.equal(error.option, option);
            assert.match(error.message, message);
            assert.doesNotMatch(error.message, /\n/);
            return true;
          },
        );
      });
    }
  });
});
