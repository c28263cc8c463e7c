// The attachment support (test/support/attach.ts) against a real distribution registry (Debian docker-registry 2.8,
// no referrers API) and through the referrers contract server (test/support/referrers-api.ts), read back by skopeo.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import {
  ARTIFACT_MEDIA_TYPES,
  COSIGN_PREDICATE_TYPE_ANNOTATION,
  COSIGN_SIGNATURE_ANNOTATION,
  attachCosignTag,
  attachReferrer,
  attachSbom,
  cosignTag,
  listRegistry,
  referrersOf,
  referrersTag,
  signImage,
} from '../support/attach';
import { needOrSkip } from '../support/env';
import { MEDIA_TYPES, fetchBlob, fetchManifest, listTags, pushRandomImage, type PushedImage } from '../support/images';
import { startReferrersApi, type ReferrersApiServer } from '../support/referrers-api';
import { requireRegistry, sharedRegistry, startRegistry, type TestRegistry } from '../support/registries';

const run = promisify(execFile);
const SKOPEO = '/usr/bin/skopeo';

let repoCounter = 0;
function uniqueRepo(prefix: string): string {
  return `${prefix}/app-${process.pid}-${++repoCounter}`;
}

async function pushSubject(registry: { url: string; users?: TestRegistry['users'] }, repo: string): Promise<PushedImage> {
  return pushRandomImage(registry, repo, 'v1', { layers: 1, bytesPerLayer: 256, seed: repo });
}

function json(bytes: Buffer): any {
  return JSON.parse(bytes.toString('utf8'));
}

