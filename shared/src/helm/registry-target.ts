import type { Log } from '../log';
import { InvalidReferenceError, parseRepository, printable, sameRegistry } from '../reference/reference';
import { repositoryScope } from '../registry/auth';
import { pushBlob } from '../registry/blob';
import type { RegistryLogin, TransportOptions } from '../registry/clients';
import { RegistryError, withContext } from '../registry/errors';
import { putManifest } from '../registry/manifest';
import { RegistryClient } from '../registry/transport';
import { recordPushed, type LockedChart, type PinnedImage } from '../release';
import { ChartError, optionError } from './errors';
import {
  chartPushLocation,
  OCI_MANIFEST_MEDIA_TYPE,
  pushChart,
  type ChartPushResult,
  type ChartPushTarget,
  type PushableChart,
} from './push';

/*
 * pushChart over the product's registry client: auth (anonymous, Basic, Bearer), bounded retries, and every write
 * verified by digest (the blob upload by the registry's Docker-Content-Digest, the manifest PUT by the digest of
 * the bytes sent, which pushChart checks once more).
 */

/** A ChartPushTarget that writes through `client` (one registry host). */
export function registryChartTarget(client: RegistryClient): ChartPushTarget {
  return {
    async pushBlob(repository, bytes) {
      await pushBlob(client, repository, bytes);
    },
    putManifest: (repository, tag, bytes, mediaType) => putManifest(client, repository, tag, bytes, mediaType),
  };
}

/** The rule of references: a first segment with `.` or `:`, or `localhost`, is a registry host. */
function namesHost(text: string): boolean {
  const first = text.split('/')[0];
  return first.includes('.') || first.includes(':') || first.toLowerCase() === 'localhost';
}

/**
 * Normalises the `chartRepository` input to `host/path` (no `oci://`, no trailing `/`). Without a host in the
 * text, the host of the service connection is used (`helm` → `myacr.azurecr.io/helm`). Throws a ChartError blaming
 * chartRepository when it is empty, has no host to go to, or is not a valid repository path.
 */
export function resolveChartRepository(value: string, connectionHost?: string): string {
  const given = value.trim();
  const text = given.replace(/^oci:\/\//i, '').replace(/\/+$/, '');
  if (!text) throw optionError('chartRepository', 'is required to push: host/path, e.g. myacr.azurecr.io/helm');
  const shown = printable(given);
  let full = text;
  if (!namesHost(text)) {
    if (!connectionHost) {
      throw optionError(
        'chartRepository',
        `is '${shown}', which names no registry host: write host/path (e.g. myacr.azurecr.io/${printable(text)}) or set containerRegistry`,
      );
    }
    full = `${connectionHost}/${text}`;
  }
  if (!full.includes('/')) throw optionError('chartRepository', `is '${shown}', which is not host/path (e.g. myacr.azurecr.io/helm)`);
  try {
    // The chart name is appended to the path; a placeholder stands in for it so Docker Hub's `library/` rule stays out.
    parseRepository(`${full}/chart`);
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : (error as Error).message;
    throw optionError('chartRepository', `is '${shown}', which is not a registry repository (${printable(reason)})`);
  }
  return full;
}

/** Options of `pushChartToRegistry`. */
export interface PushChartToRegistryOptions {
  /** `host/path` (see `resolveChartRepository`). */
  chartRepository: string;
  /** Credentials of the service connection; used when their host is the chart repository's host. */
  login?: RegistryLogin;
  /** Retry policy, fetch, timeouts, abort signal. */
  transport?: TransportOptions;
  /** The lock file the pushed chart is recorded in, beside the images; without it nothing is recorded. */
  lockFile?: string;
  /** The pipeline facts the record carries. */
  record?: Pick<LockedChart, 'buildId' | 'sourceVersion'>;
}

/** A packaged chart to push, with the image digests its values pin (recorded with it in the lock file). */
export type PushableChartWithImages = PushableChart & { pinnedImages?: PinnedImage[] };

/**
 * Pushes a packaged chart to `oci://<chartRepository>/<name>:<version>` with the registry layer and returns the
 * reference pinned by the registry's manifest digest; with `lockFile`, records it there (kind `chart`, with the image
 * digests it pins). Errors say what was pushed where (`push chart oci://host/path/name:1.4.0: 401 UNAUTHORIZED: …`)
 * and blame `login` or `chartRepository`; a record that fails after the push says exactly what was pushed.
 */
export async function pushChartToRegistry(
  chart: PushableChartWithImages,
  options: PushChartToRegistryOptions,
  log: Log,
): Promise<ChartPushResult> {
  const { host, repository, tag } = chartPushLocation(options.chartRepository, chart.metadata.name, chart.metadata.version);
  const label = options.login?.label ?? "input 'containerRegistry'";
  const login = options.login && sameRegistry(options.login.host, host) ? options.login : undefined;
  if (options.login && !login) {
    log.warn(`${label} is for ${options.login.host}, but the chart goes to ${host}: its credentials are not used`);
  }
  const client = new RegistryClient({
    ...options.transport,
    registry: host,
    credentials: login?.credentials,
    credentialsLabel: label,
    acr: login?.acr,
    log,
  });
  // One token for the whole push: blob checks, uploads and the manifest.
  client.declareScopes([repositoryScope(repository, ['pull', 'push'])]);
  let pushed: ChartPushResult;
  try {
    pushed = await pushChart(registryChartTarget(client), chart, { chartRepository: options.chartRepository }, log);
  } catch (error) {
    if (error instanceof ChartError) throw error;
    throw blamePush(
      withContext(error, `push chart oci://${host}/${repository}:${tag}`),
      options.chartRepository,
      host,
      login !== undefined,
    );
  }
  if (options.lockFile) recordChart(options.lockFile, chart, pushed, options.record, log);
  return pushed;
}

/** Merges the pushed chart into the lock file; the push is done, so a failure says exactly what was pushed. */
function recordChart(
  lockFile: string,
  chart: PushableChartWithImages,
  pushed: ChartPushResult,
  record: PushChartToRegistryOptions['record'],
  log: Log,
): void {
  const entry: Omit<LockedChart, 'pushedAt'> = {
    kind: 'chart',
    repository: pushed.ociRepository,
    name: chart.metadata.name,
    version: chart.metadata.version,
    tags: [pushed.tag],
    digest: pushed.chartDigest,
    pinnedReference: pushed.chartReference,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    images: chart.pinnedImages ?? [],
    ...record,
  };
  recordPushed(lockFile, entry, `oci://${pushed.taggedReference}`, log);
}

/**
 * A refused push is the login's fault (its credentials, or none where the registry needs some); any other failure
 * (no answer, an unknown repository, a server error) is blamed on where the chart was sent. The registry's own words
 * follow as the reason.
 */
function blamePush(error: Error, chartRepository: string, host: string, withLogin: boolean): ChartError {
  const refused =
    error instanceof RegistryError && (error.status === 401 || error.status === 403 || ['UNAUTHORIZED', 'DENIED'].includes(error.code));
  if (refused && withLogin) return optionError('login', `holds credentials that ${host} refused: ${error.message}`, error);
  if (refused) return optionError('login', `gives no credentials for ${host}, which refused the push: ${error.message}`, error);
  return optionError('chartRepository', `is '${printable(chartRepository)}', where the chart could not be pushed: ${error.message}`, error);
}
