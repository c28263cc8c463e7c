import { plural } from '../markdown';
import type { Log } from '../log';
import {
  formatPinned,
  formatReference,
  formatRepository,
  formatTagged,
  InvalidReferenceError,
  parseReference,
  sameRegistry,
  tagProblem,
  type Digest,
  type ImageReference,
} from '../reference/reference';
import { repositoryScope } from './auth';
import { RegistryClients, type RegistryLogin, type TransportOptions } from './clients';
import { bothSettled, ManifestCopier, type StepRunner } from './copy';
import { RegistryError } from './errors';
import {
  getManifest,
  headManifest,
  parseManifestContent,
  readTagListing,
  storeManifest,
  tagListed,
  type Manifest,
  type ManifestContent,
  type ManifestHead,
  type TagListing,
} from './manifest';
import {
  checkCosignTag,
  checkReferrersTag,
  copyAttached,
  ReferrerFinder,
  ReferrersApiSupport,
  type Attached,
  type AttachedTarget,
  type CosignTagCheck,
  type ReferrersTagCheck,
} from './referrers';
import type { RegistryClient, TransportStats } from './transport';

/*
 * promoteImage: copy an approved image into the prod namespace without pulling it. One engine in phases, which the
 * release promotion (release.ts) runs for every entry of a lock file:
 * 1. plan: source, target and tags from the options (no I/O; bad options name their input);
 * 2. prepare (reads only): the source resolved once to a digest and read; what is attached to it (signatures, SBOMs,
 *    attestations: referrers.ts) found; every target tag, cosign's included, checked;
 * 3. refuse: a tag at another digest stops everything before the first write, unless `allowOverwrite`;
 * 4. execute: blobs mounted (or streamed) and index children put by digest (copy.ts), the exact source bytes put under
 *    every tag that does not point at them yet, then what is attached copied after them.
 * Happy path on one registry with one tag and nothing attached: GET source manifest, list source tags and ask the
 * referrers API (once per host and run), list the target's tags (404: a new repository), one mount per blob, PUT
 * manifest. The target listing answers for every target tag, cosign's and the referrers tag included: only a tag it
 * shows is read. Without copyReferrers and with one tag, one HEAD of that tag replaces the listing.
 */

/** The namespace inserted after the host when no `targetImage` is given. */
export const DEFAULT_TARGET_NAMESPACE = 'prod';
/** Blob mounts/copies in flight at once: hides round-trip latency; registries throttle beyond a handful. */
export const DEFAULT_BLOB_CONCURRENCY = 4;
/** The tag Docker assumes when a reference names none. */
const DEFAULT_TAG = 'latest';

/** An option (task input of the same name) that is missing or malformed; the message names it. */
export class OptionError extends Error {
  constructor(
    /** The option's name, which is also the task input's name (`sourceImage`, `targetImage`, …). */
    readonly option: string,
    problem: string,
  ) {
    super(`input '${option}' ${problem}`);
    this.name = 'OptionError';
  }
}

/** A target tag that points at another image. */
export interface TagConflict {
  /** `host/prod/path:tag`. */
  reference: string;
  tag: string;
  /** Where the tag points now. */
  digest: Digest;
  /** Why it cannot be kept, when not because it names another image. */
  why?: string;
}

/** A target tag points at another image and `allowOverwrite` is off: nothing was written. */
export class PromoteRefusedError extends Error {
  constructor(
    message: string,
    /** The refused tags with the digest each points at now. */
    readonly conflicts: readonly TagConflict[],
  ) {
    super(message);
    this.name = 'PromoteRefusedError';
  }
}

