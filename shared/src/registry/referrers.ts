import type { Log } from '../log';
import { isDigest, type Digest } from '../reference/reference';
import { repositoryScope } from './auth';
import type { RepositoryOn } from './blob';
import { bothSettled, eachLimited, shortDigest, type ManifestCopier, type StepRunner } from './copy';
import { parseErrorBody, RegistryError } from './errors';
import {
  getManifest,
  headManifest,
  MEDIA_TYPES,
  nextLink,
  parseManifestContent,
  storeManifest,
  tagListed,
  type Descriptor,
  type Manifest,
  type ManifestContent,
  type TagListing,
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
 * target's index is merged with the source's referrers. Whether a host answers the referrers API is asked once per
 * host and run (ReferrersApiSupport), and a tag listing tells which tags exist, so nothing that is not there is
 * looked up: a registry without the API costs one question, not two per image.
 */

/** cosign's attachment tags: `sha256-<hex>.<suffix>` for signatures, attestations and SBOMs. */
export const COSIGN_TAG_SUFFIXES = ['sig', 'att', 'sbom'] as const;

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
 * Answers to a referrers request that mean the registry has no referrers API: a 404 without an error body of the API
 * (distribution 2.8 answers the unknown route `404 page not found`, text/plain), and the 405 and 501 of registries
 * that refuse a route they do not know. A registry with the API never answers 404 for a repository it has
 * (distribution-spec 1.1, "Listing Referrers").
 */
const NO_REFERRERS_API = [404, 405, 501];

/**
 * Error codes of a 404 that name what was not found rather than the route: a registry with the API may answer so for a
 * repository it does not have ("Assuming a repository is found, this request MUST return a 200 OK"), so such an answer
 * says nothing about the API.
 */
const UNKNOWN_NAME_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN']);

/** What a referrers API request answered. */
export type ReferrersAnswer =
  /** 200: the registry has the API; every page's descriptors. */
  | { kind: 'listed'; referrers: Descriptor[] }
  /** The route is unknown there (see NO_REFERRERS_API): use the referrers tag schema. */
  | { kind: 'no API' }
  /** 404 NAME_UNKNOWN or MANIFEST_UNKNOWN: the repository (or subject) is unknown; for this request, fall back to the tag. */
  | { kind: 'not found' };

/** Asks the registry's referrers API for the referrers of `digest`, every page. */
export async function listReferrers(client: RegistryClient, repository: string, digest: Digest): Promise<ReferrersAnswer> {
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
    if (response.status !== 200) {
      const codes = parseErrorBody(response.body.toString('utf8'))?.map((e) => e.code) ?? [];
      const named = response.status === 404 && codes.some((code) => UNKNOWN_NAME_CODES.has(code));
      return named ? { kind: 'not found' } : { kind: 'no API' };
    }
    const where = `the referrers of ${repository}@${digest}`;
    const content = parseManifestContent(response.body, MEDIA_TYPES.ociIndex);
    if (content.kind !== 'index') throw new Error(`${where} are not an image index`);
    found.push(...content.manifests);
    path = nextLink(response.headers.get('link'), response.url);
  }
  return { kind: 'listed', referrers: found };
}

/**
 * Whether each registry host answers the referrers API, learned from its first answer that tells (a list: yes; an
 * unknown route: no) and kept for the whole run, so a release asks a host without the API once, not twice per entry.
 * A 404 naming an unknown repository or manifest tells nothing, so the next request asks again. Requests made while
 * the first question is out wait for its answer.
 */
export class ReferrersApiSupport {
  private readonly verdicts = new Map<RegistryClient, Promise<boolean | undefined>>();

  /** What is known of `client`'s host: true (it has the API), false (it has not), undefined (not known yet). */
  async known(client: RegistryClient): Promise<boolean | undefined> {
    return this.verdicts.get(client);
  }

