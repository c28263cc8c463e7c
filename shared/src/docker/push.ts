import type Docker from 'dockerode';
import type { Log } from '../log';
import { isDigest, tagProblem } from '../reference';
import {
  passwordLogin,
  RegistryError,
  resolveDigest,
  retryOptions,
  withRetry,
  type RegistryClient,
  type RegistryLogin as GenericLogin,
  type RetryOptions,
} from '../registry';
import {
  describeEngine,
  encodeRegistryHeader,
  engineMessage,
  engineServerAddress,
  engineStatus,
  rethrowUnreachable,
  unreachable,
  type RegistryLogin,
} from './engine';
import { EngineStreamError, followProgress } from './events';
import { recordPushed, type LockedImage } from '../release';
import { classifyEnginePushMessage, isTemporaryEnginePushError } from './push-errors';

/** What the registry says a tag resolves to (a HEAD of the manifest: `Docker-Content-Digest`, `Content-Type`). */
export interface ManifestHead {
  digest: string;
  mediaType?: string;
}

/**
 * Asks the registry, not the engine, which manifest `repository:tag` resolves to. Injected so the push verb sits
 * beside the registry layer without depending on how it authenticates.
 */
export type ConfirmDigest = (repository: string, tag: string) => Promise<ManifestHead>;

export interface PushImageOptions {
  /** The local image to push (reference or id). */
  sourceImage: string;
  /** `host/path` (the host is the registry); tags are added to it. */
  repository: string;
  tags: readonly string[];
  /** Credentials for the repository's registry, handed to the engine for these calls only. */
  login?: RegistryLogin;
  signal?: AbortSignal;
  /**
   * Whole-push retries on temporary registry faults, by the registry layer's one policy (registry/retry.ts; the
   * engine retries single layers itself). Overrides its defaults, e.g. fewer attempts or an injected sleep.
   */
  retry?: Partial<RetryOptions>;
}

export interface PushedImage {
  /** `sha256:…`, the registry's and the engine's, which agreed for every tag. */
  digest: string;
  /** `repository@digest`. */
  pinnedImage: string;
  /** `repository:tag` for each tag pushed. */
  imageTags: string[];
  mediaType: string;
}

/** A push that failed or whose digest could not be confirmed; one line naming the tag and the cause. */
export class PushError extends Error {
  constructor(
    message: string,
    readonly temporary = false,
    /** The registry refused the credentials or the access (push-errors.ts rules `unauthorized`, `denied`). */
    readonly refused = false,
  ) {
    super(message);
    this.name = 'PushError';
  }
}

/** What the engine's push writes when the registry does not say (Docker image manifest, schema 2). */
const ENGINE_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

/**
 * Tags `sourceImage` as `repository:tag` for each tag and pushes each through the engine with per-call credentials.
 * The digest is the one the engine reports in its `aux` event, confirmed for every tag with the registry's own answer
 * (`confirmDigest`); any disagreement is an error. Temporary registry faults are retried a bounded number of times.
 * A push that fails puts the engine's local tags back as they were (`restoreLocalTags`).
 */
export async function pushImage(docker: Docker, options: PushImageOptions, log: Log, confirmDigest: ConfirmDigest): Promise<PushedImage> {
  const moved: MovedTag[] = [];
  try {
    return await pushTags(docker, options, log, confirmDigest, moved);
  } catch (error) {
    await restoreLocalTags(docker, moved, log);
    throw error;
  }
}

/** A local tag a push made or moved, and the image it named before (none: the push made it). */
interface MovedTag {
  repo: string;
  tag: string;
  previous?: string;
}

/**
 * Leaves the engine as a failed push found it: a tag that pointed elsewhere points there again, and a tag it made is
 * removed — unless that would delete the image (it is the image's only name, as when `sourceImage` is an ID), which
 * the user built and keeps.
 */