/** What `promoteImage` needs. Names match the PromoteImage@1 inputs. */
export interface PromoteImageOptions {
  /** `host/path:tag`, `host/path@sha256:…` or `host/path:tag@sha256:…`. */
  sourceImage: string;
  /** Full target reference; default: the source with `targetNamespace` inserted after the host, same tag. */
  targetImage?: string;
  /** Default `prod`. */
  targetNamespace?: string;
  additionalTags?: readonly string[];
  /** Move target tags that point at another image (default false: refuse, and write nothing). */
  allowOverwrite?: boolean;
  /**
   * Registry of the default target, and of a `targetImage` without a host. Default: the host of
   * `targetContainerRegistry` when given, else the source's registry.
   */
  targetRegistry?: string;
  /** Registry for a `sourceImage` without a host. Default `docker.io`. */
  defaultRegistry?: string;
  /** The `containerRegistry` service connection: credentials for its host (source, and target when the same). */
  containerRegistry?: RegistryLogin;
  /** The `targetContainerRegistry` service connection: credentials for another target registry; its host is the default target registry. */
  targetContainerRegistry?: RegistryLogin;
  /** More credentials per registry host; a host without any login is used anonymously. */
  logins?: readonly RegistryLogin[];
  /** fetch, retry, signal, … for the clients created here. */
  transport?: TransportOptions;
  /** Ready clients to use instead of creating them (one per host). */
  clients?: readonly RegistryClient[];
  /** Blob operations in flight at once (default 4). */
  concurrency?: number;
  /**
   * Copy what is attached to the image — referrers (OCI 1.1 `subject`, through the referrers API or the referrers tag)
   * and cosign's `sha256-<hex>.sig/.att/.sbom` tags — of it and of each child of an index, recursively (default true).
   */
  copyReferrers?: boolean;
}

/** What one promotion did. */
export interface PromotionOutcome {
  /** The manifest digest, the same in source and target. */
  digest: Digest;
  mediaType: string;
  /** `host/prod/path@sha256:…`. */
  promotedImage: string;
  /** `host/prod/path`. */
  targetRepository: string;
  /** Every target tag; all point at `digest` now. */
  tags: string[];
  /** The tags this run created or moved (empty when everything was promoted already). */
  tagsWritten: string[];
  /** Blobs linked by cross-repository mount. */
  blobsMounted: number;
  /** Blobs streamed (another registry, or a registry that would not mount). */
  blobsCopied: number;
  /** Child manifests of an index put by digest. */
  childManifests: number;
  /** Manifests found attached (referrers and cosign tags, recursively); 0 with `copyReferrers: false`. */
  referrersFound: number;
  /** Of those, the ones this run copied (the rest the target had). */
  referrersCopied: number;
}

/** The registry traffic of a promotion, as its clients counted it. */
export interface PromotionTraffic {
  /** Registry writes (mounts, uploads, manifest PUTs). */
  writes: number;
  /** HTTP requests to the registries (401 challenges and retries included, token requests not). */
  requests: number;
  /** Requests to token services. */
  tokenRequests: number;
  /** Blob bytes uploaded: 0 when every blob was mounted or already there. */
  blobBytes: number;
}

/** What `promoteImage` did. */
export interface PromoteImageResult extends PromotionOutcome, PromotionTraffic {}

/** One manifest to promote: where from, where to, under which tags. */
export interface PromotionPlan {
  /** The input that names the source, for messages (default `sourceImage`; a release's entries come from `lockFile`). */
  sourceInput?: string;
  source: ImageReference;
  sourceTag?: string;
  target: ImageReference;
  tags: string[];
}

function parseOption(option: string, value: string, defaultRegistry?: string): ImageReference {
  try {
    return parseReference(value, { defaultRegistry });
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new OptionError(option, `is ${error.message}`);
    throw error;
  }
}

/** The `targetNamespace` option, trimmed of slashes (empty: `prod`); throws OptionError when it is not a path. */
export function checkNamespace(namespace: string): string {
  const trimmed = namespace.trim().replace(/^\/+|\/+$/g, '');
  if (!trimmed) return DEFAULT_TARGET_NAMESPACE;
  try {
    parseReference(`example.invalid/${trimmed}/x`);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : String(error);
    throw new OptionError('targetNamespace', `is not a repository path: '${namespace}' (${reason})`);
  }
  return trimmed;
}

