import type { Log } from '../log';
import { isDigest, type Digest } from '../reference/reference';
import { repositoryScope } from './auth';
import type { RepositoryOn } from './blob';
import { shortDigest, type ManifestCopier, type StepRunner } from './copy';
import { RegistryError } from './errors';
import {
  getManifest,
  headManifest,
  MEDIA_TYPES,
  parseManifestContent,
  storeManifest,
  type Descriptor,
  type Manifest,
  type ManifestContent,
} from './manifest';
import type { RegistryClient } from './transport';

/*
 * What is attached to a manifest — signatures, SBOMs, attestations — found in the source and copied with it.
 *
 * Three ways of attaching are in use (OCI distribution-spec 1.1, "Listing Referrers", "Referrers Tag Schema",
 * "Pushing Manifests with Subject"; cosign's tag convention):
 * - the referrers API, `GET /v2/<name>/referrers/<digest>`: an image index of the manifests whose `subject` is
 *   `<digest>`. A registry without it answers 404 (distribution 2.8: `404 page not found`, text/plain), and the
 *   client then MUST use
 * - the referrers tag schema: the tag `sha256-<hex>` holds an image index of those manifests, kept by the clients
 *   that push them. Pushing a manifest with `subject` to a registry that does not answer `OCI-Subject` means updating
 *   that index: pull it (404: start empty), add the new descriptor unless it is there, push it back.
 * - cosign's tags `sha256-<hex>.sig`, `.att` and `.sbom`: a manifest whose layers are the signatures (attestations,
 *   SBOM) of `<digest>`, rewritten with one more layer each time cosign adds one.
 *
 * Everything is found before the first write (the tags of the source repository are listed once), so a promotion
 * that would clobber a target's cosign tag is refused with nothing moved. The referrers tag is never refused: the
 * target's index is merged with the source's referrers.
 */

/** cosign's attachment tags: `sha256-<hex>.<suffix>` for signatures, attestations and SBOMs. */
export const COSIGN_TAG_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** A repository with more tag pages than this is not listed further (a runaway `Link` chain). */
const MAX_TAG_PAGES = 100;
/** The same bound for referrers API pages. */
const MAX_REFERRER_PAGES = 100;

/**
 * The referrers tag of a digest (distribution-spec 1.1, "Referrers Tag Schema"): the algorithm cut to 32 characters,
 * `-`, the encoded part cut to 64 characters, every character a tag cannot hold made `-`.
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon).slice(0, 32);
  const encoded = digest.slice(colon + 1).slice(0, 64);
  return `${algorithm}-${encoded}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** cosign's tag for what is attached to `digest`: `sha256-<hex>.sig`, `.att` or `.sbom`. */
export function cosignTag(digest: string, suffix: (typeof COSIGN_TAG_SUFFIXES)[number]): string {
  return `${referrersTag(digest)}.${suffix}`;
}

/** The `rel="next"` target of a `Link` header (RFC 8288), resolved against `url`. */
function nextLink(header: string | null, url: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const match = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (match && /\brel="?next"?/i.test(match[2])) return new URL(match[1], url).toString();
  }
  return undefined;
}

/** Every tag of a repository, following `Link` pages; empty when the repository does not exist. */
export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  // No `n`: registries cap it differently (and some refuse a larger one); each sends its own page and a `Link`.
  let path: string | undefined = `/v2/${repository}/tags/list`;
  for (let page = 0; path && page < MAX_TAG_PAGES; page++) {
    const response = await client.request({
      method: 'GET',
      path,
      scopes: [repositoryScope(repository, ['pull'])],
      expect: [200, 404],
    });
    if (response.status === 404) return tags;
    const body = JSON.parse(response.body.toString('utf8') || '{}') as { tags?: unknown };
    if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
    path = nextLink(response.headers.get('link'), response.url);
  }
  return tags;
}

/** The descriptors of an image index's bytes, as raw objects (fields this code does not know are kept). */
function indexEntries(bytes: Uint8Array, where: string): Record<string, unknown>[] {
  let parsed: { manifests?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new Error(`${where} is not JSON`);
  }
  if (!parsed || !Array.isArray(parsed.manifests)) throw new Error(`${where} is not an image index (no 'manifests' list)`);
  return (parsed.manifests as unknown[]).filter(
    (m): m is Record<string, unknown> => !!m && typeof m === 'object' && typeof (m as { digest?: unknown }).digest === 'string',
  );
}

