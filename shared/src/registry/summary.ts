// PromoteImage's run summary: what was promoted where, by which digest, with how much of what is attached to it, and
// what it cost the registries. Pure, so the page a person reads is tested without an agent.
import { code, plural, table } from '../markdown';
import type { PromoteImageResult } from './promote';
import type { PromoteReleaseResult } from './release';

function traffic(result: Pick<PromoteImageResult, 'requests' | 'writes' | 'blobBytes'>): string {
  return `${result.requests} registry requests, ${result.writes} writes, ${result.blobBytes} blob bytes uploaded`;
}

/** The summary of one image's promotion. */
export function imagePromotionSummary(result: PromoteImageResult): { title: string; markdown: string } {
  const rows: string[][] = [
    ['Promoted', code(result.promotedImage)],
    ['Tags', result.tags.map((tag) => code(tag)).join(', ')],
    ['Written now', result.tagsWritten.length ? result.tagsWritten.map((tag) => code(tag)).join(', ') : 'nothing (already promoted)'],
    ['Blobs', `${result.blobsMounted} mounted, ${result.blobsCopied} streamed`],
    ['Referrers', `${result.referrersCopied} copied of ${result.referrersFound} found`],
  ];
  return {
    title: `Promoted ${result.targetRepository.split('/').pop()} ${result.tags[0]}`,
    markdown: `${table(['', result.targetRepository], rows)}\n\n${traffic(result)}.\n`,
  };
}

/** The summary of a lock file's promotion: one row per entry, and where the promoted lock file went. */
export function releasePromotionSummary(
  result: PromoteReleaseResult,
  lock: { file: string; artifactName?: string },
): { title: string; markdown: string } {
  const rows = result.entries.map(({ source, promoted, outputName, outcome }) => [
    source.kind === 'chart' ? `chart ${code(`${source.name} ${source.version}`)}` : 'image',
    code(promoted.pinnedReference),
    outcome.tags.map((tag) => code(tag)).join(', '),
    outcome.tagsWritten.length || outcome.referrersCopied ? `${plural(outcome.tagsWritten.length, 'tag')} written` : 'already promoted',
    `${outcome.referrersCopied} of ${outcome.referrersFound}`,
    code(outputName),
  ]);
  const charts = result.entries.filter((e) => e.source.kind === 'chart').length;
  const images = result.entries.length - charts;
  const parts = [
    table(['Kind', 'Promoted', 'Tags', 'This run', { header: 'Referrers copied', align: 'right' }, 'Output variable'], rows),
    `${plural(result.tagsWritten, 'tag')} written, ${plural(result.blobsMounted, 'blob')} mounted, ${result.blobsCopied} streamed, ` +
      `${plural(result.referrersCopied, 'referrer')} copied of ${result.referrersFound} found; ${traffic(result)}.`,
    `Promoted lock file: ${code(lock.file)}${lock.artifactName ? `, published as artifact ${code(lock.artifactName)}` : ''}.`,
  ];
  if (charts > 0) {
    parts.push(
      'A promoted chart keeps its bytes and digest, so the image repository in its values is still the CI one: ' +
        'deploy it with the image repository set to the promoted one (the digest is the same).',
    );
  }
  return {
    title: `Promoted ${[images ? plural(images, 'image') : '', charts ? plural(charts, 'chart') : ''].filter(Boolean).join(' and ')}`,
    markdown: `${parts.join('\n\n')}\n`,
  };
}
