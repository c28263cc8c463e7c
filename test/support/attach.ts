import * as crypto from 'node:crypto';
import {
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  SeedClient,
  listTags,
  pushBlob,
  sha256Digest,
  type RegistryAuth,
  type RegistryEndpoint,
  type SeedResponse,
} from './images';

/*
 * Attaches signatures, attestations and SBOMs to an image already in a registry, over the registry's HTTP API and
 * the way the real tools lay them out, and reads back what a verifier would find. Like images.ts it is independent of
 * the product's registry code (it talks through images.ts's SeedClient), so a bug there cannot hide in the fixtures.
 *
 * Two layouts:
 * - OCI 1.1 referrers (what oras, notation and `cosign --registry-referrers-mode=oci-1-1` push): an image manifest
 *   with `artifactType`, the empty config and a `subject` (image-spec 1.1 "Guidelines for Artifact Usage"), pushed by
 *   digest. When the registry does not acknowledge the subject (no `OCI-Subject` on the PUT), the client keeps the
 *   referrers tag schema index `sha256-<hex>` itself (distribution-spec 1.1 "Pushing Manifests with Subject").
 * - cosign's tag layout: a manifest tagged `sha256-<hex>.sig` / `.att` / `.sbom` whose layers carry the payloads.
 */

/** Artifact types and media types as the tools write them. */
export const ARTIFACT_MEDIA_TYPES = {
  /** image-spec 1.1 empty descriptor: the config of an artifact that has none. */
  empty: 'application/vnd.oci.empty.v1+json',
  /** cosign's artifactType for a signature pushed as an OCI 1.1 referrer. */
  cosignSignature: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  /** notation's signature artifactType. */
  notarySignature: 'application/vnd.cncf.notary.signature',
  /** notation's JWS envelope (the layer of a notary signature). */
  notaryJws: 'application/jose+json',
  spdxJson: 'application/spdx+json',
  /** cosign's signature payload (the layer of a `.sig` manifest and of a cosign referrer). */
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  /** cosign's attestation layer (`.att`). */
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
  /** cosign's `attach sbom --type spdx` layer media type (cosign pkg/types SPDXJSONMediaType). */
  cosignSpdxJson: 'spdx+json',
} as const;

/** The layer annotation that carries a cosign signature (base64). */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** The layer annotation naming an attestation's predicate type (cosign `.att`). */
export const COSIGN_PREDICATE_TYPE_ANNOTATION = 'predicateType';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

const EMPTY_CONFIG = Buffer.from('{}');
/** image-spec 1.1 descriptor.md "Empty Descriptor": digest and size of `{}`, the data embedded. */
const EMPTY_DESCRIPTOR = {
  mediaType: ARTIFACT_MEDIA_TYPES.empty,
  digest: sha256Digest(EMPTY_CONFIG),
  size: EMPTY_CONFIG.length,
  data: EMPTY_CONFIG.toString('base64'),
};

export type CosignTagKind = 'sig' | 'att' | 'sbom';

/** A descriptor as a referrers list (API answer or tag schema index) carries it. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface AttachOptions {
  /** Default: the registry's first user; null for anonymous. */
  auth?: RegistryAuth | null;
}

export interface ReferrerArtifact {
  artifactType: string;
  payload: Buffer | string;
  /** The payload layer's media type. Default: `artifactType`. */
  mediaType?: string;
  /** The referrer manifest's annotations (copied into its referrers descriptor). Default: `org.opencontainers.image.created`. */
  annotations?: Record<string, string>;
  /** Annotations on the payload layer (cosign puts its signature there). */
  layerAnnotations?: Record<string, string>;
}

export interface AttachedReferrer {
  digest: string;
  /** The descriptor as it appears in a referrers list. */
  descriptor: ReferrerDescriptor;
  /** The exact manifest bytes pushed. */
  manifest: Buffer;
  payloadDigest: string;
  /**
   * 'referrers-api': the registry answered `OCI-Subject`, so no tag was written. 'tag-schema': it did not, and the
   * descriptor was added to the `sha256-<hex>` index.
   */
  recordedBy: 'referrers-api' | 'tag-schema';
}

export interface SignatureOptions extends AttachOptions {
  /** Default 'cosign' (cosign's OCI 1.1 referrer layout); 'notation' writes a notary JWS signature. */
  format?: 'cosign' | 'notation';
}

