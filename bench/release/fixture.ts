// The release bench's fixture: what CI leaves behind for a release. Images pushed by registry API (random layers),
// a chart packaged and pushed with the product's own helm push (it pins the first image by digest), each of them
// signed and given an SPDX SBOM as OCI 1.1 referrers, and the lock file (version 2) that lists them all.
import * as path from 'node:path';
import { packageChart } from '../../shared/src/helm/package';
import { pushChartToRegistry } from '../../shared/src/helm/registry-target';
import { silentLog } from '../../shared/src/log';
import { OCI_SCHEME, readLockFile, writeLockFile, type LockEntry, type LockFile } from '../../shared/src/release';
import { attachSbom, referrersOf, signImage } from '../../test/support/attach';
import { repoRoot } from '../../test/support/env';
import { fetchManifest, pushRandomImage } from '../../test/support/images';
import type { TestUser } from '../../test/support/token-issuer';

export const SAMPLE_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
/** The tag CI gave every image and the chart's version (its OCI tag). */
export const RELEASE_TAG = '1.0.0';
/** Where CI pushed: `ci/app-00`, …, and the chart under `ci/charts/`. */
export const CI_NAMESPACE = 'ci';

/** The registry the fixture is pushed to and named by: its host goes into the lock file; `users[0]` pushes. */
export interface FixtureRegistry {
  /** `host:port`, as the lock file's references carry it. */
  host: string;
  url: string;
  users: TestUser[];
}

export interface ReleaseFixtureOptions {
  images: number;
  layers: number;
  bytesPerLayer: number;
  /** Makes the layers' bytes (and so the digests) differ between runs. */
  seed: string;
  /** The lock file and the packaged chart go here. */
  workDir: string;
}

/** One lock entry with what is attached to it in the registry. */
export interface FixtureSubject {
  entry: LockEntry;
  /** The repository within the registry (`ci/app-00`, `ci/charts/sample-service`). */
  repository: string;
  tag: string;
  /** The signature's and the SBOM's manifest digests. */
  referrers: string[];
}

export interface ReleaseFixture {
  lockFile: string;
  lock: LockFile;
  subjects: FixtureSubject[];
  /** Compressed layer bytes of all images (the chart's few KB not included). */
  layerBytes: number;
}

/** A lock entry's repository within its registry: `oci://host/path/name` and `host/path` both give `path…`. */
export function repositoryPath(entry: LockEntry): string {
  const written = entry.kind === 'chart' ? entry.repository.slice(OCI_SCHEME.length) : entry.repository;
  return written.slice(written.indexOf('/') + 1);
}

async function attachSignatureAndSbom(registry: FixtureRegistry, repository: string, digest: string): Promise<string[]> {
  const signature = await signImage(registry, repository, digest);
  const sbom = await attachSbom(registry, repository, digest);
  return [signature.digest, sbom.digest];
}

/** Pushes `options.images` images and the chart to `registry`, attaches a signature and an SBOM to each, writes the lock file. */
export async function buildReleaseFixture(registry: FixtureRegistry, options: ReleaseFixtureOptions): Promise<ReleaseFixture> {
  const lockFile = path.join(options.workDir, 'release.lock.json');
  const pushedAt = new Date().toISOString();
  const subjects: FixtureSubject[] = [];
  const entries: LockEntry[] = [];
  let layerBytes = 0;
  for (let i = 0; i < options.images; i++) {
    const repository = `${CI_NAMESPACE}/app-${String(i).padStart(2, '0')}`;
    const image = await pushRandomImage(registry, repository, RELEASE_TAG, {
      layers: options.layers,
      bytesPerLayer: options.bytesPerLayer,
      seed: `${options.seed}/${repository}`,
    });
    layerBytes += image.layerSizes.reduce((sum, size) => sum + size, 0);
    const entry: LockEntry = {
      kind: 'image',
      repository: `${registry.host}/${repository}`,
      tags: [RELEASE_TAG],
      digest: image.digest,
      pinnedReference: `${registry.host}/${repository}@${image.digest}`,
      mediaType: image.mediaType,
      pushedAt,
    };
    entries.push(entry);
    subjects.push({ entry, repository, tag: RELEASE_TAG, referrers: await attachSignatureAndSbom(registry, repository, image.digest) });
  }
  writeLockFile(lockFile, { version: 2, entries });

  // The chart as PackageHelmChart@1 makes it: packaged with the first image pinned, pushed, recorded in the lock file.
  const first = entries[0];
  const chart = await packageChart(
    {
      chartPath: SAMPLE_CHART,
      destination: path.join(options.workDir, 'chart'),
      chartVersion: RELEASE_TAG,
      ...(first ? { imageRepository: first.repository, imageDigest: first.digest } : {}),
    },
    silentLog,
  );
  const user = registry.users[0];
  const pushed = await pushChartToRegistry(
    chart,
    {
      chartRepository: `${registry.host}/${CI_NAMESPACE}/charts`,
      ...(user ? { login: { host: registry.host, credentials: { username: user.username, password: user.password } } } : {}),
      lockFile,
    },
    silentLog,
  );
  const lock = readLockFile(lockFile);
  const chartEntry = lock.entries.find((e) => e.kind === 'chart');
  if (!chartEntry || chartEntry.digest !== pushed.chartDigest)
    throw new Error(`the chart push left no entry for ${pushed.chartReference} in ${lockFile}`);
  subjects.push({
    entry: chartEntry,
    repository: pushed.repository,
    tag: pushed.tag,
    referrers: await attachSignatureAndSbom(registry, pushed.repository, pushed.chartDigest),
  });
  return { lockFile, lock, subjects, layerBytes };
}

/** What a promotion into `namespace` left: entries whose tag holds the source digest, and the source's referrers found there. */
export interface PromotionCheck {
  entriesPromoted: number;
  referrersCopied: number;
  referrersInSource: number;
  /** Entries missing or at another digest, for the report. */
  missing: string[];
}

/**
 * Reads every subject's target (`<namespace>/<repository>:<tag>`) back over the registry API, independently of the
 * product: the tag must hold the source's digest, and the signature and SBOM must be listed as its referrers
 * and be there themselves.
 */
export async function checkPromotion(registry: FixtureRegistry, fixture: ReleaseFixture, namespace: string): Promise<PromotionCheck> {
  const check: PromotionCheck = { entriesPromoted: 0, referrersCopied: 0, referrersInSource: 0, missing: [] };
  for (const subject of fixture.subjects) {
    const target = namespace ? `${namespace}/${subject.repository}` : subject.repository;
    check.referrersInSource += subject.referrers.length;
    const manifest = await fetchManifest(registry, target, subject.tag);
    if (manifest.status !== 200 || manifest.digest !== subject.entry.digest) {
      check.missing.push(`${target}:${subject.tag}`);
      continue;
    }
    check.entriesPromoted++;
    const found = await referrersOf(registry, target, subject.entry.digest);
    const listed = new Set(found.referrers.map((r) => r.digest));
    for (const digest of subject.referrers) {
      // Listed is not enough: the referrer's own manifest must be in the target repository too.
      if (listed.has(digest) && (await fetchManifest(registry, target, digest)).status === 200) check.referrersCopied++;
    }
  }
  return check;
}