/**
 * Answers to a referrers request that mean the registry has no referrers API: 404, which a registry with the API never
 * sends (distribution-spec 1.1, "Listing Referrers"; distribution 2.8's `404 page not found`), and the 405 and 501
 * of registries that refuse a route they do not know.
 */
const NO_REFERRERS_API = [404, 405, 501];

/**
 * The referrers of `digest` as the registry's referrers API lists them, every page; undefined when the registry has
 * no referrers API.
 */
export async function listReferrers(client: RegistryClient, repository: string, digest: Digest): Promise<Descriptor[] | undefined> {
  const found: Descriptor[] = [];
  let path: string | undefined = `/v2/${repository}/referrers/${digest}`;
  for (let page = 0; path && page < MAX_REFERRER_PAGES; page++) {
    const response = await client.request({
      method: 'GET',
      path,
      scopes: [repositoryScope(repository, ['pull'])],
      headers: { accept: MEDIA_TYPES.ociIndex },
      expect: [200, ...NO_REFERRERS_API],
    });
    if (response.status !== 200) return undefined;
    const where = `the referrers of ${repository}@${digest}`;
    const content = parseManifestContent(response.body, MEDIA_TYPES.ociIndex);
    if (content.kind !== 'index') throw new Error(`${where} are not an image index`);
    found.push(...content.manifests);
    path = nextLink(response.headers.get('link'), response.url);
  }
  return found;
}