export interface SignedReferrer extends AttachedReferrer {
  /** PEM public key of the throwaway P-256 key the payload was signed with, so a test can verify the signature. */
  publicKey: string;
}

export interface CosignTagAttachment {
  tag: string;
  digest: string;
  manifest: Buffer;
  /** Every layer of the tagged manifest (earlier attachments of the same kind come first, as cosign appends). */
  layers: ReferrerDescriptor[];
  /** The layer this call added. */
  layer: ReferrerDescriptor;
  /** PEM public key of the signing key ('sig' and 'att'). */
  publicKey?: string;
}

/** repository → tag → manifest digest, keys sorted. */
export type RegistryListing = Record<string, Record<string, string>>;

export interface CosignTagFound {
  tag: string;
  digest: string;
  layers: ReferrerDescriptor[];
}

export interface FoundReferrers {
  /** Where the list came from: the API when the registry answers it, else the tag schema index, else neither. */
  source: 'referrers-api' | 'tag-schema' | 'none';
  referrers: ReferrerDescriptor[];
  /** The API's `OCI-Filters-Applied` (empty when none, or when the list came from the tag schema). */
  filtersApplied: string[];
  cosign: Partial<Record<CosignTagKind, CosignTagFound>>;
}

/** distribution-spec 1.1 "Referrers Tag Schema": `<alg>-<encoded>`, truncated to 32 and 64 characters. */
export function referrersTag(digest: string): string {
  const [algorithm, encoded] = splitDigest(digest);
  return `${algorithm.slice(0, 32)}-${encoded.slice(0, 64)}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** cosign's tag for an attachment of `kind` to `digest`: `sha256-<hex>.sig` etc. */
export function cosignTag(digest: string, kind: CosignTagKind): string {
  const [algorithm, encoded] = splitDigest(digest);
  return `${algorithm}-${encoded}.${kind}`;
}

function splitDigest(digest: string): [string, string] {
  const colon = digest.indexOf(':');
  if (colon <= 0 || colon === digest.length - 1) throw new Error(`not a digest: '${digest}'`);
  return [digest.slice(0, colon), digest.slice(colon + 1)];
}

function clientFor(registry: RegistryEndpoint, auth: RegistryAuth | null | undefined): SeedClient {
  return new SeedClient(registry, auth === null ? undefined : (auth ?? registry.users?.[0]));
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function failure(what: string, res: SeedResponse): Error {
  return new Error(`${what} → ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
}

async function getManifest(client: SeedClient, repository: string, reference: string): Promise<SeedResponse> {
  return client.request('GET', `/v2/${repository}/manifests/${reference}`, {
    scope: pullScope(repository),
    headers: { accept: MANIFEST_ACCEPT },
  });
}

/** PUTs a manifest and checks the registry stored these bytes; the response is returned for its headers. */
async function putManifest(
  client: SeedClient,
  repository: string,
  reference: string,
  mediaType: string,
  bytes: Buffer,
): Promise<SeedResponse> {
  const res = await client.request('PUT', `/v2/${repository}/manifests/${reference}`, {
    scope: pushScope(repository),
    body: bytes,
    headers: { 'content-type': mediaType },
  });
  if (res.status !== 201) throw failure(`put manifest ${repository}:${reference}`, res);
  const reported = res.headers.get('docker-content-digest');
  if (reported !== sha256Digest(bytes)) throw new Error(`put manifest ${repository}:${reference}: the registry reports ${reported}`);
  return res;
}

function manifestMediaTypeOf(bytes: Buffer, contentType: string | null): string {
  const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
  if (parsed.mediaType) return parsed.mediaType;
  const header = (contentType ?? '').split(';')[0].trim();
  if (header) return header;
  return Array.isArray(parsed.manifests) ? MEDIA_TYPES.oci.index : MEDIA_TYPES.oci.manifest;
}

async function subjectDescriptor(client: SeedClient, repository: string, digest: string): Promise<ReferrerDescriptor> {
  const res = await getManifest(client, repository, digest);
  if (res.status !== 200) throw failure(`read subject ${repository}@${digest}`, res);
  if (sha256Digest(res.body) !== digest) throw new Error(`read subject ${repository}@${digest}: the bytes have another digest`);
  return { mediaType: manifestMediaTypeOf(res.body, res.headers.get('content-type')), digest, size: res.body.length };
}

function withAnnotations<T extends object>(value: T, annotations: Record<string, string> | undefined): T {
  return annotations && Object.keys(annotations).length > 0 ? { ...value, annotations } : value;
}

