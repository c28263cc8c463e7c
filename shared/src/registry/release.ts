import { plural } from '../markdown';
import type { Log } from '../log';
import {
  formatPinned,
  formatRepository,
  InvalidReferenceError,
  parseRepository,
  printable,
  tagProblem,
  type Digest,
} from '../reference/reference';
import { OCI_SCHEME, outputNameOf, writeLockFile, type LockEntry, type LockFile } from '../release/lockfile';
import { eachLimited, shortDigest } from './copy';
import {
  checkNamespace,
  DEFAULT_TARGET_NAMESPACE,
  executePromotion,
  openSession,
  OptionError,
  preparePromotion,
  refuseConflicts,
  type PreparedPromotion,
  type PromotionOutcome,
  type PromotionPlan,
  type PromotionSessionOptions,
  type PromotionTraffic,
} from './promote';

/*
 * promoteRelease: every image and chart a lock file lists, promoted by digest with the one promotion engine of
 * promote.ts. Every entry is resolved and every target tag of every entry checked before the first write, so a
 * refusal anywhere moves nothing; then the entries are copied, a few at a time. A chart is an OCI artifact like any
 * image: `oci://host/path/name` goes to `oci://<target host>/<namespace>/path/name`, its bytes (and so its digest)
 * unchanged. One log line per entry, one summary line at the end.
 */

/**
 * Entries promoted at once. Each keeps up to DEFAULT_BLOB_CONCURRENCY blob requests in flight, so a release keeps 16
 * at most: registries throttle beyond a few per client, and on loopback (bench/release, 2 cores) 3→4 gave ~5% and
 * 6 or 8 little more, the registry's CPU being the bound.
 */
export const DEFAULT_ENTRY_CONCURRENCY = 4;

/** What `promoteRelease` needs. Names match the PromoteImage@1 inputs; `lockFile` is read by the caller. */
export interface PromoteReleaseOptions extends PromotionSessionOptions {
  /** The lock file's entries (see shared/src/release). */
  lock: LockFile;
  /** Where the promoted lock file is written (same format, prod references); not written when absent. */
  promotedLockFile?: string;
  /** Entries promoted at once (default 4). */
  entryConcurrency?: number;
  /** The promotion's time, for the promoted entries' `pushedAt` (default: now). */
  now?: () => Date;
}

/** One promoted entry. */
export interface PromotedEntry {
  /** The entry as the lock file lists it. */
  source: LockEntry;
  /** The same entry with the prod references. */
  promoted: LockEntry;
  /** The output variable that carries `promoted.pinnedReference` (`pinned_<name>`, `chart_<name>`). */
  outputName: string;
  outcome: PromotionOutcome;
}

/** What `promoteRelease` did. */
export interface PromoteReleaseResult extends PromotionTraffic {
  entries: PromotedEntry[];
  /** The promoted lock file's content. */
  lock: LockFile;
  tagsWritten: number;
  blobsMounted: number;
  blobsCopied: number;
  childManifests: number;
  referrersFound: number;
  referrersCopied: number;
}

/** `entry 2 (host/team/app@sha256:…)`, as messages name an entry. */
function describeEntry(entry: LockEntry, index: number): string {
  return `entry ${index + 1} (${entry.kind === 'chart' ? `chart ${entry.name} ` : ''}${entry.repository}@${shortDigest(entry.digest)}…)`;
}

/** Plans one entry: source by digest, target with the namespace after the (target) host, its tags plus `additionalTags`. */
function planEntry(entry: LockEntry, index: number, options: PromoteReleaseOptions, namespace: string): PromotionPlan {
  const where = describeEntry(entry, index);
  const written = entry.kind === 'chart' ? entry.repository.slice(OCI_SCHEME.length) : entry.repository;
  let repository;
  try {
    repository = parseRepository(written);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new OptionError('lockFile', `has ${where}, whose repository is not one: ${error.reason}`);
  }
  const tags: string[] = [];
  for (const raw of [...entry.tags, ...(options.additionalTags ?? [])]) {
    const tag = raw.trim();
    if (!tag || tags.includes(tag)) continue;
    const problem = tagProblem(tag);
    if (problem) {
      const input = entry.tags.includes(raw) ? 'lockFile' : 'additionalTags';
      throw new OptionError(
        input,
        `has a value that is not a tag: '${printable(tag)}' (${problem})${input === 'lockFile' ? ` in ${where}` : ''}`,
      );
    }
    tags.push(tag);
  }
  if (tags.length === 0) throw new OptionError('lockFile', `has ${where} without tags: give the promoted images a tag with additionalTags`);
  const registry = options.targetRegistry ?? options.targetContainerRegistry?.host ?? repository.registry;
  return {
    sourceInput: 'lockFile',
    source: { ...repository, digest: entry.digest as Digest },
    target: { registry, repository: `${namespace}/${repository.repository}`, tag: tags[0] },
    tags,
  };
}

