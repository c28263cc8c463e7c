// The lock file: the release's bill of materials. PushImageByDigest records each image it pushed, PackageHelmChart
// the chart it pushed (with the image digests it pins); PromoteImage promotes everything it lists and writes the same
// format with the prod references. Version 1 files (images only) still read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Log } from '../log';

interface LockedEntryBase {
  /** Tags pushed for this digest in this repository, in push order (a chart's: its version, `+` written `_`). */
  tags: string[];
  /** `sha256:…` as the registry reports it (`Docker-Content-Digest`). */
  digest: string;
  /** The manifest's media type. */
  mediaType: string;
  buildId?: string;
  sourceVersion?: string;
  /** ISO 8601 time of the latest push that touched this entry. */
  pushedAt: string;
}

/** One pushed image. */
export interface LockedImage extends LockedEntryBase {
  kind: 'image';
  /** `host/path`, no tag. */
  repository: string;
  /** `repository@digest`: the reference to deploy. */
  pinnedReference: string;
}

/** An image digest a chart's values pin. */
export interface PinnedImage {
  /** `host/path` as written into the values (the CI repository). */
  repository: string;
  digest: string;
}

/** One pushed chart. */
export interface LockedChart extends LockedEntryBase {
  kind: 'chart';
  /** `oci://host/path/name`, as `helm pull` takes it. */
  repository: string;
  /** The chart's name (Chart.yaml). */
  name: string;
  /** The chart's SemVer version (Chart.yaml); its OCI tag is in `tags`. */
  version: string;
  /** `oci://host/path/name@sha256:…`. */
  pinnedReference: string;
  /** The image digests pinned in the chart's values. */
  images: PinnedImage[];
}

export type LockEntry = LockedImage | LockedChart;

export interface LockFile {
  /** Format version; bumped only for changes a reader must know about. */
  version: 2;
  entries: LockEntry[];
}

export const LOCK_FILE_VERSION = 2;
/** The scheme a chart entry's repository carries. */
export const OCI_SCHEME = 'oci://';