/** Works out source, target and tags from the options; throws OptionError naming the option at fault. */
export function planPromotion(options: PromoteImageOptions): PromotionPlan {
  const source = parseOption('sourceImage', options.sourceImage, options.defaultRegistry);
  const targetRegistry = options.targetRegistry ?? options.targetContainerRegistry?.host;
  const sourceTag = source.tag ?? (source.digest ? undefined : DEFAULT_TAG);
  let target: ImageReference;
  const targetText = options.targetImage?.trim();
  if (targetText) {
    target = parseOption('targetImage', targetText, targetRegistry ?? options.defaultRegistry);
    if (target.digest) {
      throw new OptionError('targetImage', `must name a tag, not a digest: '${targetText}' (the digest is the source's)`);
    }
    if (!target.tag) {
      if (!sourceTag) {
        throw new OptionError('targetImage', `must name a tag when 'sourceImage' is a digest: e.g. '${formatTagged(target, '1.0.0')}'`);
      }
      target = { ...target, tag: sourceTag };
    }
  } else {
    if (!sourceTag) {
      throw new OptionError(
        'targetImage',
        `is required when 'sourceImage' is a digest (${formatReference(source)}): set a tagged target such as '${formatTagged({ registry: source.registry, repository: `prod/${source.repository}` }, '1.0.0')}'`,
      );
    }
    const namespace = checkNamespace(options.targetNamespace ?? DEFAULT_TARGET_NAMESPACE);
    target = { registry: targetRegistry ?? source.registry, repository: `${namespace}/${source.repository}`, tag: sourceTag };
  }
  const tags = [target.tag as string];
  for (const raw of options.additionalTags ?? []) {
    const tag = raw.trim();
    if (!tag) continue;
    const problem = tagProblem(tag);
    if (problem) throw new OptionError('additionalTags', `has a value that is not a tag: '${tag}' (${problem})`);
    if (!tags.includes(tag)) tags.push(tag);
  }
  if (
    sameRegistry(source.registry, target.registry) &&
    source.repository === target.repository &&
    sourceTag !== undefined &&
    target.tag === sourceTag
  ) {
    // Promoting a tag onto itself changes nothing and hides a typo; say so.
    throw new OptionError('targetImage', `is the source itself (${formatTagged(target, sourceTag)}): name another repository or tag`);
  }
  return { source, sourceTag, target, tags };
}