/** The promoted form of an entry: the target repository and tags, pinned by the same digest. */
function promotedEntry(entry: LockEntry, plan: PromotionPlan, promotedImages: Map<string, string>, pushedAt: string): LockEntry {
  const repository = formatRepository(plan.target);
  const pinned = formatPinned(plan.target, entry.digest as Digest);
  if (entry.kind === 'image') return { ...entry, repository, tags: plan.tags, pinnedReference: pinned, pushedAt };
  return {
    ...entry,
    repository: `${OCI_SCHEME}${repository}`,
    tags: plan.tags,
    pinnedReference: `${OCI_SCHEME}${pinned}`,
    // The chart's bytes still name the CI repository; the lock says where each of its images went.
    images: entry.images.map((image) => ({
      repository: promotedImages.get(`${image.repository} ${image.digest}`) ?? image.repository,
      digest: image.digest,
    })),
    pushedAt,
  };
}

/**
 * Refuses, naming `lockFile`, what would make the promotion ambiguous: two entries whose outputs would have one name,
 * or two entries that want one target tag for different digests.
 */
function checkEntries(entries: readonly LockEntry[], plans: readonly PromotionPlan[]): void {
  const names = new Map<string, number>();
  const tags = new Map<string, { index: number; digest: string }>();
  for (const [index, entry] of entries.entries()) {
    const name = outputNameOf(entry);
    const other = names.get(name);
    if (other !== undefined) {
      throw new OptionError(
        'lockFile',
        `has ${describeEntry(entries[other], other)} and ${describeEntry(entry, index)}, which would both set the output variable '${name}': promote them with separate lock files`,
      );
    }
    names.set(name, index);
    for (const tag of plans[index].tags) {
      const key = `${formatRepository(plans[index].target)}:${tag}`;
      const claimed = tags.get(key);
      if (claimed && claimed.digest !== entry.digest) {
        throw new OptionError(
          'lockFile',
          `has ${describeEntry(entries[claimed.index], claimed.index)} and ${describeEntry(entry, index)}, which would both be tagged ${key}`,
        );
      }
      tags.set(key, { index, digest: entry.digest });
    }
  }
}

/** The core's detail lines go to debug during a release: its log has one line per entry. */
function quiet(log: Log): Log {
  return {
    info: (line) => log.debug(line),
    warn: (line) => log.warn(line),
    debug: (line) => log.debug(line),
    secret: (value) => log.secret(value),
  };
}

/** `image host/app@sha256:… → host/prod/app:1.0, stable: 2 tags written, 4 blobs mounted, 1 referrer copied` */
function entryLine(entry: LockEntry, prepared: PreparedPromotion, outcome: PromotionOutcome): string {
  const targets = outcome.tags.map((tag) => `${outcome.targetRepository}:${tag}`).join(', ');
  const source = `${entry.kind === 'chart' ? `chart ${entry.name} ${entry.version}` : 'image'} ${formatRepository(prepared.plan.source)}@${shortDigest(outcome.digest)}…`;
  const referrers =
    outcome.referrersFound > 0 ? `, ${plural(outcome.referrersCopied, 'referrer')} copied of ${outcome.referrersFound}` : '';
  if (outcome.tagsWritten.length === 0 && outcome.referrersCopied === 0) {
    return `${source} → ${targets}: already promoted${referrers ? ` (${plural(outcome.referrersFound, 'referrer')} there)` : ''}`;
  }
  const blobs = `${plural(outcome.blobsMounted, 'blob')} mounted, ${outcome.blobsCopied} streamed`;
  return `${source} → ${targets}: ${plural(outcome.tagsWritten.length, 'tag')} written, ${blobs}${referrers}`;
}

