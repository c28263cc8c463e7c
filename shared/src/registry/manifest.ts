import { isDigest, sha256Digest, type Digest } from '../reference/reference';
import { repositoryScope } from './auth';
import { RegistryError } from './errors';
import type { RegistryClient } from './transport';

/*
 * Manifest operations. Every GET sends the full Accept list, so the registry returns the stored bytes and never
 * converts them (a converted manifest has another digest); every byte string read is checked against the digest
 * asked for or the one the registry reports.
 */

/** Manifest media types this layer reads and writes. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Docker's schema 1 manifests: signed, deprecated, and their digest is not that of the bytes served. */
const SCHEMA1_MEDIA_TYPES = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** The Accept header of every manifest request: all four, so no registry converts what it stores. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.dockerManifest,
].join(', ');

/** Layer media types that registries do not hold (Windows base layers): never copied, as Docker does not push them. */
const NON_DISTRIBUTABLE = /\.foreign\.|\.nondistributable\./;

/** A content descriptor (OCI image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
  /** What the described artifact is (OCI image-spec 1.1): set in referrers lists (distribution-spec 1.1). */
  artifactType?: string;
}

/** Manifest bytes with their digest and media type. */
export interface Manifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

/** What a HEAD (or GET) tells about a manifest. */
export interface ManifestHead {
  digest: Digest;
  mediaType: string;
  size?: number;
}

/** What a manifest of either kind may say about itself (OCI image-spec 1.1). */
interface ManifestOwn {
  /** The manifest this one refers to (a signature's, an SBOM's image): it is then one of that manifest's referrers. */
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** The references inside a manifest: child manifests for an index, config and layers for an image. */
export type ManifestContent =
  | ({ kind: 'index'; manifests: Descriptor[] } & ManifestOwn)
  | ({ kind: 'image'; config?: Descriptor; layers: Descriptor[]; blobs: Descriptor[] } & ManifestOwn);

/** True for OCI indexes and Docker manifest lists. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
}

/** True when a layer is one registries do not store (foreign / non-distributable). */
export function isNonDistributable(descriptor: Descriptor): boolean {
  return NON_DISTRIBUTABLE.test(descriptor.mediaType);
}

function bareMediaType(header: string | null): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

function descriptorOf(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || !isDigest(d.digest)) {
    throw new Error(`${where} has a descriptor without a sha256 digest`);
  }
  return {
    mediaType: typeof d.mediaType === 'string' ? d.mediaType : '',
    digest: d.digest,
    size: typeof d.size === 'number' ? d.size : -1,
    ...(Array.isArray(d.urls) ? { urls: d.urls } : {}),
    ...(d.platform ? { platform: d.platform } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
    ...(typeof d.artifactType === 'string' && d.artifactType ? { artifactType: d.artifactType } : {}),
  };
}

function ownFields(parsed: { subject?: unknown; artifactType?: unknown; annotations?: unknown }): ManifestOwn {
  const annotations = parsed.annotations;
  return {
    ...(parsed.subject ? { subject: descriptorOf(parsed.subject, 'subject') } : {}),
    ...(typeof parsed.artifactType === 'string' && parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
    ...(annotations && typeof annotations === 'object' && !Array.isArray(annotations)
      ? { annotations: annotations as Record<string, string> }
      : {}),
  };
}

/**
 * The manifest's media type: the body's own `mediaType` field when it has one (it is signed by the digest), else the
 * registry's Content-Type, else what the shape says (`manifests` → index).
 */
export function manifestMediaType(bytes: Uint8Array, contentType?: string | null): string {
  let field: unknown;
  let shape: 'index' | 'image' | undefined;
  try {
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown; config?: unknown };
    field = parsed.mediaType;
    shape = Array.isArray(parsed.manifests) ? 'index' : parsed.config ? 'image' : undefined;
  } catch {
    // not JSON: the content type is all there is
  }
  if (typeof field === 'string' && field) return field;
  const header = bareMediaType(contentType ?? null);
  if (header && header !== 'application/json' && header !== 'text/plain' && header !== 'application/octet-stream') return header;
  if (shape === 'index') return MEDIA_TYPES.ociIndex;
  return MEDIA_TYPES.ociManifest;
}

/**
 * What a manifest references. Index → its child manifests; image (or artifact) manifest → config, layers and
 * `blobs` (everything that must exist in a repository before the manifest can be put there, non-distributable layers
 * excluded). Throws when the bytes are not a manifest.
 */
export function parseManifestContent(bytes: Uint8Array, mediaType: string): ManifestContent {
  if (SCHEMA1_MEDIA_TYPES.has(mediaType)) {
    throw new Error(`Docker schema 1 manifests (${mediaType}) are not supported: rebuild and push the image with a current Docker`);
  }
  let parsed: {
    manifests?: unknown;
    config?: unknown;
    layers?: unknown;
    blobs?: unknown;
    subject?: unknown;
    artifactType?: unknown;
    annotations?: unknown;
  };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof parsed;
  } catch {
    throw new Error(`the manifest is not JSON (${mediaType || 'no media type'})`);
  }
  if (isIndexMediaType(mediaType) || (Array.isArray(parsed.manifests) && !parsed.config)) {
    if (!Array.isArray(parsed.manifests)) throw new Error(`the ${mediaType} has no 'manifests' list`);
    return { kind: 'index', manifests: parsed.manifests.map((m, i) => descriptorOf(m, `manifests[${i}]`)), ...ownFields(parsed) };
  }
  const config = parsed.config ? descriptorOf(parsed.config, 'config') : undefined;
  const layers = Array.isArray(parsed.layers) ? parsed.layers.map((l, i) => descriptorOf(l, `layers[${i}]`)) : [];
  // Artifact manifests (application/vnd.oci.artifact.manifest.v1+json, withdrawn from OCI 1.1 but in use) list `blobs`.
  const extra = Array.isArray(parsed.blobs) ? parsed.blobs.map((b, i) => descriptorOf(b, `blobs[${i}]`)) : [];
  const seen = new Set<string>();
  const blobs: Descriptor[] = [];
  for (const d of [...(config ? [config] : []), ...layers, ...extra]) {
    if (isNonDistributable(d) || seen.has(d.digest)) continue;
    seen.add(d.digest);
    blobs.push(d);
  }
  return { kind: 'image', config, layers, blobs, ...ownFields(parsed) };
}

