// The image lock file: what a release pipeline reads to deploy exactly the bytes a build pushed. Pure functions;
// reading and writing the file is the caller's.

/** One pushed image: a repository, the digest its tags resolve to, and where it came from. */
export interface LockedImage {
  /** `host/path`, no tag. */
  repository: string;
  /** Tags pushed for this digest in this repository, in push order. */
  tags: string[];
  /** `sha256:…` as the registry reports it (`Docker-Content-Digest`). */
  digest: string;
  /** `repository@digest`: the reference to deploy. */
  pinnedReference: string;
  /** The manifest's media type. */
  mediaType: string;
  buildId?: string;
  sourceVersion?: string;
  /** ISO 8601 time of the latest push that touched this entry. */
  pushedAt: string;
}

export interface LockFile {
  /** Format version; bumped only for changes a reader must know about. */
  version: 1;
  images: LockedImage[];
}

export const LOCK_FILE_VERSION = 1;

export function emptyLock(): LockFile {
  return { version: LOCK_FILE_VERSION, images: [] };
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;

/** Parses a lock file's text; throws one line saying what is wrong with it. */
export function parseLock(text: string, where = 'the lock file'): LockFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON (${(error as Error).message}): remove it or fix it`, { cause: error });
  }
  const lock = data as Partial<LockFile> | null;
  if (!lock || typeof lock !== 'object' || !Array.isArray(lock.images)) {
    throw new Error(`${where} is not an image lock file (no "images" list)`);
  }
  if (lock.version !== LOCK_FILE_VERSION)
    throw new Error(`${where} has version ${String(lock.version)}; this task writes version ${LOCK_FILE_VERSION}`);
  for (const [i, image] of lock.images.entries()) {
    const e = image as Partial<LockedImage> | null;
    if (
      !e ||
      typeof e.repository !== 'string' ||
      typeof e.digest !== 'string' ||
      !digestPattern.test(e.digest) ||
      !Array.isArray(e.tags) ||
      !e.tags.every((t) => typeof t === 'string')
    ) {
      throw new Error(`${where} has a malformed entry at images[${i}] (it needs repository, tags and a sha256 digest)`);
    }
  }
  return lock as LockFile;
}

/**
 * Adds a push to the lock. An entry is one (repository, digest): pushing it again merges its tags and refreshes its
 * build details, never adds a second entry. A tag points at one digest, so a tag that moved to `image.digest` leaves
 * the entry it was on; an entry left without tags is dropped (nothing deploys it by tag any more).
 */
export function mergeLock(lock: LockFile, image: LockedImage): LockFile {
  const moved = new Set(image.tags);
  const images: LockedImage[] = [];
  let merged = false;
  for (const existing of lock.images) {
    if (existing.repository === image.repository && existing.digest === image.digest) {
      images.push({
        ...existing,
        ...image,
        tags: [...existing.tags, ...image.tags.filter((tag) => !existing.tags.includes(tag))],
      });
      merged = true;
    } else if (existing.repository === image.repository) {
      const tags = existing.tags.filter((tag) => !moved.has(tag));
      if (tags.length) images.push({ ...existing, tags });
    } else {
      images.push(existing);
    }
  }
  if (!merged) images.push({ ...image, tags: [...new Set(image.tags)] });
  return { version: LOCK_FILE_VERSION, images };
}

/** The lock file's text: stable key order, two-space indent, final newline. */
export function serializeLock(lock: LockFile): string {
  const ordered = {
    version: lock.version,
    images: lock.images.map((e) => ({
      repository: e.repository,
      tags: e.tags,
      digest: e.digest,
      pinnedReference: e.pinnedReference,
      mediaType: e.mediaType,
      ...(e.buildId !== undefined ? { buildId: e.buildId } : {}),
      ...(e.sourceVersion !== undefined ? { sourceVersion: e.sourceVersion } : {}),
      pushedAt: e.pushedAt,
    })),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