// The tag schema index is read, changed and written back: attachments to one subject in this process take turns, so
// two of them cannot each overwrite the other's descriptor (distribution 2.8 has no conditional PUT to guard it).
const tagSchemaTurns = new Map<string, Promise<unknown>>();

function inTurn<T>(key: string, action: () => Promise<T>): Promise<T> {
  const previous = tagSchemaTurns.get(key) ?? Promise.resolve();
  const next = previous.then(action, action);
  const settled = next.catch(() => undefined);
  tagSchemaTurns.set(key, settled);
  void settled.then(() => {
    if (tagSchemaTurns.get(key) === settled) tagSchemaTurns.delete(key);
  });
  return next;
}

/** Steps 1–6 of distribution-spec 1.1 "Pushing Manifests with Subject", for a registry without the referrers API. */
async function addToTagSchemaIndex(client: SeedClient, repository: string, subject: string, descriptor: ReferrerDescriptor): Promise<void> {
  const tag = referrersTag(subject);
  const current = await getManifest(client, repository, tag);
  let manifests: ReferrerDescriptor[] = [];
  if (current.status === 200) {
    const index = JSON.parse(current.body.toString('utf8')) as { mediaType?: string; manifests?: ReferrerDescriptor[] };
    if (index.mediaType !== MEDIA_TYPES.oci.index || !Array.isArray(index.manifests)) {
      throw new Error(`${repository}:${tag} is not a referrers index (${index.mediaType ?? 'no mediaType'}): not touching it`);
    }
    manifests = index.manifests;
  } else if (current.status !== 404) {
    throw failure(`read referrers index ${repository}:${tag}`, current);
  }
  if (manifests.some((m) => m.digest === descriptor.digest)) return;
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests: [...manifests, descriptor] }));
  await putManifest(client, repository, tag, MEDIA_TYPES.oci.index, index);
}

/**
 * Pushes `artifact` as an OCI 1.1 referrer of `repository@subjectDigest` (which must exist): payload blob, empty
 * config, then an image manifest with `artifactType` and `subject`, by digest. Without `OCI-Subject` on the answer the
 * descriptor is added to the `sha256-<hex>` index (no duplicate), as oras does.
 */
export async function attachReferrer(
  registry: RegistryEndpoint,
  repository: string,
  subjectDigest: string,
  artifact: ReferrerArtifact,
  options: AttachOptions = {},
): Promise<AttachedReferrer> {
  const client = clientFor(registry, options.auth);
  const subject = await subjectDescriptor(client, repository, subjectDigest);
  const payload = Buffer.from(artifact.payload);
  const payloadDigest = await pushBlob(client, repository, payload);
  await pushBlob(client, repository, EMPTY_CONFIG);
  const annotations = artifact.annotations ?? { [CREATED_ANNOTATION]: new Date().toISOString() };
  const layer = withAnnotations(
    { mediaType: artifact.mediaType ?? artifact.artifactType, digest: payloadDigest, size: payload.length },
    artifact.layerAnnotations,
  );
  const manifest = Buffer.from(
    JSON.stringify(
      withAnnotations(
        {
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.oci.manifest,
          artifactType: artifact.artifactType,
          config: EMPTY_DESCRIPTOR,
          layers: [layer],
          subject,
        },
        annotations,
      ),
    ),
  );
  const digest = sha256Digest(manifest);
  const descriptor = withAnnotations(
    { mediaType: MEDIA_TYPES.oci.manifest, digest, size: manifest.length, artifactType: artifact.artifactType },
    annotations,
  );
  const put = await putManifest(client, repository, digest, MEDIA_TYPES.oci.manifest, manifest);
  const acknowledged = put.headers.get('oci-subject');
  if (acknowledged !== null) {
    if (acknowledged !== subjectDigest) throw new Error(`put referrer ${repository}@${digest}: OCI-Subject is ${acknowledged}`);
    return { digest, descriptor, manifest, payloadDigest, recordedBy: 'referrers-api' };
  }
  await inTurn(`${registry.url} ${repository} ${subjectDigest}`, () => addToTagSchemaIndex(client, repository, subjectDigest, descriptor));
  return { digest, descriptor, manifest, payloadDigest, recordedBy: 'tag-schema' };
}