async function restoreLocalTags(docker: Docker, moved: readonly MovedTag[], log: Log): Promise<void> {
  for (const { repo, tag, previous } of [...moved].reverse()) {
    const ref = `${repo}:${tag}`;
    try {
      if (previous) {
        await docker.getImage(previous).tag({ repo, tag });
        log.info(`Local tag ${ref} points at ${previous} again`);
      } else if (((await docker.getImage(ref).inspect()).RepoTags ?? []).length > 1) {
        await docker.getImage(ref).remove({ noprune: true });
        log.info(`Local tag ${ref} removed`);
      }
    } catch (error) {
      log.warn(`could not put the local tag ${ref} back as it was: ${engineMessage(error)}`);
    }
  }
}

/** The id of the image `reference` names on the engine, or undefined when none. */
async function localImageId(docker: Docker, reference: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(reference).inspect()).Id;
  } catch (error) {
    if (engineStatus(error) === 404) return undefined;
    rethrowUnreachable(docker, error);
  }
}

async function pushTags(
  docker: Docker,
  options: PushImageOptions,
  log: Log,
  confirmDigest: ConfirmDigest,
  moved: MovedTag[],
): Promise<PushedImage> {
  const { repository } = options;
  if (options.tags.length === 0) throw new PushError(`push ${repository}: no tags to push`);
  for (const tag of options.tags) {
    const problem = tagProblem(tag);
    if (problem) throw new PushError(`push ${repository}: '${tag}' is not a valid tag (${problem})`);
  }
  let sourceId: string;
  try {
    sourceId = (await docker.getImage(options.sourceImage).inspect()).Id;
  } catch (error) {
    if (engineStatus(error) === 404)
      throw new PushError(`source image '${options.sourceImage}' is not on the engine: build it first, or name another with sourceImage`);
    rethrowUnreachable(docker, error);
  }

  const host = repository.split('/')[0];
  const login = options.login;
  // An empty auth config still goes as a header: without X-Registry-Auth the engine reads credentials from the body.
  const authconfig = {
    base64: encodeRegistryHeader(
      login
        ? { username: login.credentials.username, password: login.credentials.password, serveraddress: engineServerAddress(login.host) }
        : { serveraddress: engineServerAddress(host) },
      log,
      true,
    ),
  };
  const retry = retryOptions(options.retry);

  let digest: string | undefined;
  let mediaType: string | undefined;
  const imageTags: string[] = [];
  for (const tag of options.tags) {
    const ref = `${repository}:${tag}`;
    const previous = await localImageId(docker, ref);
    try {
      await docker.getImage(options.sourceImage).tag({ repo: repository, tag });
    } catch (error) {
      rethrowUnreachable(docker, error);
    }
    if (previous !== sourceId) moved.push({ repo: repository, tag, previous });
    let pushed: string | undefined;
    try {
      pushed = await withRetry(() => pushTag(docker, repository, tag, authconfig, log, options.signal), retry, {
        signal: options.signal,
        retryable: isTemporaryEnginePushError,
        onRetry: ({ attempt, delayMs, error }) =>
          log.warn(
            `push ${ref}: ${(error as Error).message}; trying again in ${delayMs / 1000}s (attempt ${attempt + 1} of ${retry.attempts})`,
          ),
      });
    } catch (error) {
      if (options.signal?.aborted) throw new PushError(`push ${ref} was cancelled`);
      if (error instanceof EngineStreamError) {
        const rule = classifyEnginePushMessage(error.message);
        throw new PushError(
          `push ${ref}: ${error.message}`,
          rule?.temporary ?? false,
          rule?.name === 'unauthorized' || rule?.name === 'denied',
        );
      }
      throw unreachable(docker, error) ?? new PushError(`push ${ref}: ${engineMessage(error)}`);
    }
    if (!pushed || !isDigest(pushed)) throw new PushError(`push ${ref}: the engine reported no manifest digest`);

    let head: ManifestHead;
    try {
      head = await confirmDigest(repository, tag);
    } catch (error) {
      throw new PushError(`push ${ref}: the registry did not confirm the tag: ${(error as Error).message}`);
    }
    if (head.digest !== pushed) {
      throw new PushError(`push ${ref}: the engine pushed ${pushed} but the registry resolves the tag to ${head.digest}`);
    }
    if (digest && digest !== pushed) {
      throw new PushError(`push ${ref}: resolves to ${pushed}, but ${imageTags[0]} resolves to ${digest}: the tags must name one image`);
    }
    digest = pushed;
    mediaType ??= head.mediaType;
    imageTags.push(ref);
    log.info(`Pushed ${ref} → ${pushed} (confirmed by the registry)`);
  }
  return { digest: digest!, pinnedImage: `${repository}@${digest}`, imageTags, mediaType: mediaType ?? ENGINE_MANIFEST_MEDIA_TYPE };
}