export function emptyLock(): LockFile {
  return { version: LOCK_FILE_VERSION, entries: [] };
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;
const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((t) => typeof t === 'string');

/** Why `entry` is not a lock entry of `kind`, or undefined when it is one. */
function entryProblem(entry: Record<string, unknown>, kind: 'image' | 'chart'): string | undefined {
  if (typeof entry.repository !== 'string' || !entry.repository) return 'it has no repository';
  if (typeof entry.digest !== 'string' || !digestPattern.test(entry.digest)) return 'it has no sha256 digest';
  if (!isStringList(entry.tags)) return 'its tags are not a list of strings';
  if (kind === 'image') return undefined;
  if (!entry.repository.startsWith(OCI_SCHEME)) return `its repository does not start with ${OCI_SCHEME}`;
  if (typeof entry.name !== 'string' || typeof entry.version !== 'string') return 'it has no chart name and version';
  const images = entry.images;
  if (
    !Array.isArray(images) ||
    !images.every((i: Partial<PinnedImage> | null) => i && typeof i.repository === 'string' && digestPattern.test(String(i.digest)))
  )
    return 'its pinned images are not a list of repository and digest';
  return undefined;
}

/** Parses a lock file's text (version 2, or version 1 whose entries are images); throws one line saying what is wrong. */
export function parseLock(text: string, where = 'the lock file'): LockFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON (${(error as Error).message}): remove it or fix it`, { cause: error });
  }
  if (!data || typeof data !== 'object') throw new Error(`${where} is not a lock file (not a JSON object)`);
  const lock = data as { version?: unknown; images?: unknown; entries?: unknown };
  let entries: Record<string, unknown>[];
  let list: string;
  if (lock.version === 1) {
    if (!Array.isArray(lock.images)) throw new Error(`${where} is not an image lock file (no "images" list)`);
    list = 'images';
    entries = (lock.images as unknown[]).map((e) => (e && typeof e === 'object' ? { kind: 'image', ...e } : { kind: 'image' }));
  } else if (lock.version === LOCK_FILE_VERSION) {
    if (!Array.isArray(lock.entries)) throw new Error(`${where} is not a lock file (no "entries" list)`);
    list = 'entries';
    entries = lock.entries as Record<string, unknown>[];
  } else {
    throw new Error(`${where} has version ${JSON.stringify(lock.version)}; this task reads versions 1 and ${LOCK_FILE_VERSION}`);
  }
  for (const [i, entry] of entries.entries()) {
    const kind = entry && typeof entry === 'object' ? entry.kind : undefined;
    const problem =
      kind === 'image' || kind === 'chart' ? entryProblem(entry, kind) : `its kind is ${JSON.stringify(kind)}, not "image" or "chart"`;
    if (problem) throw new Error(`${where} has a malformed entry at ${list}[${i}]: ${problem}`);
  }
  return { version: LOCK_FILE_VERSION, entries: entries as unknown as LockEntry[] };
}

/**
 * Adds a push to the lock. An entry is one (kind, repository, digest): pushing it again merges its tags and refreshes
 * its details, never adds a second entry. A tag points at one digest, so a tag that moved to `entry.digest` leaves the
 * entry it was on; an entry left without tags is dropped (nothing deploys it by tag any more).
 */
export function mergeLock(lock: LockFile, entry: LockEntry): LockFile {
  const moved = new Set(entry.tags);
  const entries: LockEntry[] = [];
  let merged = false;
  for (const existing of lock.entries) {
    const sameRepository = existing.kind === entry.kind && existing.repository === entry.repository;
    if (sameRepository && existing.digest === entry.digest) {
      entries.push({ ...existing, ...entry, tags: [...existing.tags, ...entry.tags.filter((tag) => !existing.tags.includes(tag))] });
      merged = true;
    } else if (sameRepository) {
      const tags = existing.tags.filter((tag) => !moved.has(tag));
      if (tags.length) entries.push({ ...existing, tags });
    } else {
      entries.push(existing);
    }
  }
  if (!merged) entries.push({ ...entry, tags: [...new Set(entry.tags)] });
  return { version: LOCK_FILE_VERSION, entries };
}

/** The lock file's text: stable key order, two-space indent, final newline. */
export function serializeLock(lock: LockFile): string {
  const optional = (e: LockEntry) => ({
    ...(e.buildId !== undefined ? { buildId: e.buildId } : {}),
    ...(e.sourceVersion !== undefined ? { sourceVersion: e.sourceVersion } : {}),
  });
  const ordered = {
    version: LOCK_FILE_VERSION,
    entries: lock.entries.map((e) =>
      e.kind === 'image'
        ? {
            kind: e.kind,
            repository: e.repository,
            tags: e.tags,
            digest: e.digest,
            pinnedReference: e.pinnedReference,
            mediaType: e.mediaType,
            ...optional(e),
            pushedAt: e.pushedAt,
          }
        : {
            kind: e.kind,
            repository: e.repository,
            name: e.name,
            version: e.version,
            tags: e.tags,
            digest: e.digest,
            pinnedReference: e.pinnedReference,
            mediaType: e.mediaType,
            images: e.images.map((i) => ({ repository: i.repository, digest: i.digest })),
            ...optional(e),
            pushedAt: e.pushedAt,
          },
    ),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * The output variable that carries an entry's promoted reference: `pinned_<name>` for an image, `chart_<name>` for a
 * chart, where `<name>` is the repository's last path segment with every character outside `[A-Za-z0-9_]` made `_`.
 */
export function outputNameOf(entry: Pick<LockEntry, 'kind' | 'repository'>): string {
  const last = entry.repository.replace(/\/+$/, '').split('/').pop() ?? '';
  return `${entry.kind === 'chart' ? 'chart' : 'pinned'}_${last.replace(/[^A-Za-z0-9_]/g, '_')}`;
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

/** Writes `lock` to `file` whole: a temporary file renamed over it, so a reader never sees half a file. */
export function writeLockFile(file: string, lock: LockFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, serializeLock(lock));
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

/** Merges `entry` into the lock file at `file` and writes it back whole. Returns the merged lock. */
export function recordInLockFile(file: string, entry: LockEntry): LockFile {
  const merged = mergeLock(readLockFile(file), entry);
  writeLockFile(file, merged);
  return merged;
}

/**
 * Records what a task has just pushed, stamped now, and says so in the log. The push is done by then (the folder was
 * proven writable before it), so a failure says exactly what was pushed (`pushedAs`: its tags) and that it is not
 * recorded.
 */
export function recordPushed(
  file: string,
  entry: Omit<LockedImage, 'pushedAt'> | Omit<LockedChart, 'pushedAt'>,
  pushedAs: string,
  log: Log,
): void {
  try {
    recordInLockFile(file, { ...entry, pushedAt: new Date().toISOString() });
  } catch (error) {
    throw new Error(
      `pushed ${entry.pinnedReference} as ${pushedAs} but could not record it in lockFile '${file}': ${(error as Error).message}`,
      { cause: error },
    );
  }
  log.info(`Recorded ${entry.pinnedReference} in ${file}`);
}