function throwawaySigningKey(): { privateKey: crypto.KeyObject; publicKey: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** cosign's "simple signing" payload naming the signed image. */
function simpleSigningPayload(registry: RegistryEndpoint, repository: string, digest: string): Buffer {
  const host = new URL(registry.url).host;
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': `${host}/${repository}` },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/**
 * Signs `repository@subjectDigest` with a throwaway P-256 key and attaches the signature as an OCI 1.1 referrer:
 * cosign's layout (artifactType `application/vnd.dev.cosign.artifact.sig.v1+json`, simple-signing layer with the
 * signature annotation) or notation's (artifactType `application/vnd.cncf.notary.signature`, a JWS envelope layer).
 */
export async function signImage(
  registry: RegistryEndpoint,
  repository: string,
  subjectDigest: string,
  options: SignatureOptions = {},
): Promise<SignedReferrer> {
  const { privateKey, publicKey } = throwawaySigningKey();
  if ((options.format ?? 'cosign') === 'cosign') {
    const payload = simpleSigningPayload(registry, repository, subjectDigest);
    const signature = crypto.sign('sha256', payload, privateKey).toString('base64');
    const attached = await attachReferrer(
      registry,
      repository,
      subjectDigest,
      {
        artifactType: ARTIFACT_MEDIA_TYPES.cosignSignature,
        mediaType: ARTIFACT_MEDIA_TYPES.cosignSimpleSigning,
        payload,
        layerAnnotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature },
      },
      options,
    );
    return { ...attached, publicKey };
  }
  const client = clientFor(registry, options.auth);
  const subject = await subjectDescriptor(client, repository, subjectDigest);
  const signingTime = new Date().toISOString();
  const header = Buffer.from(
    JSON.stringify({
      alg: 'ES256',
      crit: ['io.cncf.notary.signingScheme'],
      cty: 'application/vnd.cncf.notary.payload.v1+json',
      'io.cncf.notary.signingScheme': 'notary.x509',
      'io.cncf.notary.signingTime': signingTime,
    }),
  ).toString('base64url');
  const body = Buffer.from(JSON.stringify({ targetArtifact: subject })).toString('base64url');
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const envelope = JSON.stringify({ payload: body, protected: header, header: { x5c: [] }, signature: signature.toString('base64url') });
  const attached = await attachReferrer(
    registry,
    repository,
    subjectDigest,
    {
      artifactType: ARTIFACT_MEDIA_TYPES.notarySignature,
      mediaType: ARTIFACT_MEDIA_TYPES.notaryJws,
      payload: envelope,
      annotations: { [CREATED_ANNOTATION]: signingTime },
    },
    options,
  );
  return { ...attached, publicKey };
}

