import * as fs from 'node:fs';
import * as path from 'node:path';
import type Docker from 'dockerode';
import type { Log } from '../log';
import { encodeRegistryHeader, engineMessage, engineServerAddress, engineStatus, rethrowUnreachable, type RegistryLogin } from './engine';
import { EngineStreamError, followProgress } from './events';
import { emptyLock, mergeLock, parseLock, serializeLock, type LockedImage, type LockFile } from './lockfile';

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
  /** Whole-push retries on temporary registry faults (the engine retries single layers itself). */
  retry?: { attempts?: number; delayMs?: number };
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
  constructor(message: string, readonly temporary = false) {
    super(message);
    this.name = 'PushError';
  }
}

/** Three attempts with 2 s then 4 s between them cover a registry restart or a short 503/429 spell. */
const DEFAULT_PUSH_ATTEMPTS = 3;
const DEFAULT_PUSH_DELAY_MS = 2000;
/** What the engine's push writes when the registry does not say (Docker image manifest, schema 2). */
const ENGINE_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** Engine push errors worth another attempt: 5xx, 429, dropped connections. Auth and name errors are not. */
function isTemporary(message: string): boolean {
  return /\b(50[0-4]|429)\b|too ?many ?requests|toomanyrequests|connection reset|broken pipe|EOF|timeout|i\/o timeout|connection refused|service unavailable|bad gateway/i.test(
    message,
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * Tags `sourceImage` as `repository:tag` for each tag and pushes each through the engine with per-call credentials.
 * The digest is the one the engine reports in its `aux` event, confirmed for every tag with the registry's own answer
 * (`confirmDigest`); any disagreement is an error. Temporary registry faults are retried a bounded number of times.
 */
export async function pushImage(docker: Docker, options: PushImageOptions, log: Log, confirmDigest: ConfirmDigest): Promise<PushedImage> {
  const { repository } = options;
  if (options.tags.length === 0) throw new PushError(`push ${repository}: no tags to push`);
  for (const tag of options.tags) {
    if (!tagPattern.test(tag)) throw new PushError(`push ${repository}: '${tag}' is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  try {
    await docker.getImage(options.sourceImage).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) throw new PushError(`source image '${options.sourceImage}' is not on the engine: build it first, or name another with sourceImage`);
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
  const attempts = Math.max(1, options.retry?.attempts ?? DEFAULT_PUSH_ATTEMPTS);
  const delayMs = options.retry?.delayMs ?? DEFAULT_PUSH_DELAY_MS;

  let digest: string | undefined;
  let mediaType: string | undefined;
  const imageTags: string[] = [];
  for (const tag of options.tags) {
    const ref = `${repository}:${tag}`;
    try {
      await docker.getImage(options.sourceImage).tag({ repo: repository, tag });
    } catch (error) {
      rethrowUnreachable(docker, error);
    }
    let pushed: string | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        pushed = await pushTag(docker, repository, tag, authconfig, log, options.signal);
        break;
      } catch (error) {
        if (options.signal?.aborted) throw new PushError(`push ${ref} was cancelled`);
        const message = error instanceof EngineStreamError ? error.message : engineMessage(error);
        if (!(error instanceof EngineStreamError)) rethrowUnreachable(docker, error);
        if (attempt >= attempts || !isTemporary(message)) throw new PushError(`push ${ref}: ${message}`, isTemporary(message));
        log.warn(`push ${ref}: ${message}; trying again in ${(delayMs * attempt) / 1000}s (attempt ${attempt + 1} of ${attempts})`);
        await sleep(delayMs * attempt, options.signal);
      }
    }
    if (!pushed || !digestPattern.test(pushed)) throw new PushError(`push ${ref}: the engine reported no manifest digest`);

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
  const stream = (await docker.getImage(repository).push({ tag, authconfig, abortSignal: signal } as never)) as unknown as NodeJS.ReadableStream;
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

/** Reads the lock file at `file` (none yet is an empty lock). */
export function readLockFile(file: string): LockFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyLock();
    throw error;
  }
  return parseLock(text, `the lock file '${file}'`);
}

/**
 * Merges `image` into the lock file at `file` and writes it back whole (a temporary file renamed over it, so a
 * reader never sees half a file). Returns the merged lock.
 */
export function recordInLockFile(file: string, image: LockedImage): LockFile {
  const merged = mergeLock(readLockFile(file), image);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, serializeLock(merged));
  fs.renameSync(temporary, file);
  return merged;
}