  /**
   * The referrers of `digest` in `repository` through the API; undefined when the host has no API or the answer was
   * a 404 (the client then uses the referrers tag schema, as distribution-spec 1.1 says).
   */
  async list(client: RegistryClient, repository: string, digest: Digest): Promise<Descriptor[] | undefined> {
    for (;;) {
      const pending = this.verdicts.get(client);
      if (!pending) {
        // The open question: this request asks it, and those made meanwhile wait for the answer.
        const answer = listReferrers(client, repository, digest);
        const verdict = answer.then(
          (a) => (a.kind === 'listed' ? true : a.kind === 'no API' ? false : undefined),
          () => undefined,
        );
        this.verdicts.set(client, verdict);
        const settled = await answer.finally(async () => {
          if ((await verdict) === undefined && this.verdicts.get(client) === verdict) this.verdicts.delete(client);
        });
        return referrersIn(settled);
      }
      const known = await pending;
      if (known === false) return undefined;
      if (known === true) return referrersIn(await listReferrers(client, repository, digest));
      // The answer told nothing (or failed): the question is open again.
      if (this.verdicts.get(client) === pending) this.verdicts.delete(client);
    }
  }
}

/** The referrers an answer lists; undefined for a 404 (of either kind): use the referrers tag. */
function referrersIn(answer: ReferrersAnswer): Descriptor[] | undefined {
  return answer.kind === 'listed' ? answer.referrers : undefined;
}

/** A manifest by tag (or digest), or undefined when the registry has no such manifest (404). */
async function readIfPresent(client: RegistryClient, repository: string, reference: string): Promise<Manifest | undefined> {
  try {
    return await getManifest(client, repository, reference);
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined;
    throw error;
  }
}