/** A small SPDX 2.3 document describing `repository@digest`. */
export function spdxDocument(repository: string, digest: string): Buffer {
  const name = repository.split('/').pop() ?? repository;
  return Buffer.from(
    JSON.stringify({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: `${repository}@${digest}`,
      documentNamespace: `https://outerloop.test/spdx/${repository}/${digest}`,
      creationInfo: { created: '1970-01-01T00:00:00Z', creators: ['Tool: outerloop-test'] },
      packages: [
        {
          name: repository,
          SPDXID: 'SPDXRef-image',
          versionInfo: digest,
          downloadLocation: 'NOASSERTION',
          externalRefs: [
            {
              referenceCategory: 'PACKAGE-MANAGER',
              referenceType: 'purl',
              referenceLocator: `pkg:oci/${name}@${encodeURIComponent(digest)}?repository_url=${encodeURIComponent(repository)}`,
            },
          ],
        },
      ],
      relationships: [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-image' }],
    }),
  );
}

/** Attaches an SPDX JSON SBOM of `repository@subjectDigest` as an OCI 1.1 referrer (artifactType `application/spdx+json`). */
export async function attachSbom(
  registry: RegistryEndpoint,
  repository: string,
  subjectDigest: string,
  options: AttachOptions = {},
): Promise<AttachedReferrer> {
  return attachReferrer(
    registry,
    repository,
    subjectDigest,
    { artifactType: ARTIFACT_MEDIA_TYPES.spdxJson, payload: spdxDocument(repository, subjectDigest) },
    options,
  );
}

/** DSSE pre-authentication encoding (what a DSSE signature signs). */
function dssePae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

function cosignLayer(
  kind: CosignTagKind,
  registry: RegistryEndpoint,
  repository: string,
  digest: string,
): { bytes: Buffer; mediaType: string; annotations: Record<string, string>; publicKey?: string } {
  if (kind === 'sbom') return { bytes: spdxDocument(repository, digest), mediaType: ARTIFACT_MEDIA_TYPES.cosignSpdxJson, annotations: {} };
  const { privateKey, publicKey } = throwawaySigningKey();
  if (kind === 'sig') {
    const bytes = simpleSigningPayload(registry, repository, digest);
    const signature = crypto.sign('sha256', bytes, privateKey).toString('base64');
    return {
      bytes,
      mediaType: ARTIFACT_MEDIA_TYPES.cosignSimpleSigning,
      annotations: { [COSIGN_SIGNATURE_ANNOTATION]: signature },
      publicKey,
    };
  }
  const predicateType = 'https://slsa.dev/provenance/v0.2';
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v0.1',
      predicateType,
      subject: [{ name: `${new URL(registry.url).host}/${repository}`, digest: { sha256: splitDigest(digest)[1] } }],
      predicate: { builder: { id: 'https://outerloop.test/builder' }, buildType: 'https://outerloop.test/build' },
    }),
  );
  const payloadType = 'application/vnd.in-toto+json';
  const sig = crypto.sign('sha256', dssePae(payloadType, statement), privateKey).toString('base64');
  const bytes = Buffer.from(JSON.stringify({ payloadType, payload: statement.toString('base64'), signatures: [{ keyid: '', sig }] }));
  return {
    bytes,
    mediaType: ARTIFACT_MEDIA_TYPES.dsseEnvelope,
    // cosign writes an empty signature annotation on attestation layers: the signature is inside the envelope.
    annotations: { [COSIGN_SIGNATURE_ANNOTATION]: '', [COSIGN_PREDICATE_TYPE_ANNOTATION]: predicateType },
    publicKey,
  };
}

/**
 * cosign's tag layout: adds a `kind` layer (signature, in-toto attestation in a DSSE envelope, or SPDX SBOM) to the
 * manifest tagged `sha256-<hex>.<kind>` next to `repository@subjectDigest`, appending to what the tag already holds
 * as cosign does. The manifest is an OCI image whose config lists the layers as its diff_ids.
 */
export async function attachCosignTag(
  registry: RegistryEndpoint,
  repository: string,
  subjectDigest: string,
  kind: CosignTagKind,
  options: AttachOptions = {},
): Promise<CosignTagAttachment> {
  const client = clientFor(registry, options.auth);
  await subjectDescriptor(client, repository, subjectDigest);
  const tag = cosignTag(subjectDigest, kind);
  return inTurn(`${registry.url} ${repository} ${tag}`, async () => {
    const content = cosignLayer(kind, registry, repository, subjectDigest);
    const layer: ReferrerDescriptor = withAnnotations(
      { mediaType: content.mediaType, digest: await pushBlob(client, repository, content.bytes), size: content.bytes.length },
      content.annotations,
    );
    const current = await getManifest(client, repository, tag);
    let layers: ReferrerDescriptor[] = [];
    if (current.status === 200) layers = (JSON.parse(current.body.toString('utf8')) as { layers?: ReferrerDescriptor[] }).layers ?? [];
    else if (current.status !== 404) throw failure(`read ${repository}:${tag}`, current);
    // Two signatures of one image share the payload blob and differ in their annotations; only an identical layer is
    // left out, as cosign's duplicate check does.
    const sameLayer = (l: ReferrerDescriptor) =>
      l.digest === layer.digest && JSON.stringify(l.annotations ?? {}) === JSON.stringify(layer.annotations ?? {});
    if (!layers.some(sameLayer)) layers = [...layers, layer];
    const config = Buffer.from(
      JSON.stringify({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        config: {},
      }),
    );
    const configDigest = await pushBlob(client, repository, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.oci.manifest,
        config: { mediaType: MEDIA_TYPES.oci.config, size: config.length, digest: configDigest },
        layers,
      }),
    );
    await putManifest(client, repository, tag, MEDIA_TYPES.oci.manifest, manifest);
    return { tag, digest: sha256Digest(manifest), manifest, layers, layer, ...(content.publicKey ? { publicKey: content.publicKey } : {}) };
  });
}

function nextLink(res: SeedResponse): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
  return match?.[1];
}

