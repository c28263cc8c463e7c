import type { Log } from '../log';
import type { Digest } from '../reference/reference';
import { copyBlob, mountBlob, type RepositoryOn } from './blob';
import {
  getManifest,
  parseManifestContent,
  storeManifest,
  type Descriptor,
  type Manifest,
  type ManifestContent,
  type StoredManifest,
} from './manifest';

/*
 * Copying one manifest tree by digest from a repository to another, on the same registry or not. A manifest PUT fails
 * with MANIFEST_BLOB_UNKNOWN unless every blob it names exists in the target repository, so blobs are mounted first
 * (same registry) or streamed (another registry); an index's child manifests are copied the same way and put by
 * digest before the index itself. The bytes put are the bytes read, so no digest ever changes. Promotion (the image
 * itself) and the referrer copy (signatures, SBOMs, attestations) both go through here.
 */

/** Where a tree is copied from and to. */
export interface CopyRoute {
  source: RepositoryOn;
  target: RepositoryOn;
}

/** What a copier did so far. */
export interface CopyCounts {
  /** Blobs linked by cross-repository mount. */
  blobsMounted: number;
  /** Blobs streamed (another registry, or a registry that would not mount). */
  blobsCopied: number;
  /** Child manifests of an index put by digest. */
  childManifests: number;
}

/** Runs `work` over `items` with at most `limit` in flight; the first failure is thrown after the others settle. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        await work(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

/**
 * Awaits two reads started together: both settle before anything is thrown (nothing is left running behind a
 * failure), and `first`'s failure is the one reported when both fail, whatever the timing.
 */
export async function bothSettled<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return [a.value, b.value];
}

/** Runs actions with at most `limit` in flight, in the order they were asked for; the rest wait for a free slot. */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(action: () => Promise<T>): Promise<T> {
    if (this.running < Math.max(1, this.limit)) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await action();
    } finally {
      // The slot passes straight to the next in line, or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

/** `sha256:0123456789ab` — enough of a digest to tell it apart in a log line. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}

/** `linux/arm64/v8` for a platform child, its Docker reference type (attestations) otherwise. */
export function platformOf(descriptor: Descriptor): string {
  const p = descriptor.platform;
  if (!p) return descriptor.annotations?.['vnd.docker.reference.type'] ?? 'unknown platform';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Wraps one step so that its failure says what was being done. */
export type StepRunner = <T>(what: string, action: () => Promise<T>) => Promise<T>;

export interface ManifestCopierOptions {
  /** Blob operations in flight at once, over every tree this copier copies (trees may be copied side by side). */
  concurrency: number;
  log: Log;
  step: StepRunner;
  /**
   * Blob copies already started, keyed by target registry, repository and digest: shared by every copier of one
   * promotion so that a blob two entries (or an image and its signature) share is mounted once.
   */
  blobsStarted: Map<string, Promise<void>>;
}

/** Copies manifest trees along one route, counting what it moved. */
export class ManifestCopier {
  readonly counts: CopyCounts = { blobsMounted: 0, blobsCopied: 0, childManifests: 0 };
  private readonly sameHost: boolean;
  private readonly blobSlots: Limiter;
  /** The first blob failure: blobs still waiting for a slot are not started after it. */
  private blobFailure?: { error: unknown };

  constructor(
    private readonly route: CopyRoute,
    private readonly options: ManifestCopierOptions,
  ) {
    this.sameHost = route.source.client === route.target.client;
    this.blobSlots = new Limiter(options.concurrency);
  }

  /** Makes everything `content` names exist in the target: its blobs, or for an index each child, put by digest. */
  async copyContent(content: ManifestContent): Promise<void> {
    if (content.kind === 'image') {
      await this.copyBlobs(content.blobs);
      return;
    }
    const { source, target } = this.route;
    for (const child of content.manifests) {
      const what = `child manifest ${shortDigest(child.digest)}… (${platformOf(child)})`;
      const manifest = await this.options.step(`read ${what}`, () => getManifest(source.client, source.repository, child.digest));
      const childContent = await this.options.step(`read ${what}`, () =>
        Promise.resolve(parseManifestContent(manifest.bytes, manifest.mediaType)),
      );
      await this.copyContent(childContent);
      await this.options.step(`put ${what}`, () =>
        storeManifest(target.client, target.repository, child.digest, manifest.bytes, manifest.mediaType),
      );
      this.counts.childManifests++;
      this.options.log.info(`Copied ${platformOf(child)} manifest ${child.digest}`);
    }
  }

  /** Copies a whole tree and puts its manifest under `reference` (its digest, or a tag). */
  async copyTree(manifest: Manifest, content: ManifestContent, reference: string = manifest.digest): Promise<StoredManifest> {
    await this.copyContent(content);
    const { target } = this.route;
    return this.options.step(`put manifest ${reference.startsWith('sha256:') ? shortDigest(reference) + '…' : reference}`, () =>
      storeManifest(target.client, target.repository, reference, manifest.bytes, manifest.mediaType),
    );
  }

  /** Every blob in the target, at most `concurrency` of this copier's at once; the first failure after the rest settle. */
  private async copyBlobs(blobs: readonly Descriptor[]): Promise<void> {
    const { source, target } = this.route;
    const settled = await Promise.allSettled(
      blobs.map((blob) => {
        const key = `${target.client.registry} ${target.repository} ${blob.digest}`;
        let started = this.options.blobsStarted.get(key);
        if (!started) {
          started = this.blobSlots.run(async () => {
            if (this.blobFailure) throw this.blobFailure.error;
            try {
              await this.options.step(
                `${this.sameHost ? 'mount' : 'copy'} blob ${shortDigest(blob.digest)}… from ${source.repository}`,
                () => this.copyBlob(blob.digest, blob.size),
              );
            } catch (error) {
              this.blobFailure ??= { error };
              throw error;
            }
          });
          this.options.blobsStarted.set(key, started);
        }
        return started;
      }),
    );
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async copyBlob(digest: Digest, size: number): Promise<void> {
    const { source, target } = this.route;
    if (this.sameHost) {
      const mount = await mountBlob(target.client, target.repository, digest, source.repository);
      if (mount.mounted) {
        this.counts.blobsMounted++;
        return;
      }
      // The registry would not mount (e.g. the blob lives elsewhere): stream it into the session it opened.
      await copyBlob(source, target, { digest, size }, mount.location);
      this.counts.blobsCopied++;
      return;
    }
    if ((await copyBlob(source, target, { digest, size })) === 'copied') this.counts.blobsCopied++;
  }
}
