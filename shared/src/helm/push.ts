import { createHash } from 'node:crypto';
import type { Log } from '../log';
import { ChartError } from './errors';
import { goJson, metadataObject, type ChartMetadata } from './metadata';
import { ociTag } from './version';

/** helm's media types (helm v3 `pkg/registry/constants.go`). */
export const HELM_CONFIG_MEDIA_TYPE = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_CHART_LAYER_MEDIA_TYPE = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';

/**
 * The registry operations a chart push needs, against the registry host of `chartRepository` (see
 * `chartPushLocation`). The registry layer (shared/src/registry) implements it with its auth, retries and digest
 * checks; `pushChart` only builds the bytes and checks the digest it gets back.
 */
export interface ChartPushTarget {
  /** Uploads a blob to `repository` (skipping it when present); resolves once the registry holds exactly these bytes. */
  pushBlob(repository: string, bytes: Uint8Array, mediaType: string): Promise<void>;
  /** PUTs a manifest under `tag`; resolves to the digest the registry reports, checked against the bytes. */
  putManifest(repository: string, tag: string, bytes: Uint8Array, mediaType: string): Promise<string>;
}

/** The packaged chart, as `packageChart` returns it. */
export interface PushableChart {
  bytes: Uint8Array;
  metadata: ChartMetadata;
  /** Seconds since the epoch: the manifest's `created` annotation, so a re-push gives the same digest. */
  sourceDateEpoch: number;
}

export interface PushChartOptions {
  /** `host[:port]/path`: the chart goes to `<chartRepository>/<name>:<version>` (`oci://` is accepted and dropped). */
  chartRepository: string;
}

export interface ChartPushResult {
  /** `oci://host/path/name@sha256:…` */
  chartReference: string;
  /** `sha256:…` of the manifest. */
  chartDigest: string;
  /** `host/path/name:tag` as helm would name it (without oci://). */
  taggedReference: string;
  /** `oci://host/path/name`, as `helm pull` takes it (with `--version`). */
  ociRepository: string;
  /** `path/name`, the repository within the registry. */
  repository: string;
  tag: string;
}

/** The three documents of a helm chart in an OCI registry. */
export interface ChartArtifact {
  config: Buffer;
  layer: Uint8Array;
  manifest: Buffer;
  manifestDigest: string;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The chart's own annotations may override every generated one but these (helm's `immutableOciAnnotations`). */
const IMMUTABLE_ANNOTATIONS = new Set(['org.opencontainers.image.version', 'org.opencontainers.image.title']);

/**
 * helm's OCI annotations (helm v3 `registry.generateOCIAnnotations`): description, title, version, url, created,
 * source (first of `sources`), authors (`name (email), …`), then the chart's own annotations. `created` is the package's SOURCE_DATE_EPOCH, not the time of the push, so pushing twice gives one digest.
 */
export function chartAnnotations(md: ChartMetadata, created: Date): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined && value.trim() !== '') out[key] = value;
  };
  add('org.opencontainers.image.description', md.description);
  add('org.opencontainers.image.title', md.name);
  add('org.opencontainers.image.version', md.version);
  add('org.opencontainers.image.url', md.home);
  add('org.opencontainers.image.created', created.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  if (md.sources && md.sources.length > 0) add('org.opencontainers.image.source', md.sources[0]);
  if (md.maintainers && md.maintainers.length > 0) {
    const authors = md.maintainers.map((m) => `${m.name ?? ''}${m.email ? ` (${m.email})` : ''}`).join(', ');
    add('org.opencontainers.image.authors', authors);
  }
  for (const [key, value] of Object.entries(md.annotations ?? {})) if (!IMMUTABLE_ANNOTATIONS.has(key)) out[key] = value;
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(out).sort()) sorted[key] = out[key];
  return sorted;
}

/**
 * Builds the config blob (the chart metadata as helm marshals it), the layer (the package itself) and the OCI
 * manifest as helm writes them; same package, same bytes, same digest.
 */
export function buildChartArtifact(chart: PushableChart): ChartArtifact {
  const config = Buffer.from(goJson(metadataObject(chart.metadata)), 'utf8');
  const manifestObject = {
    schemaVersion: 2,
    config: { mediaType: HELM_CONFIG_MEDIA_TYPE, digest: sha256(config), size: config.length },
    layers: [{ mediaType: HELM_CHART_LAYER_MEDIA_TYPE, digest: sha256(chart.bytes), size: chart.bytes.length }],
    annotations: chartAnnotations(chart.metadata, new Date(chart.sourceDateEpoch * 1000)),
  };
  const manifest = Buffer.from(goJson(manifestObject), 'utf8');
  return { config, layer: chart.bytes, manifest, manifestDigest: sha256(manifest) };
}

/** Where a chart goes: `chartRepository` (`host/path`, `oci://` optional) plus the chart name; tag from the version. */
export function chartPushLocation(
  chartRepository: string,
  name: string,
  version: string,
): { host: string; repository: string; tag: string } {
  const base = chartRepository
    .trim()
    .replace(/^oci:\/\//, '')
    .replace(/\/+$/, '');
  const slash = base.indexOf('/');
  if (slash <= 0 || slash === base.length - 1) {
    throw new ChartError(`chartRepository '${chartRepository}' must be host/path (e.g. myacr.azurecr.io/helm)`);
  }
  return { host: base.slice(0, slash), repository: `${base.slice(slash + 1)}/${name}`, tag: ociTag(version) };
}

/**
 * Pushes a packaged chart to `oci://<chartRepository>/<name>:<version>` (`+` in the version becomes `_` in the
 * tag, as helm does): config and layer blobs, then the manifest. The registry's manifest digest must equal the
 * digest of the bytes sent.
 */
export async function pushChart(
  target: ChartPushTarget,
  chart: PushableChart,
  options: PushChartOptions,
  log: Log,
): Promise<ChartPushResult> {
  const { host, repository, tag } = chartPushLocation(options.chartRepository, chart.metadata.name, chart.metadata.version);
  const artifact = buildChartArtifact(chart);
  log.info(`pushing chart ${chart.metadata.name} ${chart.metadata.version} to oci://${host}/${repository}:${tag}`);
  await target.pushBlob(repository, artifact.config, HELM_CONFIG_MEDIA_TYPE);
  await target.pushBlob(repository, artifact.layer, HELM_CHART_LAYER_MEDIA_TYPE);
  const digest = await target.putManifest(repository, tag, artifact.manifest, OCI_MANIFEST_MEDIA_TYPE);
  if (digest !== artifact.manifestDigest) {
    throw new ChartError(
      `push ${host}/${repository}:${tag}: the registry reports manifest digest ${digest}, but the manifest sent is ${artifact.manifestDigest}`,
    );
  }
  const ociRepository = `oci://${host}/${repository}`;
  const chartReference = `${ociRepository}@${digest}`;
  log.info(`pushed ${chartReference}`);
  return { chartReference, chartDigest: digest, taggedReference: `${host}/${repository}:${tag}`, ociRepository, repository, tag };
}