async function pushTag(
  docker: Docker,
  repository: string,
  tag: string,
  authconfig: { base64: string },
  log: Log,
  signal?: AbortSignal,
): Promise<string | undefined> {
  // docker-modem sends `authconfig.base64` as X-Registry-Auth as it is; dockerode's types only know the decoded form.
  const pushOptions = { tag, authconfig, abortSignal: signal } as unknown as Docker.ImagePushOptions;
  const stream = await docker.getImage(repository).push(pushOptions);
  let digest: string | undefined;
  const reported = new Set<string>();
  await followProgress(stream, (event) => {
    const aux = event.aux as { Tag?: string; Digest?: string } | undefined;
    if (aux && typeof aux === 'object' && typeof aux.Digest === 'string' && (aux.Tag === undefined || aux.Tag === tag)) digest = aux.Digest;
    if (!event.status || event.progressDetail?.current) return;
    // One line per layer state ("Pushed", "Layer already exists"), not per byte count.
    const line = event.id ? `${event.id}: ${event.status}` : event.status;
    if (!reported.has(line)) {
      reported.add(line);
      log.info(line);
    }
  });
  return digest;
}

export interface PushByDigestOptions {
  sourceImage: string;
  repository: string;
  tags: readonly string[];
  /** The repository registry's login (a password, or an Azure identity the registry client exchanges). */
  login?: GenericLogin;
  /** The lock file the pushed digest is recorded in, with the pipeline facts each record carries. */
  lockFile: string;
  record?: Pick<LockedImage, 'buildId' | 'sourceVersion'>;
  signal?: AbortSignal;
  retry?: Partial<RetryOptions>;
}

/**
 * PushImageByDigest's verb: nothing is tagged before the engine answers and the registry takes the credentials for a
 * read (a tag not there yet is fine); then the push (pushImage), its digest confirmed by `registry` for every tag, and
 * its record in the lock file. A record that fails after the push says exactly what was pushed.
 */
export async function pushByDigest(docker: Docker, registry: RegistryClient, options: PushByDigestOptions, log: Log): Promise<PushedImage> {
  const { repository, tags, sourceImage, signal, retry } = options;
  const confirm: ConfirmDigest = (repo, tag) => resolveDigest(registry, `${repo}:${tag}`);
  await describeEngine(docker);
  await confirm(repository, tags[0]).catch((error: unknown) => {
    if (!(error instanceof RegistryError && error.status === 404)) throw error;
  });
  // The engine takes a user name and password: an Azure identity's is the ACR refresh token the read above got.
  const login = options.login && (await passwordLogin(options.login, { client: registry, log }));
  const pushed = await pushImage(docker, { sourceImage, repository, tags, login, signal, retry }, log, confirm);
  const entry: Omit<LockedImage, 'pushedAt'> = {
    kind: 'image',
    repository,
    tags: [...tags],
    digest: pushed.digest,
    pinnedReference: pushed.pinnedImage,
    mediaType: pushed.mediaType,
    ...options.record,
  };
  recordPushed(options.lockFile, entry, pushed.imageTags.join(', '), log);
  return pushed;
}
