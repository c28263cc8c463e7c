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
import { copyBlob, mountBlob } from './blob';
import { RegistryClients, type RegistryLogin, type TransportOptions } from './clients';
import { RegistryError } from './errors';
import {
  getManifest,
  headManifest,
  parseManifestContent,
  putManifest,
  type Descriptor,
  type Manifest,
  type ManifestContent,
} from './manifest';
import type { RegistryClient, TransportStats } from './transport';

/*
 * promoteImage: copy an approved image into the prod namespace without pulling it.
 *
 * A manifest PUT fails with MANIFEST_BLOB_UNKNOWN unless every blob it names exists in the target repository, so
 * blobs are mounted first (same registry) or streamed (another registry); for an index, each child manifest (and
 * its blobs) is put by digest before the index itself. The bytes put are the bytes read, so the digest never changes.
 * Happy path on one registry with one tag: GET source manifest, HEAD target tag, one mount per blob, PUT manifest.
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

/** A target tag points at another image and `allowOverwrite` is off: nothing was written. */
export class PromoteRefusedError extends Error {
  constructor(
    message: string,
    /** The refused tags with the digest each points at now. */
    readonly conflicts: ReadonlyArray<{ tag: string; digest: Digest }>,
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
}

/** What `promoteImage` did. */
export interface PromoteImageResult {
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
  /** Registry writes (mounts, uploads, manifest PUTs), as counted by the clients. */
  writes: number;
  /** HTTP requests to the registries (401 challenges and retries included, token requests not). */
  requests: number;
  /** Requests to token services. */
  tokenRequests: number;
}

interface Plan {
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

function checkNamespace(namespace: string): string {
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
export function planPromotion(options: PromoteImageOptions): Plan {
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

/** Runs `work` over `items` with at most `limit` in flight; the first failure is thrown after the others settle. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

function platformOf(descriptor: Descriptor): string {
  const p = descriptor.platform;
  if (!p) return descriptor.annotations?.['vnd.docker.reference.type'] ?? 'unknown platform';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Adds the verb, object and step to a failure, keeping RegistryError's type. */
function failure(prefix: string, step: string, error: unknown): Error {
  const context = `${prefix}: ${step}`;
  if (error instanceof RegistryError) return error.withContext(context);
  if (error instanceof OptionError || error instanceof PromoteRefusedError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${context}: ${message}`, { cause: error });
}

/**
 * Promotes an image: resolves the source once to a digest, checks every target tag before the first write (a tag at
 * another digest is refused unless `allowOverwrite`), mounts (or, across registries, streams) the blobs, copies an
 * index's child manifests by digest, then puts the exact source bytes under each target tag and checks the digest the
 * registry reports. Promoting what is already there writes nothing.
 *
 * Throws OptionError (bad options, naming the input), PromoteRefusedError (a tag would be moved) or RegistryError
 * (`promote <source> → <target>: <step>: <status> <code>: …`).
 */
export async function promoteImage(options: PromoteImageOptions, log: Log): Promise<PromoteImageResult> {
  const plan = planPromotion(options);
  const { source, target, tags } = plan;
  // Each login's label says where it came from (the adapter sets the input: an AzureRM or a Docker Registry
  // connection); without one, the PromoteImage@1 input these options are named after.
  const sourceInput = options.containerRegistry?.label ?? "input 'containerRegistry'";
  const targetInput = options.targetContainerRegistry?.label ?? "input 'targetContainerRegistry'";
  const crossRegistry = !sameRegistry(source.registry, target.registry);
  const logins: RegistryLogin[] = [
    ...(options.targetContainerRegistry ? [{ ...options.targetContainerRegistry, label: targetInput }] : []),
    ...(options.containerRegistry ? [{ ...options.containerRegistry, label: sourceInput }] : []),
    ...(options.logins ?? []),
  ];
  for (const [connection, input] of [
    [options.containerRegistry, sourceInput],
    [options.targetContainerRegistry, targetInput],
  ] as const) {
    if (connection && !sameRegistry(connection.host, source.registry) && !sameRegistry(connection.host, target.registry)) {
      log.warn(
        `${input} is for ${connection.host}, which neither the source (${source.registry}) nor the target (${target.registry}) is on: its credentials are not used`,
      );
    }
  }
  const clients = new RegistryClients(
    {
      ...options,
      logins,
      missingLoginLabel: (registry) => (crossRegistry && sameRegistry(registry, target.registry) ? targetInput : sourceInput),
    },
    log,
  );
  const sourceClient = clients.for(source.registry);
  const targetClient = clients.for(target.registry);
  const sameHost = sourceClient === targetClient;
  const sameRepository = sameHost && source.repository === target.repository;
  const concurrency = options.concurrency ?? DEFAULT_BLOB_CONCURRENCY;

  // One token per registry covering the whole promotion.
  const pullSource = repositoryScope(source.repository, ['pull']);
  const pushTarget = repositoryScope(target.repository, ['pull', 'push']);
  if (sameHost) sourceClient.declareScopes([pullSource, pushTarget]);
  else {
    sourceClient.declareScopes([pullSource]);
    targetClient.declareScopes([pushTarget]);
  }
  const before = [sourceClient, targetClient].map((c) => ({ ...c.stats }));
  const counted = (): Pick<PromoteImageResult, 'writes' | 'requests' | 'tokenRequests'> => {
    const sum = (key: keyof TransportStats) =>
      (sameHost ? [sourceClient] : [sourceClient, targetClient]).reduce((n, c, i) => n + c.stats[key] - before[i][key], 0);
    return { writes: sum('writes'), requests: sum('requests'), tokenRequests: sum('tokenRequests') };
  };

  const sourceText = formatReference({ ...source, tag: plan.sourceTag ?? source.tag });
  const targetRepo = formatRepository(target);
  const prefix = `promote ${sourceText} → ${targetRepo}`;
  const step = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      throw failure(prefix, what, error);
    }
  };

  log.info(`Promoting ${sourceText} → ${tags.map((t) => formatTagged(target, t)).join(', ')}`);

  // 1. The source, resolved once: every later step works on these bytes and this digest.
  const manifest: Manifest = await step('read sourceImage', () =>
    getManifest(sourceClient, source.repository, plan.sourceTag ?? (source.digest as string)),
  );
  if (source.digest && manifest.digest !== source.digest) {
    throw new OptionError(
      'sourceImage',
      `names ${formatReference(source)}, but tag '${plan.sourceTag}' points at ${manifest.digest} now: drop the tag to promote the digest, or correct the digest`,
    );
  }
  const digest = manifest.digest;
  const content = await step('read sourceImage', () => Promise.resolve(parseManifestContent(manifest.bytes, manifest.mediaType)));
  log.info(
    `Source ${sourceText} is ${digest} (${content.kind === 'index' ? `index of ${content.manifests.length} manifests` : `image with ${content.blobs.length} blobs`})`,
  );

  // 2. Every target tag, before anything is written.
  const current = await step(`check tags of ${targetRepo}`, () =>
    Promise.all(tags.map(async (tag) => ({ tag, head: await headManifest(targetClient, target.repository, tag) }))),
  );
  const conflicts = current.filter((c) => c.head && c.head.digest !== digest).map((c) => ({ tag: c.tag, digest: c.head!.digest }));
  if (conflicts.length > 0 && !options.allowOverwrite) {
    const list = conflicts.map((c) => `${formatTagged(target, c.tag)} is ${c.digest}`).join(', ');
    throw new PromoteRefusedError(
      `${prefix}: refusing to move ${conflicts.length === 1 ? 'a tag that points' : 'tags that point'} at another image (${list}; the source is ${digest}); nothing was changed: set allowOverwrite: true to move ${conflicts.length === 1 ? 'it' : 'them'}`,
      conflicts,
    );
  }
  for (const c of conflicts) log.warn(`Moving ${formatTagged(target, c.tag)} from ${c.digest} to ${digest} (allowOverwrite)`);
  const toWrite = current.filter((c) => c.head?.digest !== digest).map((c) => c.tag);
  const promotedImage = formatPinned(target, digest);
  const result = (tagsWritten: string[], blobsMounted: number, blobsCopied: number, childManifests: number): PromoteImageResult => ({
    digest,
    mediaType: manifest.mediaType,
    promotedImage,
    targetRepository: targetRepo,
    tags,
    tagsWritten,
    blobsMounted,
    blobsCopied,
    childManifests,
    ...counted(),
  });
  if (toWrite.length === 0) {
    log.info(
      `Already promoted: ${tags.map((t) => formatTagged(target, t)).join(', ')} ${tags.length === 1 ? 'points' : 'point'} at ${digest}; nothing to do`,
    );
    return result([], 0, 0, 0);
  }

  // 3. Content: blobs, then child manifests, so that every PUT finds what it names. A target tag already at this
  // digest means the repository holds all of it.
  let mounted = 0;
  let copied = 0;
  let children = 0;
  const contentPresent = sameRepository || current.some((c) => c.head?.digest === digest);
  if (!contentPresent) {
    const blobsDone = new Map<string, Promise<void>>();
    const copyBlobs = (blobs: Descriptor[]) =>
      eachLimited(blobs, concurrency, (blob) => {
        let done = blobsDone.get(blob.digest);
        if (!done) {
          done = step(`${sameHost ? 'mount' : 'copy'} blob ${short(blob.digest)}… from ${source.repository}`, async () => {
            if (sameHost) {
              const mount = await mountBlob(targetClient, target.repository, blob.digest, source.repository);
              if (mount.mounted) {
                mounted++;
                return;
              }
              // The registry would not mount (e.g. the blob lives elsewhere): stream it into the session it opened.
              await copyBlob(
                { client: sourceClient, repository: source.repository },
                { client: targetClient, repository: target.repository },
                blob,
                mount.location,
              );
              copied++;
              return;
            }
            const outcome = await copyBlob(
              { client: sourceClient, repository: source.repository },
              { client: targetClient, repository: target.repository },
              blob,
            );
            if (outcome === 'copied') copied++;
          });
          blobsDone.set(blob.digest, done);
        }
        return done;
      });

    const copyContent = async (content: ManifestContent): Promise<void> => {
      if (content.kind === 'image') {
        await copyBlobs(content.blobs);
        return;
      }
      for (const child of content.manifests) {
        const childManifest = await step(`read child manifest ${short(child.digest)}… (${platformOf(child)})`, () =>
          getManifest(sourceClient, source.repository, child.digest),
        );
        const childContent = await step(`read child manifest ${short(child.digest)}…`, () =>
          Promise.resolve(parseManifestContent(childManifest.bytes, childManifest.mediaType)),
        );
        await copyContent(childContent);
        await step(`put child manifest ${short(child.digest)}…`, () =>
          putManifest(targetClient, target.repository, child.digest, childManifest.bytes, childManifest.mediaType),
        );
        children++;
        log.info(`Copied ${platformOf(child)} manifest ${child.digest}`);
      }
    };
    await copyContent(content);
    if (mounted + copied > 0) {
      const parts = [mounted ? `${mounted} mounted from ${source.repository}` : '', copied ? `${copied} streamed` : ''].filter(Boolean);
      log.info(`Blobs in ${targetRepo}: ${parts.join(', ')}`);
    }
  }

  // 4. The exact source bytes under every tag that does not point at them yet; each PUT is checked by digest.
  for (const tag of toWrite) {
    await step(`put ${formatTagged(target, tag)}`, () =>
      putManifest(targetClient, target.repository, tag, manifest.bytes, manifest.mediaType),
    );
    log.info(`Tagged ${formatTagged(target, tag)} → ${digest}`);
  }
  log.info(`Promoted ${promotedImage}`);
  return result(toWrite, mounted, copied, children);
}