/**
 * The `Docker-Content-Digest` a response carries, when it is a digest this layer can check (`sha256:<64 hex>`); any
 * other value (some registries send the bare hex) counts as absent, so the bytes are verified by their own hash, as
 * go-containerregistry does.
 */
export function reportedDigest(headers: Headers): Digest | undefined {
  const value = headers.get('docker-content-digest')?.trim();
  return value && isDigest(value) ? value : undefined;
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${repository}/manifests/${reference}`;
}

function mismatch(what: string, detail: string, url: string, method: string): RegistryError {
  return new RegistryError({ status: 0, code: 'DIGEST_MISMATCH', message: `${what}: ${detail}`, url, method, temporary: false });
}

/**
 * GETs a manifest by tag or digest and verifies its bytes: by digest, the bytes must hash to it; by tag, to the
 * registry's Docker-Content-Digest when it sends one. Throws RegistryError (MANIFEST_UNKNOWN etc.) when absent.
 */
export async function getManifest(client: RegistryClient, repository: string, reference: string): Promise<Manifest> {
  const response = await client.request({
    method: 'GET',
    path: manifestPath(repository, reference),
    scopes: [repositoryScope(repository, ['pull'])],
    headers: { accept: MANIFEST_ACCEPT },
    expect: [200],
  });
  const digest = sha256Digest(response.body);
  const reported = reportedDigest(response.headers);
  if (isDigest(reference) && digest !== reference) {
    throw mismatch(`manifest ${repository}@${reference}`, `the registry sent bytes whose digest is ${digest}`, response.url, 'GET');
  }
  if (reported && reported !== digest) {
    throw mismatch(
      `manifest ${repository}:${reference}`,
      `the registry says ${reported} but sent bytes whose digest is ${digest}`,
      response.url,
      'GET',
    );
  }
  const mediaType = manifestMediaType(response.body, response.headers.get('content-type'));
  if (SCHEMA1_MEDIA_TYPES.has(mediaType)) {
    throw new RegistryError({
      status: 0,
      code: 'MANIFEST_UNSUPPORTED',
      message: `${repository}:${reference} is a Docker schema 1 manifest, which is not supported: push it again with a current Docker`,
      url: response.url,
      method: 'GET',
      temporary: false,
    });
  }
  return { bytes: response.body, digest, mediaType };
}

/**
 * HEADs a manifest: its digest and media type, or undefined when the registry does not have it (404). Falls back to
 * a GET when the registry's HEAD carries no Docker-Content-Digest.
 */
export async function headManifest(client: RegistryClient, repository: string, reference: string): Promise<ManifestHead | undefined> {
  const response = await client.request({
    method: 'HEAD',
    path: manifestPath(repository, reference),
    scopes: [repositoryScope(repository, ['pull'])],
    headers: { accept: MANIFEST_ACCEPT },
    expect: [200, 404],
  });
  if (response.status === 404) return undefined;
  const reported = reportedDigest(response.headers);
  const length = Number(response.headers.get('content-length') ?? NaN);
  if (reported) {
    if (isDigest(reference) && reported !== reference) {
      throw mismatch(`manifest ${repository}@${reference}`, `the registry reports digest ${reported}`, response.url, 'HEAD');
    }
    const mediaType = bareMediaType(response.headers.get('content-type'));
    return { digest: reported, mediaType, ...(Number.isFinite(length) ? { size: length } : {}) };
  }
  const manifest = await getManifest(client, repository, reference);
  return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
}

/** A repository with more tag pages than this is not listed further (a runaway `Link` chain). */
const MAX_TAG_PAGES = 100;

/** The `rel="next"` target of a `Link` header (RFC 8288), resolved against `url`. */
export function nextLink(header: string | null, url: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel="?next"?/i.test(match[2])) return new URL(match[1], url).toString();
  }
  return undefined;
}

/** A repository's tags as one listing saw them. */
export interface TagListing {
  /**
   * False when the registry answered 404 (NAME_UNKNOWN): the repository has no tag at all. Distribution answers so
   * for a repository that does not exist and for one that holds only untagged manifests, so a manifest put by digest
   * may still be there.
   */
  tagged: boolean;
  tags: ReadonlySet<string>;
  /** False when the listing stopped after its page limit: a tag it does not show may still exist. */
  complete: boolean;
}

/** What a listing says of one tag: true (listed), false (not there), undefined (an incomplete listing lacks it). */
export function tagListed(listing: TagListing, tag: string): boolean | undefined {
  if (listing.tags.has(tag)) return true;
  return listing.complete ? false : undefined;
}

/**
 * Lists a repository's tags (distribution-spec "Listing Tags"), following every `Link` page the registry sends (up
 * to a limit). Asked without `n`: registries cap it differently (some refuse a larger one) and each sends its own
 * page size and `Link`.
 */
export async function readTagListing(client: RegistryClient, repository: string): Promise<TagListing> {
  const tags = new Set<string>();
  let path: string | undefined = `/v2/${repository}/tags/list`;
  for (let page = 0; path; page++) {
    if (page === MAX_TAG_PAGES) return { tagged: true, tags, complete: false };
    const response = await client.request({
      method: 'GET',
      path,
      scopes: [repositoryScope(repository, ['pull'])],
      expect: [200, 404, 401, 403],
    });
    if (response.status === 404) return { tagged: tags.size > 0, tags, complete: true };
    // Credentials that may pull but not list (an ACR token whose scope map lacks metadata/read): each tag is then
    // looked up on its own, as without a listing.
    if (response.status === 401 || response.status === 403) return { tagged: true, tags, complete: false };
    const body = JSON.parse(response.body.toString('utf8') || '{}') as { tags?: unknown };
    if (Array.isArray(body.tags)) for (const tag of body.tags) if (typeof tag === 'string') tags.add(tag);
    path = nextLink(response.headers.get('link'), response.url);
  }
  return { tagged: tags.size > 0, tags, complete: true };
}

/** What a manifest PUT stored. */
export interface StoredManifest {
  digest: Digest;
  /**
   * The `OCI-Subject` the registry answered with: it has indexed the manifest's `subject` for its referrers API
   * (distribution-spec 1.1, "Pushing Manifests with Subject"). Absent: the client keeps the referrers tag itself.
   */
  ociSubject?: string;
}

/**
 * PUTs the exact bytes under `reference` (tag or digest) with their media type as Content-Type, and confirms the
 * registry stored them: its Docker-Content-Digest must be the bytes' digest (read back only when it sends none).
 * Returns that digest.
 */
export async function putManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<Digest> {
  return (await storeManifest(client, repository, reference, bytes, mediaType)).digest;
}

/** {@link putManifest}, also telling whether the registry indexed the manifest's subject (`OCI-Subject`). */
export async function storeManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  bytes: Uint8Array,
  mediaType: string,
): Promise<StoredManifest> {
  const expected = sha256Digest(bytes);
  if (isDigest(reference) && reference !== expected) {
    throw new Error(`put manifest ${repository}@${reference}: the bytes have digest ${expected}`);
  }
  const response = await client.request({
    method: 'PUT',
    path: manifestPath(repository, reference),
    scopes: [repositoryScope(repository, ['pull', 'push'])],
    headers: { 'content-type': mediaType },
    body: bytes,
    expect: [200, 201],
  });
  const ociSubject = response.headers.get('oci-subject')?.trim() || undefined;
  const stored: StoredManifest = { digest: expected, ...(ociSubject ? { ociSubject } : {}) };
  const reported = reportedDigest(response.headers);
  if (reported) {
    if (reported !== expected) {
      throw mismatch(
        `put manifest ${repository}:${reference}`,
        `the registry stored ${reported}, the bytes sent are ${expected}`,
        response.url,
        'PUT',
      );
    }
    return stored;
  }
  const readBack = await getManifest(client, repository, reference);
  if (readBack.digest !== expected) {
    throw mismatch(
      `put manifest ${repository}:${reference}`,
      `reading it back gives ${readBack.digest}, the bytes sent are ${expected}`,
      response.url,
      'PUT',
    );
  }
  return stored;
}