/** The image index under a referrers tag, or undefined when there is no such tag. */
function readReferrersIndex(client: RegistryClient, repository: string, digest: Digest): Promise<Manifest | undefined> {
  return readIfPresent(client, repository, referrersTag(digest));
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

/** Subjects whose attachments are looked up at once: each lookup is a few reads. */
const SUBJECTS_AT_ONCE = 4;

/** Where a ReferrerFinder looks, and what it knows of the run. */
export interface ReferrerFinderOptions {
  source: RepositoryOn;
  step: StepRunner;
  /** Which hosts answer the referrers API, shared by the run. */
  api: ReferrersApiSupport;
  /** The source repository's tags, listed once for the run. */
  tags: () => Promise<TagListing>;
}

/**
 * Finds what is attached, recursively, to manifests of one source repository: referrers (through the API where the
 * registry answers it, else the referrers tag) and cosign tags, then what is attached to those (a signature of an
 * SBOM), and to the children of any index among them. The repository's tags are listed once; only what exists is
 * read. Reads only.
 */
export class ReferrerFinder {
  constructor(private readonly options: ReferrerFinderOptions) {}

  /** Everything attached to `digest` (and its children, for an index), subjects before what refers to them. */
  async find(digest: Digest, content: ManifestContent): Promise<Attached[]> {
    const seen = new Set<string>(digestsOf(digest, content));
    let level = [...seen] as Digest[];
    const found: Attached[] = [];
    while (level.length > 0) {
      const results = new Array<Attached[]>(level.length);
      await eachLimited(level, SUBJECTS_AT_ONCE, async (subject, index) => {
        results[index] = await this.attachedTo(subject);
      });
      const next: Digest[] = [];
      for (const attached of results.flat()) {
        found.push(attached);
        for (const digest of digestsOf(attached.manifest.digest, attached.content)) {
          if (seen.has(digest)) continue;
          seen.add(digest);
          next.push(digest);
        }
      }
      level = next;
    }
    return found;
  }

  private async attachedTo(subject: Digest): Promise<Attached[]> {
    const { source, step, api } = this.options;
    const { client, repository } = source;
    const [tags, answer] = await bothSettled(
      step(`list the tags of ${repository}`, () => this.options.tags()),
      step(`list the referrers of ${shortDigest(subject)}…`, () => api.list(client, repository, subject)),
    );
    let listed: Digest[] = [];
    let via: AttachedVia = 'referrers API';
    if (answer) listed = answer.map((d) => d.digest);
    else if (tagListed(tags, referrersTag(subject)) !== false) {
      via = 'referrers tag';
      const index = await step(`read the referrers tag ${referrersTag(subject)}`, () => readReferrersIndex(client, repository, subject));
      if (index) {
        listed = indexEntries(index.bytes, `${repository}:${referrersTag(subject)}`)
          .map((d) => d.digest as string)
          .filter(isDigest);
      }
    }
    const withContent = (manifest: Manifest) => ({ manifest, content: parseManifestContent(manifest.bytes, manifest.mediaType) });
    // A tag an incomplete listing does not show is read if it is there; a cosign tag the listing shows is read.
    const cosignTags = COSIGN_TAG_SUFFIXES.map((suffix) => cosignTag(subject, suffix)).filter((tag) => tagListed(tags, tag) !== false);
    const [referrers, signed] = await Promise.all([
      Promise.all(
        [...new Set(listed)].map(async (digest): Promise<Attached> => ({
          subject,
          via,
          ...(await step(`read referrer ${shortDigest(digest)}…`, async () => withContent(await getManifest(client, repository, digest)))),
        })),
      ),
      Promise.all(
        cosignTags.map(async (tag): Promise<Attached | undefined> => {
          const found = await step(`read ${repository}:${tag}`, async () => {
            const manifest = await readIfPresent(client, repository, tag);
            return manifest && withContent(manifest);
          });
          return found && { subject, via: 'cosign tag', tag, ...found };
        }),
      ),
    ]);
    return [...referrers, ...signed.filter((a): a is Attached => a !== undefined)];
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
 * (the target holds a signature the source does not), refused like any other tag unless overwriting is allowed. A
 * tag the target's listing does not show is absent without a request.
 */
export async function checkCosignTag(target: AttachedTarget, attached: Attached): Promise<CosignTagCheck> {
  const tag = attached.tag!;
  if (target.listing && tagListed(target.listing, tag) === false) return { tag, action: 'write' };
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

/** What to do with a subject's referrers tag (`sha256-<hex>`) in the target. */
export interface ReferrersTagCheck {
  tag: string;
  /** The digest the target's tag points at now, when it has the tag. */
  current?: Digest;
  /** What the tag held when it was checked (reused while the run is the repository's only writer). */
  manifest?: Manifest;
  /**
   * 'merge': absent, or an image index (what the source adds is merged into it). 'conflict': something else, which no
   * merge can keep: refused like a tag at another image. 'replace': such a tag, which `allowOverwrite` lets go.
   */
  action: 'merge' | 'conflict' | 'replace';
}

/**
 * Checks a subject's referrers tag in the target before anything is written: a tag that does not hold an image index
 * would otherwise stop the promotion after the image and its referrers were copied. A tag the target's listing does
 * not show is absent without a request.
 */
export async function checkReferrersTag(target: AttachedTarget, subject: Digest): Promise<ReferrersTagCheck> {
  const tag = referrersTag(subject);
  if (target.listing && tagListed(target.listing, tag) === false) return { tag, action: 'merge' };
  const manifest = await readReferrersIndex(target.client, target.repository, subject);
  if (!manifest) return { tag, action: 'merge' };
  try {
    indexEntries(manifest.bytes, tag);
    return { tag, current: manifest.digest, manifest, action: 'merge' };
  } catch {
    return { tag, current: manifest.digest, action: 'conflict' };
  }
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

/** The target of attached manifests, and what is known of it. */
export interface AttachedTarget extends RepositoryOn {
  /**
   * The target repository's tags listed before the first write, when nothing else of this run writes there: a tag it
   * does not show is absent, and when it shows no tag at all nothing is looked for in the target (a manifest put by
   * digest may be there already; putting the same bytes again changes nothing).
   */
  listing?: TagListing;
}

/**
 * Copies what `ReferrerFinder` found into the target, after its subjects are there: each referrer's tree by digest
 * (unless the target lists or has it), then — where the target has no referrers API, or did not answer `OCI-Subject`
 * to a PUT — the subject's referrers tag, merged with what the target's holds; each cosign tag checked `write` by
 * `checkCosignTag`. Nothing is written for what is there already. A subject's referrers and cosign tags are copied
 * side by side (the copier bounds the blob requests).
 */
export async function copyAttached(
  copier: ManifestCopier,
  target: AttachedTarget,
  attached: readonly Attached[],
  cosignTags: ReadonlyMap<string, CosignTagCheck>,
  referrersTags: ReadonlyMap<string, ReferrersTagCheck>,
  options: { step: StepRunner; log: Log; api: ReferrersApiSupport; concurrency: number },
): Promise<AttachedCopyCounts> {
  const counts: AttachedCopyCounts = { copied: 0, present: 0, referrersTags: 0 };
  const { step, log, api, concurrency } = options;
  const { client, repository, listing } = target;
  const untagged = listing !== undefined && !listing.tagged;

  const copyReferrers = async (subject: Digest, referrers: readonly Attached[]) => {
    const tag = referrersTag(subject);
    let listed: Descriptor[] | undefined;
    // Whether the referrers tag must hold every referrer: the target has no API, or a PUT was not acknowledged.
    let tagNeeded: boolean;
    if (untagged) tagNeeded = (await api.known(client)) === false;
    else {
      listed = await step(`list the referrers of ${shortDigest(subject)}… in the target`, () => api.list(client, repository, subject));
      tagNeeded = listed === undefined;
    }
    let indexed: { manifest?: Manifest; entries: Record<string, unknown>[] } | undefined;
    const checked = referrersTags.get(tag);
    const readIndexed = async () =>
      (indexed ??=
        checked?.action === 'replace' || (listing && tagListed(listing, tag) === false)
          ? { entries: [] }
          : await step(`read the referrers tag ${tag} in the target`, async () => {
              // The checked bytes stand while the listing does: nothing else of this run writes here.
              const manifest = listing && checked ? checked.manifest : await readReferrersIndex(client, repository, subject);
              return { manifest, entries: manifest ? indexEntries(manifest.bytes, `${repository}:${tag}`) : [] };
            }));
    if (tagNeeded) await readIndexed();
    const known = new Set([...(listed ?? []).map((d) => d.digest), ...(indexed?.entries ?? []).map((d) => d.digest as string)]);
    await eachLimited(referrers, concurrency, async (referrer) => {
      const { digest } = referrer.manifest;
      if (known.has(digest)) {
        counts.present++;
        return;
      }
      const there = untagged
        ? undefined
        : await step(`check referrer ${shortDigest(digest)}… in the target`, () => headManifest(client, repository, digest));
      if (there) {
        counts.present++;
        if (!referrer.content.subject) tagNeeded = true;
        return;
      }
      const stored = await copier.copyTree(referrer.manifest, referrer.content);
      if (!referrer.content.subject || !stored.ociSubject) tagNeeded = true;
      counts.copied++;
      log.info(`Copied ${describeAttached(referrer)} of ${shortDigest(subject)}…`);
    });
    if (!tagNeeded) return;
    const { manifest: index, entries } = await readIndexed();
    const have = new Set(entries.map((d) => d.digest as string));
    const added = referrers.filter((r) => !have.has(r.manifest.digest)).map((r) => referrerDescriptor(r.manifest, r.content));
    if (added.length === 0) return;
    const base = index ? (JSON.parse(index.bytes.toString('utf8')) as Record<string, unknown>) : {};
    const merged = Buffer.from(
      JSON.stringify({ ...base, schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...entries, ...added] }),
    );
    await step(`put the referrers tag ${tag}`, () => storeManifest(client, repository, tag, merged, MEDIA_TYPES.ociIndex));
    counts.referrersTags++;
    log.info(`Referrers tag ${tag}: ${added.length} added to the ${entries.length} it held`);
  };

  const copySigned = (signed: readonly Attached[]) =>
    eachLimited(signed, concurrency, async (one) => {
      const check = cosignTags.get(one.tag!);
      if (!check || check.action === 'present') {
        counts.present++;
        return;
      }
      await copier.copyTree(one.manifest, one.content, one.tag);
      counts.copied++;
      log.info(
        `Copied ${describeAttached(one)}${check.current ? ` (moved from ${shortDigest(check.current)}…: the source's adds to it)` : ''}`,
      );
    });

  // Subjects in order: what is attached to a referrer goes after that referrer.
  for (const subject of new Set(attached.map((a) => a.subject))) {
    const referrers = attached.filter((a) => a.subject === subject && a.via !== 'cosign tag');
    const signed = attached.filter((a) => a.subject === subject && a.via === 'cosign tag');
    await bothSettled(referrers.length > 0 ? copyReferrers(subject, referrers) : Promise.resolve(), copySigned(signed));
  }
  return counts;
}

/** `signature application/vnd.example+json sha256:…` as a log line names an attached manifest. */
export function describeAttached(attached: Attached): string {
  if (attached.via === 'cosign tag') return `cosign tag ${attached.tag}`;
  const type = attached.content.artifactType ?? (attached.content.kind === 'image' ? attached.content.config?.mediaType : undefined);
  return `referrer ${shortDigest(attached.manifest.digest)}…${type ? ` (${type})` : ''}`;
}
