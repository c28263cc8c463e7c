import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LockFile } from '../../shared/src/release';
import { attachCosignTag, attachSbom, signImage, type AttachedReferrer, type CosignTagAttachment } from './attach';
import { repoRoot } from './env';
import { runHelm } from './helm';
import { pushIndex, pushRandomImage, type PushedImage, type PushedIndex } from './images';
import type { TestRegistry } from './registries';

/*
 * What CI leaves in a registry for a release, made with the real tools' layouts: an image with a signature, an SBOM,
 * a signature of that SBOM and cosign's `.sig` and `.att` tags; a multi-platform index with a signature on one child
 * and a cosign `.sig`; a chart pushed by real helm. `lock(host)` is the lock file PushImageByDigest and
 * PackageHelmChart would have written for it, naming the registry as `host` (a counting proxy's, say).
 */

export const CHART_FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
export const CHART_NAME = 'sample-service';
export const CHART_VERSION = '0.1.0';

export interface SeededRelease {
  prefix: string;
  api: PushedImage;
  web: PushedIndex;
  /** Pushed by `helm push` to `oci://<registry>/<prefix>/charts/sample-service:0.1.0`. */
  chart?: { digest: string; mediaType: string };
  apiSignature: AttachedReferrer;
  apiSbom: AttachedReferrer;
  sbomSignature: AttachedReferrer;
  apiCosignSig: CosignTagAttachment;
  apiCosignAtt: CosignTagAttachment;
  webChildSignature: AttachedReferrer;
  webCosignSig: CosignTagAttachment;
  /** Manifests attached, recursively, to `api` and to `web` (and its children). */
  attachedToApi: number;
  attachedToWeb: number;
  lock(host: string): LockFile;
}

/** Pushes the release under `<prefix>/…` (seeds make every run's digests its own); the chart only when asked. */
export async function seedRelease(
  registry: TestRegistry,
  prefix: string,
  options: { chart?: boolean; seed?: string } = {},
): Promise<SeededRelease> {
  const seed = options.seed ?? prefix;
  const api = await pushRandomImage(registry, `${prefix}/team/api`, '101', { layers: 3, seed: `${seed}/api` });
  const web = await pushIndex(registry, `${prefix}/team/web`, '101', { layers: 2, seed: `${seed}/web` });
  const apiSignature = await signImage(registry, api.repo, api.digest);
  const apiSbom = await attachSbom(registry, api.repo, api.digest);
  const sbomSignature = await signImage(registry, api.repo, apiSbom.digest, { format: 'notation' });
  const apiCosignSig = await attachCosignTag(registry, api.repo, api.digest, 'sig');
  const apiCosignAtt = await attachCosignTag(registry, api.repo, api.digest, 'att');
  const webChildSignature = await signImage(registry, web.repo, web.children[0].digest);
  const webCosignSig = await attachCosignTag(registry, web.repo, web.digest, 'sig');

  let chart: SeededRelease['chart'];
  if (options.chart) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-release-chart-'));
    try {
      const packaged = await runHelm(['package', CHART_FIXTURE, '-d', dir]);
      if (packaged.code !== 0) throw new Error(`helm package: ${packaged.stderr}`);
      const file = path.join(dir, `${CHART_NAME}-${CHART_VERSION}.tgz`);
      const pushed = await runHelm(['push', file, `oci://${registry.host}/${prefix}/charts`, '--plain-http']);
      const digest = /Digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout + pushed.stderr)?.[1];
      if (pushed.code !== 0 || !digest) throw new Error(`helm push: ${pushed.stdout}${pushed.stderr}`);
      chart = { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const pushedAt = '2026-01-01T00:00:00.000Z';
  return {
    prefix,
    api,
    web,
    chart,
    apiSignature,
    apiSbom,
    sbomSignature,
    apiCosignSig,
    apiCosignAtt,
    webChildSignature,
    webCosignSig,
    attachedToApi: 5,
    attachedToWeb: 2,
    lock: (host) => ({
      version: 2,
      entries: [
        {
          kind: 'image',
          repository: `${host}/${api.repo}`,
          tags: ['101'],
          digest: api.digest,
          pinnedReference: `${host}/${api.repo}@${api.digest}`,
          mediaType: api.mediaType,
          buildId: '101',
          pushedAt,
        },
        {
          kind: 'image',
          repository: `${host}/${web.repo}`,
          tags: ['101'],
          digest: web.digest,
          pinnedReference: `${host}/${web.repo}@${web.digest}`,
          mediaType: web.mediaType,
          buildId: '101',
          pushedAt,
        },
        ...(chart
          ? [
              {
                kind: 'chart' as const,
                repository: `oci://${host}/${prefix}/charts/${CHART_NAME}`,
                name: CHART_NAME,
                version: CHART_VERSION,
                tags: [CHART_VERSION],
                digest: chart.digest,
                pinnedReference: `oci://${host}/${prefix}/charts/${CHART_NAME}@${chart.digest}`,
                mediaType: chart.mediaType,
                images: [{ repository: `${host}/${api.repo}`, digest: api.digest }],
                buildId: '101',
                pushedAt,
              },
            ]
          : []),
      ],
    }),
  };
}