async function skopeoRaw(registry: TestRegistry, reference: string): Promise<Buffer> {
  const user = registry.users[0];
  const args = ['inspect', '--raw', '--tls-verify=false', ...(user ? ['--creds', `${user.username}:${user.password}`] : [])];
  const { stdout } = await run(SKOPEO, [...args, `docker://${registry.host}/${reference}`], {
    encoding: 'buffer',
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

describe('referrers test support on a registry without the referrers API (distribution 2.8)', function () {
  let registry: TestRegistry;

  before(async function () {
    requireRegistry(this);
    registry = await sharedRegistry('htpasswd');
  });

  it('distribution-spec 1.1 "Pushing Manifests with Subject": two attachments land in one sha256-<hex> tag schema index', async function () {
    const repo = uniqueRepo('referrers');
    const subject = await pushSubject(registry, repo);
    const signature = await signImage(registry, repo, subject.digest);
    const sbom = await attachSbom(registry, repo, subject.digest);
    assert.equal(signature.recordedBy, 'tag-schema');
    assert.equal(sbom.recordedBy, 'tag-schema');

    const index = await fetchManifest(registry, repo, referrersTag(subject.digest));
    assert.equal(index.status, 200);
    const parsed = json(index.bytes);
    assert.equal(parsed.mediaType, MEDIA_TYPES.oci.index);
    assert.deepEqual(parsed.manifests, [signature.descriptor, sbom.descriptor]);
    assert.deepEqual(
      parsed.manifests.map((m: any) => m.artifactType),
      [ARTIFACT_MEDIA_TYPES.cosignSignature, ARTIFACT_MEDIA_TYPES.spdxJson],
    );

    // Each referrer is an image-spec 1.1 artifact: artifactType, the empty config, the subject's descriptor.
    for (const attached of [signature, sbom]) {
      const stored = await fetchManifest(registry, repo, attached.digest);
      assert.ok(stored.bytes.equals(attached.manifest));
      const manifest = json(stored.bytes);
      assert.equal(manifest.config.mediaType, ARTIFACT_MEDIA_TYPES.empty);
      assert.equal((await fetchBlob(registry, repo, manifest.config.digest)).toString(), '{}');
      assert.deepEqual(manifest.subject, { mediaType: MEDIA_TYPES.oci.manifest, digest: subject.digest, size: subject.manifest.length });
      assert.equal(attached.descriptor.size, stored.bytes.length);
      assert.deepEqual(attached.descriptor.annotations, manifest.annotations);
    }

    // The signature is real: it verifies against the throwaway key over the simple-signing payload naming the image.
    const layer = json(signature.manifest).layers[0];
    assert.equal(layer.mediaType, ARTIFACT_MEDIA_TYPES.cosignSimpleSigning);
    const payload = await fetchBlob(registry, repo, layer.digest);
    assert.equal(json(payload).critical.image['docker-manifest-digest'], subject.digest);
    assert.ok(crypto.verify('sha256', payload, signature.publicKey, Buffer.from(layer.annotations[COSIGN_SIGNATURE_ANNOTATION], 'base64')));

    const sbomDocument = json(await fetchBlob(registry, repo, sbom.payloadDigest));
    assert.equal(sbomDocument.spdxVersion, 'SPDX-2.3');
    assert.equal(sbomDocument.packages[0].versionInfo, subject.digest);

    const found = await referrersOf(registry, repo, subject.digest);
    assert.equal(found.source, 'tag-schema');
    assert.deepEqual(found.referrers, [signature.descriptor, sbom.descriptor]);
    const filtered = await referrersOf(registry, repo, subject.digest, { artifactType: ARTIFACT_MEDIA_TYPES.spdxJson });
    assert.deepEqual(filtered.referrers, [sbom.descriptor]);
  });

  it('distribution-spec 1.1 "Pushing Manifests with Subject" step 4: the same referrer twice is listed once', async function () {
    const repo = uniqueRepo('referrers');
    const subject = await pushSubject(registry, repo);
    const artifact = {
      artifactType: 'application/vnd.example.report.v1+json',
      payload: '{"ok":true}',
      annotations: { 'org.example': 'same' },
    };
    const first = await attachReferrer(registry, repo, subject.digest, artifact);
    const again = await attachReferrer(registry, repo, subject.digest, artifact);
    assert.equal(again.digest, first.digest);
    const notary = await signImage(registry, repo, subject.digest, { format: 'notation' });
    const index = json((await fetchManifest(registry, repo, referrersTag(subject.digest))).bytes);
    assert.deepEqual(
      index.manifests.map((m: any) => m.digest),
      [first.digest, notary.digest],
    );
    assert.equal(index.manifests[1].artifactType, ARTIFACT_MEDIA_TYPES.notarySignature);
    assert.equal(json(notary.manifest).layers[0].mediaType, ARTIFACT_MEDIA_TYPES.notaryJws);
  });

  it("cosign's tag layout: sha256-<hex>.sig / .att / .sbom with cosign's layer media types and annotations", async function () {
    const repo = uniqueRepo('cosign');
    const subject = await pushSubject(registry, repo);
    const sig = await attachCosignTag(registry, repo, subject.digest, 'sig');
    const secondSig = await attachCosignTag(registry, repo, subject.digest, 'sig');
    const att = await attachCosignTag(registry, repo, subject.digest, 'att');
    const sbom = await attachCosignTag(registry, repo, subject.digest, 'sbom');

    const hex = subject.digest.slice('sha256:'.length);
    assert.deepEqual(await listTags(registry, repo), [`sha256-${hex}.att`, `sha256-${hex}.sbom`, `sha256-${hex}.sig`, 'v1']);
    assert.equal(sig.tag, cosignTag(subject.digest, 'sig'));

    const sigManifest = json((await fetchManifest(registry, repo, sig.tag)).bytes);
    assert.equal(sigManifest.mediaType, MEDIA_TYPES.oci.manifest);
    assert.equal(sigManifest.subject, undefined, 'cosign tag manifests carry no subject');
    assert.deepEqual(
      sigManifest.layers.map((l: any) => l.digest),
      [sig.layer.digest, secondSig.layer.digest],
      'a second signature is appended as cosign does',
    );
    for (const layer of sigManifest.layers) {
      assert.equal(layer.mediaType, ARTIFACT_MEDIA_TYPES.cosignSimpleSigning);
      assert.ok(layer.annotations[COSIGN_SIGNATURE_ANNOTATION]);
    }
    const config = json(await fetchBlob(registry, repo, sigManifest.config.digest));
    assert.deepEqual(config.rootfs.diff_ids, [sig.layer.digest, secondSig.layer.digest]);
    const sigPayload = await fetchBlob(registry, repo, sig.layer.digest);
    assert.ok(
      crypto.verify('sha256', sigPayload, sig.publicKey!, Buffer.from(sig.layer.annotations![COSIGN_SIGNATURE_ANNOTATION], 'base64')),
    );

    const attLayer = json((await fetchManifest(registry, repo, att.tag)).bytes).layers[0];
    assert.equal(attLayer.mediaType, ARTIFACT_MEDIA_TYPES.dsseEnvelope);
    assert.equal(attLayer.annotations[COSIGN_PREDICATE_TYPE_ANNOTATION], 'https://slsa.dev/provenance/v0.2');
    const envelope = json(await fetchBlob(registry, repo, attLayer.digest));
    const statement = json(Buffer.from(envelope.payload, 'base64'));
    assert.equal(statement.subject[0].digest.sha256, hex);

    const sbomLayer = json((await fetchManifest(registry, repo, sbom.tag)).bytes).layers[0];
    assert.equal(sbomLayer.mediaType, ARTIFACT_MEDIA_TYPES.cosignSpdxJson);

    const found = await referrersOf(registry, repo, subject.digest);
    assert.equal(found.source, 'none');
    assert.deepEqual(Object.keys(found.cosign).sort(), ['att', 'sbom', 'sig']);
    assert.equal(found.cosign.sig?.digest, secondSig.digest);
    assert.equal(found.cosign.sig?.layers.length, 2);
  });

  it('skopeo inspect --raw reads the referrer, the tag schema index and the cosign tag byte for byte', async function () {
    needOrSkip(this, fs.existsSync(SKOPEO), `skopeo (${SKOPEO}, Debian package skopeo)`);
    const repo = uniqueRepo('skopeo');
    const subject = await pushSubject(registry, repo);
    const sbom = await attachSbom(registry, repo, subject.digest);
    const sig = await attachCosignTag(registry, repo, subject.digest, 'sig');
    assert.ok((await skopeoRaw(registry, `${repo}@${sbom.digest}`)).equals(sbom.manifest));
    const index = await fetchManifest(registry, repo, referrersTag(subject.digest));
    assert.ok((await skopeoRaw(registry, `${repo}:${referrersTag(subject.digest)}`)).equals(index.bytes));
    assert.ok((await skopeoRaw(registry, `${repo}:${sig.tag}`)).equals(sig.manifest));
  });

  it('listRegistry: every repository, tag and digest; after attaching, exactly the new tags differ', async function () {
    const own = await startRegistry('anonymous');
    try {
      const subject = await pushSubject(own, 'team/app');
      await pushSubject(own, 'team/other');
      const before = await listRegistry(own);
      assert.deepEqual(before, { 'team/app': { v1: subject.digest }, 'team/other': { v1: before['team/other'].v1 } });
      await attachSbom(own, 'team/app', subject.digest);
      const sig = await attachCosignTag(own, 'team/app', subject.digest, 'sig');
      const after = await listRegistry(own);
      const index = await fetchManifest(own, 'team/app', referrersTag(subject.digest));
      assert.deepEqual(after, {
        'team/app': { v1: subject.digest, [referrersTag(subject.digest)]: index.digest, [sig.tag]: sig.digest },
        'team/other': before['team/other'],
      });
    } finally {
      await own.stop();
    }
  });
});

describe('referrers contract server (distribution-spec 1.1 "Listing Referrers") in front of distribution 2.8', function () {
  let registry: TestRegistry;
  let server: ReferrersApiServer;

  before(async function () {
    requireRegistry(this);
    registry = await sharedRegistry('htpasswd');
    server = await startReferrersApi(registry);
  });

  after(async function () {
    await server?.stop();
  });

  it('§Pushing Manifests with Subject: OCI-Subject is answered, so no sha256-<hex> tag is written; §Listing Referrers lists both', async function () {
    const repo = uniqueRepo('api');
    const subject = await pushSubject(server, repo);
    const signature = await signImage(server, repo, subject.digest);
    const sbom = await attachSbom(server, repo, subject.digest);
    assert.equal(signature.recordedBy, 'referrers-api');
    assert.equal(sbom.recordedBy, 'referrers-api');
    assert.equal(server.counts().subjectsAcknowledged, 2);
    assert.deepEqual(await listTags(registry, repo), ['v1'], 'the tag schema is untouched');

    const found = await referrersOf(server, repo, subject.digest);
    assert.equal(found.source, 'referrers-api');
    assert.deepEqual(found.filtersApplied, []);
    assert.deepEqual(
      [...found.referrers].sort((a, b) => a.digest.localeCompare(b.digest)),
      [signature.descriptor, sbom.descriptor].sort((a, b) => a.digest.localeCompare(b.digest)),
    );
  });

  it('§Listing Referrers end-12b: ?artifactType= filters exactly and answers OCI-Filters-Applied: artifactType', async function () {
    const repo = uniqueRepo('api');
    const subject = await pushSubject(server, repo);
    await signImage(server, repo, subject.digest);
    const sbom = await attachSbom(server, repo, subject.digest);
    const filtered = await referrersOf(server, repo, subject.digest, { artifactType: ARTIFACT_MEDIA_TYPES.spdxJson });
    assert.equal(filtered.source, 'referrers-api');
    assert.deepEqual(filtered.filtersApplied, ['artifactType']);
    assert.deepEqual(filtered.referrers, [sbom.descriptor]);
    const none = await referrersOf(server, repo, subject.digest, { artifactType: 'application/vnd.example.none' });
    assert.deepEqual(none.referrers, []);
  });

  it('§Listing Referrers: 200 with an empty index for no referrers and unknown repositories, 400 for a bad digest, 401 without credentials', async function () {
    const repo = uniqueRepo('api');
    const subject = await pushSubject(server, repo);
    const user = registry.users[0];
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    for (const path of [`/v2/${repo}/referrers/${subject.digest}`, `/v2/${uniqueRepo('absent')}/referrers/${subject.digest}`]) {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: basic } });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), MEDIA_TYPES.oci.index);
      assert.deepEqual(await res.json(), { schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests: [] });
    }
    const bad = await fetch(`${server.url}/v2/${repo}/referrers/sha256:NOT-A-DIGEST!`, { headers: { authorization: basic } });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
    const anonymous = await fetch(`${server.url}/v2/${repo}/referrers/${subject.digest}`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);
    await anonymous.arrayBuffer();
  });

  it('lists referrers pushed straight to the registry too, and stops listing a deleted one', async function () {
    const repo = uniqueRepo('api');
    const subject = await pushSubject(registry, repo);
    const direct = await attachSbom(registry, repo, subject.digest);
    assert.equal(direct.recordedBy, 'tag-schema');
    assert.deepEqual((await referrersOf(server, repo, subject.digest)).referrers, [direct.descriptor]);

    const user = registry.users[0];
    const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    const deleted = await fetch(`${server.url}/v2/${repo}/manifests/${direct.digest}`, {
      method: 'DELETE',
      headers: { authorization: basic },
    });
    assert.equal(deleted.status, 202);
    await deleted.arrayBuffer();
    assert.deepEqual((await referrersOf(server, repo, subject.digest)).referrers, []);
  });

  it('keeps clients on the server: upload Locations name it, and Bearer challenges pass through (token registry)', async function () {
    const token = await sharedRegistry('token');
    const front = await startReferrersApi(token);
    try {
      const repo = uniqueRepo('team');
      const subject = await pushSubject(front, repo);
      const sig = await signImage(front, repo, subject.digest);
      assert.equal(sig.recordedBy, 'referrers-api');
      assert.deepEqual((await referrersOf(front, repo, subject.digest)).referrers, [sig.descriptor]);
      const challenge = await fetch(`${front.url}/v2/${repo}/referrers/${subject.digest}`);
      assert.equal(challenge.status, 401);
      assert.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer .*scope="repository:${repo}:pull"`));
      await challenge.arrayBuffer();

      const user = registry.users[0];
      const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
      const upload = await fetch(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { authorization: basic } });
      assert.equal(upload.status, 202);
      assert.ok(upload.headers.get('location')?.startsWith(`${server.url}/`), upload.headers.get('location') ?? 'no Location');
      await upload.arrayBuffer();
    } finally {
      await front.stop();
    }
  });
});