/** Adds the verb, object and step to a failure, keeping the types callers tell apart. */
function failure(prefix: string, step: string, error: unknown): Error {
  const context = `${prefix}: ${step}`;
  if (error instanceof RegistryError) return error.withContext(context);
  if (error instanceof OptionError || error instanceof PromoteRefusedError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${context}: ${message}`, { cause: error });
}

/** Clients and shared state of one promotion run: one image, or every entry of a lock file. */
export interface PromotionSession {
  clients: RegistryClients;
  concurrency: number;
  copyReferrers: boolean;
  allowOverwrite: boolean;
  /** Blob copies started, shared by every copier of the run (see ManifestCopierOptions). */
  blobsStarted: Map<string, Promise<void>>;
  /** Which registry hosts answer the referrers API: asked once per host for the whole run. */
  referrersApi: ReferrersApiSupport;
  /** A repository's tags, listed once for the run (before anything is written: prepare lists them). */
  tagListing(client: RegistryClient, repository: string): Promise<TagListing>;
  /** How many of the run's promotions write into `repository`. */
  writersOf(client: RegistryClient, repository: string): number;
  /** What the run's clients sent since the session opened. */
  traffic(): PromotionTraffic;
}

/** The session options: everything but the single image's source and target. */
export type PromotionSessionOptions = Omit<PromoteImageOptions, 'sourceImage' | 'targetImage'>;

/**
 * Opens the clients for `plans`: one per registry host, signed in with the login for its host (the connections'
 * labels name their input in messages), each declaring every scope the plans need so one token covers the run.
 */
export function openSession(options: PromotionSessionOptions, plans: readonly PromotionPlan[], log: Log): PromotionSession {
  // Each login's label says where it came from (the adapter sets the input: an AzureRM or a Docker Registry
  // connection); without one, the PromoteImage@1 input these options are named after.
  const sourceInput = options.containerRegistry?.label ?? "input 'containerRegistry'";
  const targetInput = options.targetContainerRegistry?.label ?? "input 'targetContainerRegistry'";
  const logins: RegistryLogin[] = [
    ...(options.targetContainerRegistry ? [{ ...options.targetContainerRegistry, label: targetInput }] : []),
    ...(options.containerRegistry ? [{ ...options.containerRegistry, label: sourceInput }] : []),
    ...(options.logins ?? []),
  ];
  const registries = [...new Set(plans.flatMap((p) => [p.source.registry, p.target.registry]))];
  for (const [connection, input] of [
    [options.containerRegistry, sourceInput],
    [options.targetContainerRegistry, targetInput],
  ] as const) {
    if (connection && !registries.some((registry) => sameRegistry(connection.host, registry))) {
      const sides =
        plans.length === 1
          ? `neither the source (${plans[0].source.registry}) nor the target (${plans[0].target.registry})`
          : 'none of the images';
      log.warn(`${input} is for ${connection.host}, which ${sides} is on: its credentials are not used`);
    }
  }
  // A registry only written to is the target's to sign in to; one read from is the source's.
  const targetOnly = (registry: string) =>
    plans.some((p) => !sameRegistry(p.source.registry, p.target.registry) && sameRegistry(registry, p.target.registry));
  const clients = new RegistryClients(
    { ...options, logins, missingLoginLabel: (registry) => (targetOnly(registry) ? targetInput : sourceInput) },
    log,
  );
  for (const plan of plans) {
    const pullSource = repositoryScope(plan.source.repository, ['pull']);
    const pushTarget = repositoryScope(plan.target.repository, ['pull', 'push']);
    const sourceClient = clients.for(plan.source.registry);
    const targetClient = clients.for(plan.target.registry);
    if (sourceClient === targetClient) sourceClient.declareScopes([pullSource, pushTarget]);
    else {
      sourceClient.declareScopes([pullSource]);
      targetClient.declareScopes([pushTarget]);
    }
  }
  const used = [...new Set(registries.map((registry) => clients.for(registry)))];
  const repositoryKey = (client: RegistryClient, repository: string) => `${client.registry}/${repository}`;
  const writers = new Map<string, number>();
  for (const plan of plans) {
    const key = repositoryKey(clients.for(plan.target.registry), plan.target.repository);
    writers.set(key, (writers.get(key) ?? 0) + 1);
  }
  const listings = new Map<string, Promise<TagListing>>();
  const before = used.map((client) => ({ ...client.stats }));
  const sum = (key: keyof TransportStats) => used.reduce((n, client, i) => n + client.stats[key] - before[i][key], 0);
  return {
    clients,
    concurrency: options.concurrency ?? DEFAULT_BLOB_CONCURRENCY,
    copyReferrers: options.copyReferrers ?? true,
    allowOverwrite: options.allowOverwrite ?? false,
    blobsStarted: new Map<string, Promise<void>>(),
    referrersApi: new ReferrersApiSupport(),
    tagListing: (client, repository) => {
      const key = repositoryKey(client, repository);
      let listing = listings.get(key);
      if (!listing) {
        listing = readTagListing(client, repository);
        listings.set(key, listing);
        // A failed listing is not kept: the step that needed it fails, and nothing else should reuse the failure.
        listing.catch(() => listings.delete(key));
      }
      return listing;
    },
    writersOf: (client, repository) => writers.get(repositoryKey(client, repository)) ?? 0,
    traffic: () => ({ writes: sum('writes'), requests: sum('requests'), tokenRequests: sum('tokenRequests'), blobBytes: sum('blobBytes') }),
  };
}

/** A promotion resolved and checked: every read done, nothing written. */
export interface PreparedPromotion {
  plan: PromotionPlan;
  sourceClient: RegistryClient;
  targetClient: RegistryClient;
  /** `promote <source> → <target repository>`: what every failure of this promotion starts with. */
  prefix: string;
  step: StepRunner;
  /** The source manifest, read once by tag or digest and checked against its digest. */
  manifest: Manifest;
  content: ManifestContent;
  /** Where each target tag points now. */
  current: Array<{ tag: string; head?: ManifestHead }>;
  /** The target repository's tags before the first write, when they were listed (see preparePromotion). */
  targetListing?: TagListing;
  /** What is attached to the source (empty with `copyReferrers: false`), subjects before their referrers. */
  attached: Attached[];
  /** The target's side of each cosign tag among `attached`. */
  cosignTags: Map<string, CosignTagCheck>;
  /** The target's side of the referrers tag of each subject among `attached`. */
  referrersTags: Map<string, ReferrersTagCheck>;
  /** Target tags (cosign's included) that point at something else. */
  conflicts: TagConflict[];
}

/**
 * Phase 2: reads the source once (by tag or digest; `tag@digest` must agree), finds what is attached to it, and checks
 * every target tag. Reads only.
 */
export async function preparePromotion(session: PromotionSession, plan: PromotionPlan, log: Log): Promise<PreparedPromotion> {
  const { source, target, tags } = plan;
  const sourceClient = session.clients.for(source.registry);
  const targetClient = session.clients.for(target.registry);
  const sourceText = formatReference({ ...source, tag: plan.sourceTag ?? source.tag });
  const targetRepo = formatRepository(target);
  const prefix = `promote ${sourceText} → ${targetRepo}`;
  const step: StepRunner = async (what, action) => {
    try {
      return await action();
    } catch (error) {
      throw failure(prefix, what, error);
    }
  };
  log.info(`Promoting ${sourceText} → ${tags.map((t) => formatTagged(target, t)).join(', ')}`);

  // The source, resolved once: every later step works on these bytes and this digest.
  const readSource = `read ${plan.sourceInput ?? 'sourceImage'}`;
  const manifest = await step(readSource, () => getManifest(sourceClient, source.repository, plan.sourceTag ?? (source.digest as string)));
  if (source.digest && manifest.digest !== source.digest) {
    throw new OptionError(
      'sourceImage',
      `names ${formatReference(source)}, but tag '${plan.sourceTag}' points at ${manifest.digest} now: drop the tag to promote the digest, or correct the digest`,
    );
  }
  const digest = manifest.digest;
  const content = await step(readSource, () => Promise.resolve(parseManifestContent(manifest.bytes, manifest.mediaType)));
  log.info(
    `Source ${sourceText} is ${digest} (${content.kind === 'index' ? `index of ${content.manifests.length} manifests` : `image with ${content.blobs.length} blobs`})`,
  );

  const sameRepository = sourceClient === targetClient && source.repository === target.repository;
  const findAttached =
    session.copyReferrers && !sameRepository
      ? new ReferrerFinder({
          source: { client: sourceClient, repository: source.repository },
          step,
          api: session.referrersApi,
          tags: () => session.tagListing(sourceClient, source.repository),
        }).find(digest, content)
      : Promise.resolve([]);
  // Every target tag is checked before anything is written. With more than one tag, or referrers to copy (a signed
  // image has a referrers tag or cosign tags to check), the target's tags are listed once, beside the search for
  // referrers: one listing answers for every tag, and a 404 says none exists. For one tag and no referrers, one HEAD
  // is cheaper (a big repository lists in many pages).
  const listTarget = tags.length > 1 || (session.copyReferrers && !sameRepository);
  const [attached, targetListing] = await bothSettled(
    findAttached,
    listTarget
      ? step(`list the tags of ${targetRepo}`, () => session.tagListing(targetClient, target.repository))
      : Promise.resolve(undefined),
  );
  if (attached.length > 0) log.info(`Attached to ${sourceText}: ${attached.length} (${summarizeAttached(attached)})`);
  const cosignAttached = attached.filter((a) => a.via === 'cosign tag');
  const targetOn: AttachedTarget = { client: targetClient, repository: target.repository, listing: targetListing };
  const referrerSubjects = new Set(attached.filter((a) => a.via !== 'cosign tag').map((a) => a.subject));
  const [current, cosignChecks, referrersChecks] = await step(`check tags of ${targetRepo}`, () =>
    Promise.all([
      Promise.all(
        tags.map(async (tag) => ({
          tag,
          head:
            targetListing && tagListed(targetListing, tag) === false ? undefined : await headManifest(targetClient, target.repository, tag),
        })),
      ),
      Promise.all(cosignAttached.map((a) => checkCosignTag(targetOn, a))),
      Promise.all([...referrerSubjects].map((subject) => checkReferrersTag(targetOn, subject))),
    ]),
  );
  const conflicts: TagConflict[] = [
    ...current
      .filter((c) => c.head && c.head.digest !== digest)
      .map((c) => ({ reference: formatTagged(target, c.tag), tag: c.tag, digest: c.head!.digest })),
    ...cosignChecks
      .filter((c) => c.action === 'conflict')
      .map((c) => ({ reference: formatTagged(target, c.tag), tag: c.tag, digest: c.current! })),
    ...referrersChecks
      .filter((c) => c.action === 'conflict')
      .map((c) => ({
        reference: formatTagged(target, c.tag),
        tag: c.tag,
        digest: c.current!,
        why: 'a referrers tag, but not an image index',
      })),
  ];
  return {
    plan,
    sourceClient,
    targetClient,
    prefix,
    step,
    manifest,
    content,
    current,
    ...(targetListing ? { targetListing } : {}),
    attached,
    cosignTags: new Map(cosignChecks.map((c) => [c.tag, c])),
    referrersTags: new Map(referrersChecks.map((c) => [c.tag, c])),
    conflicts,
  };
}

/** `2 cosign tags, 1 referrer` */
function summarizeAttached(attached: readonly Attached[]): string {
  const cosign = attached.filter((a) => a.via === 'cosign tag').length;
  const referrers = attached.length - cosign;
  return [referrers ? plural(referrers, 'referrer') : '', cosign ? plural(cosign, 'cosign tag') : ''].filter(Boolean).join(', ');
}

/**
 * Phase 3: refuses, before anything is written, when a target tag of any of `prepared` points at something else and
 * `allowOverwrite` is off; with it, says which tags will move and marks the cosign tags to replace. `prefix` starts
 * the refusal (`promote a → b`).
 */
export function refuseConflicts(session: PromotionSession, prepared: readonly PreparedPromotion[], prefix: string, log: Log): void {
  const conflicts = prepared.flatMap((p) => p.conflicts);
  if (conflicts.length === 0) return;
  if (!session.allowOverwrite) {
    const list = conflicts.map((c) => `${c.reference} is ${c.digest}${c.why ? `, ${c.why}` : ''}`).join(', ');
    const source = prepared.length === 1 ? `; the source is ${prepared[0].manifest.digest}` : '';
    const one = conflicts.length === 1;
    throw new PromoteRefusedError(
      `${prefix}: refusing to move ${one ? 'a tag that points at another image' : 'tags that point at other images'} (${list}${source}); nothing was changed: set allowOverwrite: true to move ${one ? 'it' : 'them'}`,
      conflicts,
    );
  }
  for (const p of prepared) {
    for (const c of p.conflicts) {
      const cosign = p.cosignTags.get(c.tag);
      const referrers = p.referrersTags.get(c.tag);
      if (referrers?.action === 'conflict') {
        log.warn(`Replacing ${c.reference} (${c.digest}, ${c.why}) with an index of the source's referrers (allowOverwrite)`);
        referrers.action = 'replace';
      } else if (cosign?.action === 'conflict') {
        log.warn(`Replacing ${c.reference} (${c.digest}, which holds signatures the source's lacks) with the source's (allowOverwrite)`);
        cosign.action = 'write';
      } else {
        log.warn(`Moving ${c.reference} from ${c.digest} to ${p.manifest.digest} (allowOverwrite)`);
      }
    }
  }
}

