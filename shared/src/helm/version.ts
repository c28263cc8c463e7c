// Chart versions. SemVer 2 is checked by `semver` (node-semver, which also evaluates dependency constraints in
// ./dependencies.ts; only the functions used are loaded, as semver's README suggests, and only when first called: a
// start that stops at its inputs never needs them, and the bundle keeps semver in its own lib/ file);
// helm's own, looser grammar has no node-semver equivalent, so it stays one regular expression.
import type { Log } from '../log';
import { printable } from '../reference/reference';
import { ChartError, optionError } from './errors';

/**
 * What helm itself accepts as a chart version (Masterminds/semver `NewVersion`, non-strict: `1.2`, `v1`). Charts
 * that pass this but not SemVer 2 load (as in helm) but are not packaged under that version.
 */
const HELM_LENIENT_VERSION =
  /^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?(\+([0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*))?$/;

/** Whether `version` is a SemVer 2 version, optionally with a leading `v` (as helm and the corpus write it). */
export function isChartSemver(version: string): boolean {
  // node-semver trims white space and drops a leading `v` itself; the text must be the version as written.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, see the top of this file
  const validSemver = require('semver/functions/valid') as typeof import('semver/functions/valid');
  return version === version.trim() && validSemver(version) !== null;
}

/** Whether helm's loader would accept `version` in Chart.yaml. */
export function isHelmVersion(version: string): boolean {
  return HELM_LENIENT_VERSION.test(version);
}

/** The OCI tag helm pushes a chart version under: `+` is not allowed in tags, so it becomes `_`. */
export function ociTag(version: string): string {
  return version.replace(/\+/g, '_');
}

const RELEASE_PREFIX = 'release/';

/**
 * The chart version a source branch names: `release/<service>/<semver>` or `release/<semver>`, with or without
 * `refs/heads/` and with an optional `v` (dropped: `release/v1.4.0` gives `1.4.0`). Returns undefined for a branch
 * outside `release/`; throws for a `release/…` branch whose last segment is not SemVer, blaming the branch.
 */
export function versionFromBranch(branch: string): string | undefined {
  const name = branch.trim().replace(/^refs\/heads\//, '');
  if (!name.startsWith(RELEASE_PREFIX)) return undefined;
  const last = name.slice(name.lastIndexOf('/') + 1);
  const candidate = /^[vV]\d/.test(last) ? last.slice(1) : last;
  if (!isChartSemver(candidate) || candidate.startsWith('v')) {
    throw optionError(
      'branch',
      `is '${printable(branch)}', a release branch whose last segment '${printable(last)}' is not a SemVer version: name it ` +
        `release/<service>/<semver> or release/<semver> (e.g. release/delivery/1.4.0), or set chartVersion`,
    );
  }
  return candidate;
}

export interface ChartVersionChoice {
  version: string;
  /** Where the version came from. */
  source: 'chartVersion' | 'branch' | 'Chart.yaml';
}

/**
 * Picks the version to package: an explicit `chartVersion` wins, then a release branch, then Chart.yaml's own.
 * Every choice must be SemVer 2 (a leading `v` is kept as written).
 */
export function chooseChartVersion(
  chartYamlVersion: string,
  options: { chartVersion?: string; branch?: string },
  log: Log,
): ChartVersionChoice {
  const explicit = options.chartVersion?.trim();
  if (explicit) {
    if (!isChartSemver(explicit)) {
      throw optionError('chartVersion', `is not a SemVer 2 version: '${printable(explicit)}' (e.g. 1.4.0, 1.4.0-rc.1, 1.4.0+build.7)`);
    }
    return { version: explicit, source: 'chartVersion' };
  }
  const branch = options.branch?.trim();
  if (branch) {
    const fromBranch = versionFromBranch(branch);
    if (fromBranch) return { version: fromBranch, source: 'branch' };
    log.info(`branch '${branch}' is not a release branch (release/<service>/<semver>): keeping the Chart.yaml version ${chartYamlVersion}`);
  }
  if (!isChartSemver(chartYamlVersion)) {
    throw new ChartError(
      `Chart.yaml version '${printable(chartYamlVersion)}' is not a SemVer 2 version (e.g. 1.4.0); fix Chart.yaml or set chartVersion`,
    );
  }
  return { version: chartYamlVersion, source: 'Chart.yaml' };
}