/**
 * Promotes every entry of a lock file by digest: plans them all (bad entries and collisions fail naming `lockFile`),
 * resolves each source and checks every target tag of every entry (reads only), refuses before the first write when a
 * tag points elsewhere (unless `allowOverwrite`), then copies the entries — blobs, children, tags, referrers — a few at
 * a time. A re-run writes nothing. Writes the promoted lock file when `promotedLockFile` is given.
 *
 * Throws OptionError (naming `lockFile`, `targetNamespace`, `additionalTags`), PromoteRefusedError or RegistryError.
 */
export async function promoteRelease(options: PromoteReleaseOptions, log: Log): Promise<PromoteReleaseResult> {
  const entries = options.lock.entries;
  if (entries.length === 0) throw new OptionError('lockFile', 'lists no image or chart to promote');
  const namespace = checkNamespace(options.targetNamespace ?? DEFAULT_TARGET_NAMESPACE);
  const plans = entries.map((entry, index) => planEntry(entry, index, options, namespace));
  checkEntries(entries, plans);
  const session = openSession(options, plans, log);
  const concurrency = options.entryConcurrency ?? DEFAULT_ENTRY_CONCURRENCY;
  const detail = quiet(log);
  const registries = [...new Set(plans.map((p) => p.target.registry))].join(', ');
  log.info(`Promoting ${plural(entries.length, 'entry', 'entries')} of the lock file into ${namespace}/ on ${registries}`);

  const prepared = new Array<PreparedPromotion>(plans.length);
  await eachLimited(plans, concurrency, async (plan, index) => {
    prepared[index] = await preparePromotion(session, plan, detail);
  });
  refuseConflicts(session, prepared, `promote the lock file's ${plural(entries.length, 'entry', 'entries')}`, log);

  const outcomes = new Array<PromotionOutcome>(plans.length);
  await eachLimited(prepared, concurrency, async (p, index) => {
    outcomes[index] = await executePromotion(session, p, detail);
    log.info(entryLine(entries[index], p, outcomes[index]));
  });

  const pushedAt = (options.now?.() ?? new Date()).toISOString();
  const promotedImages = new Map<string, string>();
  for (const [index, entry] of entries.entries()) {
    if (entry.kind === 'image') promotedImages.set(`${entry.repository} ${entry.digest}`, formatRepository(plans[index].target));
  }
  const promoted: PromotedEntry[] = entries.map((entry, index) => ({
    source: entry,
    promoted: promotedEntry(entry, plans[index], promotedImages, pushedAt),
    outputName: outputNameOf(entry),
    outcome: outcomes[index],
  }));
  const lock: LockFile = { version: 2, entries: promoted.map((p) => p.promoted) };
  if (options.promotedLockFile) writeLockFile(options.promotedLockFile, lock);

  const sum = (key: 'blobsMounted' | 'blobsCopied' | 'childManifests' | 'referrersFound' | 'referrersCopied') =>
    outcomes.reduce((n, o) => n + o[key], 0);
  const result: PromoteReleaseResult = {
    entries: promoted,
    lock,
    tagsWritten: outcomes.reduce((n, o) => n + o.tagsWritten.length, 0),
    blobsMounted: sum('blobsMounted'),
    blobsCopied: sum('blobsCopied'),
    childManifests: sum('childManifests'),
    referrersFound: sum('referrersFound'),
    referrersCopied: sum('referrersCopied'),
    ...session.traffic(),
  };
  const images = entries.filter((e) => e.kind === 'image').length;
  log.info(
    `Promoted ${plural(images, 'image')} and ${plural(entries.length - images, 'chart')}: ${plural(result.tagsWritten, 'tag')} written, ` +
      `${plural(result.blobsMounted, 'blob')} mounted, ${result.blobsCopied} streamed (${result.blobBytes} bytes), ` +
      `${plural(result.referrersCopied, 'referrer')} copied (${result.referrersFound} found); ${result.requests} requests, ${result.writes} writes`,
  );
  return result;
}
