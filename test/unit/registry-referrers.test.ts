// The pure parts of referrer copying (shared/src/registry/referrers.ts) and of the promotion summary; what the
// client concludes from a registry's answers to the referrers API and to tag listings, against a scripted fetch whose
// answers are those distribution-spec 1.1 and distribution 2.8 give. The real thing: test/integration/referrers.test.ts.
import { strict as assert } from 'node:assert';
import { MEDIA_TYPES, parseManifestContent, readTagListing, tagListed, type Manifest } from '../../shared/src/registry/manifest';
import {
  cosignTag,
  holdsEveryLayerOf,
  listReferrers,
  referrerDescriptor,
  ReferrersApiSupport,
  referrersTag,
} from '../../shared/src/registry/referrers';
import { RegistryClient } from '../../shared/src/registry/transport';
import { releasePromotionSummary } from '../../shared/src/registry/summary';
import type { PromoteReleaseResult } from '../../shared/src/registry/release';
import { sha256Digest } from '../../shared/src/reference/reference';

const d = (c: string) => `sha256:${c.repeat(64)}` as const;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

/** A client whose every request goes to `reply`; `paths` records what it asked, in order. */
function scriptedClient(reply: (url: URL) => Response) {
  const paths: string[] = [];
  const fetch = (async (input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    paths.push(url.pathname + url.search);
    return reply(url);
  }) as typeof globalThis.fetch;
  return { client: new RegistryClient({ registry: 'registry.example', fetch, retry: { attempts: 1 } }), paths };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
/** distribution 2.8's answer to a route it does not have. */
const pageNotFound = () => new Response('404 page not found\n', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
const nameUnknown = () => json(404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] });
const referrersIndex = (...digests: string[]) =>
  json(
    200,
    {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: digests.map((digest) => ({ mediaType: MEDIA_TYPES.ociManifest, digest, size: 1 })),
    },
    { 'content-type': MEDIA_TYPES.ociIndex },
  );

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

  describe('the referrers API, asked once per host (distribution-spec 1.1 "Listing Referrers", "Unavailable Referrers API")', () => {
    it("distribution 2.8's `404 page not found`: no API; the host is not asked again, in any repository", async () => {
      const { client, paths } = scriptedClient(() => pageNotFound());
      assert.deepEqual(await listReferrers(client, 'a/app', d('1')), { kind: 'no API' });
      const api = new ReferrersApiSupport();
      const answers = await Promise.all([
        api.list(client, 'a/app', d('1')),
        api.list(client, 'a/app', d('2')),
        api.list(client, 'b/app', d('3')),
      ]);
      assert.deepEqual(answers, [undefined, undefined, undefined], 'every caller falls back to the referrers tag');
      assert.equal(paths.length, 2, `one question for the three concurrent callers (plus listReferrers' own): ${paths.join(', ')}`);
      assert.equal(await api.known(client), false);
      assert.equal(await api.list(client, 'c/app', d('4')), undefined);
      assert.equal(paths.length, 2);
    });

    it('405 and 501 (a route the registry refuses) also mean no API', async () => {
      for (const status of [405, 501]) {
        const { client } = scriptedClient(() => new Response('', { status }));
        assert.deepEqual(await listReferrers(client, 'a/app', d('1')), { kind: 'no API' });
      }
    });

    it('a 200 index: the host has the API, and each subject is asked (an unknown digest gives an empty list)', async () => {
      const { client, paths } = scriptedClient((url) =>
        url.pathname.endsWith(d('1')) ? referrersIndex(d('a'), d('b')) : referrersIndex(),
      );
      const api = new ReferrersApiSupport();
      assert.deepEqual(
        (await api.list(client, 'a/app', d('1')))?.map((r) => r.digest),
        [d('a'), d('b')],
      );
      assert.deepEqual(await api.list(client, 'a/app', d('2')), []);
      assert.equal(await api.known(client), true);
      assert.deepEqual(paths, [`/v2/a/app/referrers/${d('1')}`, `/v2/a/app/referrers/${d('2')}`]);
    });

    it('a 404 NAME_UNKNOWN ("Assuming a repository is found…") says nothing about the API: the next request asks again', async () => {
      // A registry with the API that has no repository `prod/app` yet, and has `ci/app`.
      const { client, paths } = scriptedClient((url) => (url.pathname.startsWith('/v2/prod/') ? nameUnknown() : referrersIndex(d('a'))));
      assert.deepEqual(await listReferrers(client, 'prod/app', d('1')), { kind: 'not found' });
      const api = new ReferrersApiSupport();
      assert.equal(await api.list(client, 'prod/app', d('1')), undefined, 'this request falls back to the referrers tag');
      assert.equal(await api.known(client), undefined, 'not taken for a registry without the API');
      assert.deepEqual(
        (await api.list(client, 'ci/app', d('1')))?.map((r) => r.digest),
        [d('a')],
      );
      assert.equal(await api.known(client), true);
      assert.equal(paths.length, 3);
    });

    it('MANIFEST_UNKNOWN likewise; an OCI error body with another code on a 404 is a route the registry lacks', async () => {
      const manifestUnknown = scriptedClient(() => json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
      assert.deepEqual(await listReferrers(manifestUnknown.client, 'a/app', d('1')), { kind: 'not found' });
      const other = scriptedClient(() => json(404, { errors: [{ code: 'NOT_FOUND', message: 'no route' }] }));
      assert.deepEqual(await listReferrers(other.client, 'a/app', d('1')), { kind: 'no API' });
    });
  });

  describe('readTagListing (distribution-spec "Listing Tags": `n`, `last` and the `Link` header)', () => {
    /** A repository whose tags/list answers at most `pageSize` tags and a `Link` to the rest, as the spec's example. */
    function paginated(tags: string[], pageSize: number) {
      return scriptedClient((url) => {
        const last = url.searchParams.get('last');
        const start = last === null ? 0 : tags.indexOf(last) + 1;
        const page = tags.slice(start, start + pageSize);
        const more = start + pageSize < tags.length;
        const next = `/v2/a/app/tags/list?n=${pageSize}&last=${encodeURIComponent(page[page.length - 1])}`;
        return json(200, { name: 'a/app', tags: page }, more ? { link: `<${next}>; rel="next"` } : {});
      });
    }

    it('follows every `Link` page', async () => {
      const tags = ['1.0', '1.1', '2.0', 'sha256-aa', 'sha256-aa.sig', 'stable', 'v7'];
      const { client, paths } = paginated(tags, 3);
      const listing = await readTagListing(client, 'a/app');
      assert.deepEqual([...listing.tags], tags);
      assert.equal(listing.complete, true);
      assert.equal(listing.tagged, true);
      assert.deepEqual(paths, ['/v2/a/app/tags/list', '/v2/a/app/tags/list?n=3&last=2.0', '/v2/a/app/tags/list?n=3&last=stable']);
      assert.equal(tagListed(listing, 'v7'), true, 'a tag on the last page');
      assert.equal(tagListed(listing, 'v8'), false);
    });

    it('404 NAME_UNKNOWN: no tag at all, every tag is free', async () => {
      const { client } = scriptedClient(() => nameUnknown());
      const listing = await readTagListing(client, 'prod/app');
      assert.deepEqual(listing, { tagged: false, tags: new Set(), complete: true });
      assert.equal(tagListed(listing, '1.0'), false);
    });

    it('stops after 100 pages of a runaway `Link` chain, and then does not claim a tag it has not seen is absent', async () => {
      const tags = Array.from({ length: 150 }, (_, i) => `t${String(i).padStart(3, '0')}`);
      const { client, paths } = paginated(tags, 1);
      const listing = await readTagListing(client, 'a/app');
      assert.equal(paths.length, 100);
      assert.equal(listing.complete, false);
      assert.equal(tagListed(listing, 't000'), true);
      assert.equal(tagListed(listing, 't120'), undefined, 'not seen, not known to be absent');
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
      assert.match(markdown, /1 referrer copied of 3 found; 9 registry requests, 4 writes, 0 blob bytes uploaded\./);
      assert.match(markdown, /deploy it with the image repository set to the promoted one/);
    });
  });
});