/** The image index under a referrers tag, or undefined when there is no such tag. */
async function readReferrersIndex(client: RegistryClient, repository: string, digest: Digest): Promise<Manifest | undefined> {
  const tag = referrersTag(digest);
  try {
    return await getManifest(client, repository, tag);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * The descriptor of a referrer as a referrers list holds it (distribution-spec 1.1, "Pushing Manifests with Subject"):
 * its `artifactType`, else its config's media type (an image manifest); its annotations.
 */
export function referrerDescriptor(manifest: Manifest, content: ManifestContent): Descriptor {
  const artifactType = content.artifactType ?? (content.kind === 'image' ? content.config?.mediaType : undefined);
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.bytes.length,
    ...(artifactType ? { artifactType } : {}),
    ...(content.annotations ? { annotations: content.annotations } : {}),
  };
}

/** How a manifest was found attached to its subject. */
export type AttachedVia = 'referrers API' | 'referrers tag' | 'cosign tag';

/** A manifest attached to another (its subject) in the source, read and checked against its digest. */
export interface Attached {
  subject: Digest;
  via: AttachedVia;
  /** The cosign tag it is under (`via: 'cosign tag'`). */
  tag?: string;
  manifest: Manifest;
  content: ManifestContent;
}

/** The digests a manifest stands for in a referrers search: itself and, for an index, its children. */
function digestsOf(digest: Digest, content: ManifestContent): Digest[] {
  return [digest, ...(content.kind === 'index' ? content.manifests.map((m) => m.digest) : [])];
}

/**
 * Finds what is attached, recursively, to manifests of one source repository: referrers (through the API where the
 * registry answers it, else the referrers tag) and cosign tags, then what is attached to those (a signature of an
 * SBOM), and to the children of any index among them. The repository's tags are listed once; only what exists is
 * read. Reads only.
 */
export class ReferrerFinder {
  private tags?: Promise<Set<string>>;
  /** Whether the source answers the referrers API: learned from its first answer. */
  private api?: boolean;

  constructor(
    private readonly source: RepositoryOn,
    private readonly step: StepRunner,
  ) {}

  /** Everything attached to `digest` (and its children, for an index), subjects before what refers to them. */
  async find(digest: Digest, content: ManifestContent): Promise<Attached[]> {
    const seen = new Set<string>(digestsOf(digest, content));
    const queue = [...seen] as Digest[];
    const found: Attached[] = [];
    while (queue.length > 0) {
      const subject = queue.shift()!;
      for (const attached of await this.attachedTo(subject)) {
        found.push(attached);
        for (const next of digestsOf(attached.manifest.digest, attached.content)) {
          if (seen.has(next)) continue;
          seen.add(next);
          queue.push(next);
        }
      }
    }
    return found;
  }

  private sourceTags(): Promise<Set<string>> {
    const { client, repository } = this.source;
    this.tags ??= this.step(`list the tags of ${repository}`, async () => new Set(await listTags(client, repository)));
    return this.tags;
  }

  private async attachedTo(subject: Digest): Promise<Attached[]> {
    const { client, repository } = this.source;
    const tags = await this.sourceTags();
    const found: Attached[] = [];
    let listed: Descriptor[] = [];
    let via: AttachedVia = 'referrers API';
    if (this.api !== false) {
      const answer = await this.step(`list the referrers of ${shortDigest(subject)}…`, () => listReferrers(client, repository, subject));
      this.api = answer !== undefined;
      listed = answer ?? [];
    }
    if (this.api === false && tags.has(referrersTag(subject))) {
      via = 'referrers tag';
      const index = await this.step(`read the referrers tag ${referrersTag(subject)}`, () =>
        readReferrersIndex(client, repository, subject),
      );
      if (index) {
        listed = indexEntries(index.bytes, `${repository}:${referrersTag(subject)}`)
          .map((d) => d.digest as string)
          .filter(isDigest)
          .map((d) => ({ mediaType: '', digest: d, size: -1 }));
      }
    }
    const digests = [...new Set(listed.map((d) => d.digest))];
    for (const digest of digests) {
      const manifest = await this.step(`read referrer ${shortDigest(digest)}…`, () => getManifest(client, repository, digest));
      found.push({ subject, via, manifest, content: parseManifestContent(manifest.bytes, manifest.mediaType) });
    }
    for (const suffix of COSIGN_TAG_SUFFIXES) {
      const tag = cosignTag(subject, suffix);
      if (!tags.has(tag)) continue;
      const manifest = await this.step(`read ${repository}:${tag}`, () => getManifest(client, repository, tag));
      found.push({ subject, via: 'cosign tag', tag, manifest, content: parseManifestContent(manifest.bytes, manifest.mediaType) });
    }
    return found;
  }
}

/** A layer as cosign tells signatures apart: digest and annotations (two keys signing one payload share the digest). */
function layerKeys(content: ManifestContent): Set<string> {
  if (content.kind !== 'image') return new Set();
  return new Set(
    content.layers.map((layer) => {
      const annotations = Object.entries(layer.annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `${layer.digest} ${JSON.stringify(annotations)}`;
    }),
  );
}

/** What to do with a cosign tag in the target. */
export interface CosignTagCheck {
  tag: string;
  /** The digest the target's tag points at now, when it has the tag. */
  current?: Digest;
  /** 'write': absent, or the source's holds every layer the target's does (cosign adds a layer per signature). */
  action: 'write' | 'present' | 'conflict';
}

/**
 * Checks a cosign tag in the target before anything is written. Absent: written. At the source's digest: nothing to
 * do. At another digest: moved forward when every signature (layer) the target's manifest holds is also in the
 * source's — the source has gained signatures since the last promotion, and nothing is lost; otherwise a conflict
 * (the target holds a signature the source does not), refused like any other tag unless overwriting is allowed.
 */
export async function checkCosignTag(target: RepositoryOn, attached: Attached): Promise<CosignTagCheck> {
  const tag = attached.tag!;
  const head = await headManifest(target.client, target.repository, tag);
  if (!head) return { tag, action: 'write' };
  if (head.digest === attached.manifest.digest) return { tag, current: head.digest, action: 'present' };
  const current = await getManifest(target.client, target.repository, head.digest);
  const forward = holdsEveryLayerOf(attached.content, parseManifestContent(current.bytes, current.mediaType));
  return { tag, current: head.digest, action: forward ? 'write' : 'conflict' };
}

/**
 * True when `source` holds every layer (signature, attestation) `target` does, told apart by digest and annotations:
 * replacing `target` with `source` then loses nothing. A `target` without layers is not taken for a subset.
 */
export function holdsEveryLayerOf(source: ManifestContent, target: ManifestContent): boolean {
  const theirs = layerKeys(target);
  const ours = layerKeys(source);
  return theirs.size > 0 && [...theirs].every((key) => ours.has(key));
}

/** What `copyAttached` did. */
export interface AttachedCopyCounts {
  /** Referrer manifests put and cosign tags written. */
  copied: number;
  /** Attached manifests the target had already. */
  present: number;
  /** Referrers tags (`sha256-<hex>`) written or extended in the target. */
  referrersTags: number;
}

/**
 * Copies what `ReferrerFinder` found into the target, after its subjects are there: each referrer's tree by digest
 * (unless the target lists or has it), then — where the target has no referrers API, or did not answer `OCI-Subject`
 * to a PUT — the subject's referrers tag, merged with what the target's holds; each cosign tag checked `write` by
 * `checkCosignTag`. Nothing is written for what is there already.
 */
export async function copyAttached(
  copier: ManifestCopier,
  target: RepositoryOn,
  attached: readonly Attached[],
  cosignTags: ReadonlyMap<string, CosignTagCheck>,
  options: { step: StepRunner; log: Log },
): Promise<AttachedCopyCounts> {
  const counts: AttachedCopyCounts = { copied: 0, present: 0, referrersTags: 0 };
  const { step, log } = options;
  let targetApi: boolean | undefined;
  const subjects = [...new Set(attached.map((a) => a.subject))];
  for (const subject of subjects) {
    const referrers = attached.filter((a) => a.subject === subject && a.via !== 'cosign tag');
    if (referrers.length > 0) {
      let listed: Descriptor[] | undefined;
      if (targetApi !== false) {
        listed = await step(`list the referrers of ${shortDigest(subject)}… in the target`, () =>
          listReferrers(target.client, target.repository, subject),
        );
        targetApi = listed !== undefined;
      }
      const tag = referrersTag(subject);
      let indexed: { manifest?: Manifest; entries: Record<string, unknown>[] } | undefined;
      const readIndexed = async () =>
        (indexed ??= await step(`read the referrers tag ${tag} in the target`, async () => {
          const manifest = await readReferrersIndex(target.client, target.repository, subject);
          return { manifest, entries: manifest ? indexEntries(manifest.bytes, `${target.repository}:${tag}`) : [] };
        }));
      if (!targetApi) await readIndexed();
      const known = new Set([...(listed ?? []).map((d) => d.digest), ...(indexed?.entries ?? []).map((d) => d.digest as string)]);
      let tagNeeded = !targetApi;
      for (const referrer of referrers) {
        const { digest } = referrer.manifest;
        if (known.has(digest)) {
          counts.present++;
          continue;
        }
        const there = await step(`check referrer ${shortDigest(digest)}… in the target`, () =>
          headManifest(target.client, target.repository, digest),
        );
        if (there) {
          counts.present++;
          if (!referrer.content.subject) tagNeeded = true;
          continue;
        }
        const stored = await copier.copyTree(referrer.manifest, referrer.content);
        if (!referrer.content.subject || !stored.ociSubject) tagNeeded = true;
        counts.copied++;
        log.info(`Copied ${describeAttached(referrer)} of ${shortDigest(subject)}…`);
      }
      if (tagNeeded) {
        const { manifest: index, entries } = await readIndexed();
        const have = new Set(entries.map((d) => d.digest as string));
        const added = referrers.filter((r) => !have.has(r.manifest.digest)).map((r) => referrerDescriptor(r.manifest, r.content));
        if (added.length > 0) {
          const base = index ? (JSON.parse(index.bytes.toString('utf8')) as Record<string, unknown>) : {};
          const merged = Buffer.from(
            JSON.stringify({ ...base, schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...entries, ...added] }),
          );
          await step(`put the referrers tag ${tag}`, () =>
            storeManifest(target.client, target.repository, tag, merged, MEDIA_TYPES.ociIndex),
          );
          counts.referrersTags++;
          log.info(`Referrers tag ${tag}: ${added.length} added to the ${entries.length} it held`);
        }
      }
    }
    for (const signed of attached.filter((a) => a.subject === subject && a.via === 'cosign tag')) {
      const check = cosignTags.get(signed.tag!);
      if (!check || check.action === 'present') {
        counts.present++;
        continue;
      }
      await copier.copyTree(signed.manifest, signed.content, signed.tag);
      counts.copied++;
      log.info(
        `Copied ${describeAttached(signed)}${check.current ? ` (moved from ${shortDigest(check.current)}…: the source's adds to it)` : ''}`,
      );
    }
  }
  return counts;
}

/** `signature application/vnd.example+json sha256:…` as a log line names an attached manifest. */
export function describeAttached(attached: Attached): string {
  if (attached.via === 'cosign tag') return `cosign tag ${attached.tag}`;
  const type = attached.content.artifactType ?? (attached.content.kind === 'image' ? attached.content.config?.mediaType : undefined);
  return `referrer ${shortDigest(attached.manifest.digest)}…${type ? ` (${type})` : ''}`;
}