/**
 * Phase 4: copies what the target lacks — blobs (mounted, or streamed across registries), index children, the source
 * bytes under every tag that does not point at them yet (each PUT checked by digest), then what is attached. A
 * prepared promotion that found everything in place writes nothing.
 */
export async function executePromotion(session: PromotionSession, p: PreparedPromotion, log: Log): Promise<PromotionOutcome> {
  const { plan, manifest, content, step } = p;
  const { source, target, tags } = plan;
  const digest = manifest.digest;
  const targetRepo = formatRepository(target);
  const copier = new ManifestCopier(
    {
      source: { client: p.sourceClient, repository: source.repository },
      target: { client: p.targetClient, repository: target.repository },
    },
    { concurrency: session.concurrency, log, step, blobsStarted: session.blobsStarted },
  );
  const toWrite = p.current.filter((c) => c.head?.digest !== digest).map((c) => c.tag);
  if (toWrite.length === 0) {
    log.info(
      `Already promoted: ${tags.map((t) => formatTagged(target, t)).join(', ')} ${tags.length === 1 ? 'points' : 'point'} at ${digest}`,
    );
  } else {
    // A target tag already at this digest means the repository holds all of it.
    const sameRepository = p.sourceClient === p.targetClient && source.repository === target.repository;
    if (!sameRepository && !p.current.some((c) => c.head?.digest === digest)) {
      await copier.copyContent(content);
      const { blobsMounted, blobsCopied } = copier.counts;
      if (blobsMounted + blobsCopied > 0) {
        const parts = [
          blobsMounted ? `${blobsMounted} mounted from ${source.repository}` : '',
          blobsCopied ? `${blobsCopied} streamed` : '',
        ];
        log.info(`Blobs in ${targetRepo}: ${parts.filter(Boolean).join(', ')}`);
      }
    }
    for (const tag of toWrite) {
      await step(`put ${formatTagged(target, tag)}`, () =>
        storeManifest(p.targetClient, target.repository, tag, manifest.bytes, manifest.mediaType),
      );
      log.info(`Tagged ${formatTagged(target, tag)} → ${digest}`);
    }
  }
  // The listing stays true while this promotion is the run's only writer into the repository.
  const exclusive = session.writersOf(p.targetClient, target.repository) === 1;
  const attachedTarget: AttachedTarget = {
    client: p.targetClient,
    repository: target.repository,
    ...(exclusive && p.targetListing ? { listing: p.targetListing } : {}),
  };
  const attached =
    p.attached.length > 0
      ? await copyAttached(copier, attachedTarget, p.attached, p.cosignTags, p.referrersTags, {
          step,
          log,
          api: session.referrersApi,
          concurrency: session.concurrency,
        })
      : { copied: 0, present: 0, referrersTags: 0 };
  if (p.attached.length > 0) {
    log.info(`Referrers: ${attached.copied} copied, ${attached.present} already in ${targetRepo}`);
  }
  const promotedImage = formatPinned(target, digest);
  log.info(`Promoted ${promotedImage}`);
  return {
    digest,
    mediaType: manifest.mediaType,
    promotedImage,
    targetRepository: targetRepo,
    tags,
    tagsWritten: toWrite,
    ...copier.counts,
    referrersFound: p.attached.length,
    referrersCopied: attached.copied,
  };
}

/**
 * Promotes an image: resolves the source once to a digest, finds what is attached to it, checks every target tag
 * before the first write (a tag at another digest is refused unless `allowOverwrite`), mounts (or, across registries,
 * streams) the blobs, copies an index's child manifests by digest, puts the exact source bytes under each target tag
 * and checks the digest the registry reports, then copies the referrers and cosign tags. Promoting what is already
 * there writes nothing.
 *
 * Throws OptionError (bad options, naming the input), PromoteRefusedError (a tag would be moved) or RegistryError
 * (`promote <source> → <target>: <step>: <status> <code>: …`).
 */
export async function promoteImage(options: PromoteImageOptions, log: Log): Promise<PromoteImageResult> {
  const plan = planPromotion(options);
  const session = openSession(options, [plan], log);
  const prepared = await preparePromotion(session, plan, log);
  refuseConflicts(session, [prepared], prepared.prefix, log);
  const outcome = await executePromotion(session, prepared, log);
  return { ...outcome, ...session.traffic() };
}