/**
 * Every repository (`/v2/_catalog`), its tags and each tag's manifest digest: compare a listing before and after to
 * show a registry is unchanged. Manifests without a tag are not visible over the API, so they are not listed. The
 * catalog needs `registry:catalog:*` on a token registry (its default users lack it): use an htpasswd or anonymous one.
 */
export async function listRegistry(registry: RegistryEndpoint, options: AttachOptions = {}): Promise<RegistryListing> {
  const client = clientFor(registry, options.auth);
  const repositories: string[] = [];
  let page: string | undefined = '/v2/_catalog?n=1000';
  while (page) {
    const res = await client.request('GET', page, { scope: 'registry:catalog:*' });
    if (res.status !== 200) throw failure('list the catalog', res);
    repositories.push(...((JSON.parse(res.body.toString('utf8')) as { repositories?: string[] }).repositories ?? []));
    page = nextLink(res);
  }
  const listing: RegistryListing = {};
  for (const repository of [...new Set(repositories)].sort()) {
    const tags: Record<string, string> = {};
    for (const tag of await listTags(registry, repository, options.auth)) {
      const res = await client.request('HEAD', `/v2/${repository}/manifests/${tag}`, {
        scope: pullScope(repository),
        headers: { accept: MANIFEST_ACCEPT },
      });
      const digest = res.headers.get('docker-content-digest');
      if (res.status !== 200 || !digest) throw failure(`head ${repository}:${tag}`, res);
      tags[tag] = digest;
    }
    listing[repository] = tags;
  }
  return listing;
}

function filterByArtifactType(descriptors: ReferrerDescriptor[], artifactType: string | undefined): ReferrerDescriptor[] {
  return artifactType === undefined ? descriptors : descriptors.filter((d) => d.artifactType === artifactType);
}

/**
 * What a verifier finds for `repository@digest`: the referrers API's list when the registry answers it (distribution
 * spec 1.1 "Listing Referrers"), else the `sha256-<hex>` tag schema index (filtered here when `artifactType` is
 * given), plus cosign's `.sig` / `.att` / `.sbom` tags.
 */
export async function referrersOf(
  registry: RegistryEndpoint,
  repository: string,
  digest: string,
  options: AttachOptions & { artifactType?: string } = {},
): Promise<FoundReferrers> {
  const client = clientFor(registry, options.auth);
  const query = options.artifactType === undefined ? '' : `?${new URLSearchParams({ artifactType: options.artifactType }).toString()}`;
  const api = await client.request('GET', `/v2/${repository}/referrers/${digest}${query}`, { scope: pullScope(repository) });
  let found: Pick<FoundReferrers, 'source' | 'referrers' | 'filtersApplied'>;
  if (api.status === 200) {
    const index = JSON.parse(api.body.toString('utf8')) as { manifests?: ReferrerDescriptor[] };
    const filtersApplied = (api.headers.get('oci-filters-applied') ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean);
    found = { source: 'referrers-api', referrers: index.manifests ?? [], filtersApplied };
  } else if (api.status === 404) {
    const tagged = await getManifest(client, repository, referrersTag(digest));
    if (tagged.status === 200) {
      const index = JSON.parse(tagged.body.toString('utf8')) as { mediaType?: string; manifests?: ReferrerDescriptor[] };
      // distribution-spec: a tag that is not a valid image index means no referrers.
      found =
        index.mediaType === MEDIA_TYPES.oci.index && Array.isArray(index.manifests)
          ? { source: 'tag-schema', referrers: filterByArtifactType(index.manifests, options.artifactType), filtersApplied: [] }
          : { source: 'none', referrers: [], filtersApplied: [] };
    } else if (tagged.status === 404) {
      found = { source: 'none', referrers: [], filtersApplied: [] };
    } else {
      throw failure(`read referrers index ${repository}:${referrersTag(digest)}`, tagged);
    }
  } else {
    throw failure(`list referrers of ${repository}@${digest}`, api);
  }
  const cosign: FoundReferrers['cosign'] = {};
  for (const kind of ['sig', 'att', 'sbom'] as const) {
    const tag = cosignTag(digest, kind);
    const res = await getManifest(client, repository, tag);
    if (res.status === 404) continue;
    if (res.status !== 200) throw failure(`read ${repository}:${tag}`, res);
    const layers = (JSON.parse(res.body.toString('utf8')) as { layers?: ReferrerDescriptor[] }).layers ?? [];
    cosign[kind] = { tag, digest: sha256Digest(res.body), layers };
  }
  return { ...found, cosign };
}
