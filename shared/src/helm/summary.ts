// PackageHelmChart's run summary: what was packaged, what the values pin, where the chart went and how to get it
// back. Pure, so the page a person reads is tested without an agent.
import { code, codeBlock, link, table } from '../markdown';
import { canonicalRegistry, DOCKER_HUB } from '../reference/reference';
import type { ChartPackage } from './package';
import type { ChartPushResult } from './push';

export interface ChartSummaryInput {
  chart: Pick<ChartPackage, 'name' | 'version' | 'appVersion' | 'versionSource' | 'packagePath' | 'sha256' | 'pinnedValues'>;
  /** Present when the chart was pushed. */
  pushed?: Pick<ChartPushResult, 'ociRepository' | 'chartReference' | 'chartDigest' | 'tag'>;
  /** The lock file the push was recorded in, and the artifact it was published as. */
  lock?: { file: string; artifactName?: string };
}

const VERSION_SOURCES: Record<ChartPackage['versionSource'], string> = {
  chartVersion: 'from chartVersion',
  branch: 'from the release branch',
  'Chart.yaml': 'from Chart.yaml',
};

/** The web page of a pushed chart, where the registry has one a reference can name (Docker Hub). */
function registryPage(ociRepository: string): string | undefined {
  const [host, ...path] = ociRepository.replace(/^oci:\/\//, '').split('/');
  if (canonicalRegistry(host) !== DOCKER_HUB || path.length !== 2) return undefined;
  return `https://hub.docker.com/r/${path.join('/')}/tags`;
}

/** The summary section's title and Markdown for one run of PackageHelmChart. */
export function chartSummary({ chart, pushed, lock }: ChartSummaryInput): { title: string; markdown: string } {
  const rows: string[][] = [
    ['Version', `${code(chart.version)} (${VERSION_SOURCES[chart.versionSource]})`],
    ...(chart.appVersion ? [['App version', code(chart.appVersion)]] : []),
    ['Package', code(chart.packagePath)],
    ['Package sha256', code(`sha256:${chart.sha256}`)],
    ['Values pinned', chart.pinnedValues.length ? chart.pinnedValues.map(code).join(', ') : 'none'],
  ];
  if (pushed) {
    rows.push(
      ['Pushed', code(`${pushed.ociRepository}:${pushed.tag}`)],
      ['Digest', code(pushed.chartDigest)],
      ['Pinned reference', code(pushed.chartReference)],
    );
  }
  if (lock) rows.push(['Lock file', `${code(lock.file)}${lock.artifactName ? `, published as artifact ${code(lock.artifactName)}` : ''}`]);

  const parts = [table(['Chart', chart.name], rows)];
  if (pushed) {
    parts.push('Pull it (by version, or by digest):', codeBlock(pullCommands(pushed, chart.version), 'sh'));
    const page = registryPage(pushed.ociRepository);
    if (page) parts.push(link(`${chart.name} on Docker Hub`, page));
  } else {
    parts.push('Not pushed (push is false).');
  }
  return { title: `Helm chart ${chart.name} ${chart.version}`, markdown: `${parts.join('\n\n')}\n` };
}

function pullCommands(pushed: NonNullable<ChartSummaryInput['pushed']>, version: string): string {
  return [`helm pull ${pushed.ociRepository} --version ${version}`, `helm pull ${pushed.chartReference}`].join('\n');
}
