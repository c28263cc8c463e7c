// What the Docker verbs did, as the Markdown a task attaches to the run's summary page: one pure function per verb,
// from its result and the options it was given. Values go through the one Markdown helper (../markdown), so an image
// label, a command or a file name renders as what it is.
import { code, codeBlock, escapeCell, formatDuration, link, plural, table } from '../markdown';
import { acrHostProblem, DOCKER_HUB, parseRepository, sameRegistry } from '../reference';
import type { BuildImageOptions, BuiltImage } from './build';
import type { PushedImage } from './push';
import { DEFAULT_RESULTS_PATH, type RunTestsOptions, type TestRunResult } from './run';

/** How many result files a run summary names; the rest are counted. */
const SUMMARY_MAX_RESULT_FILES = 20;

const FACTS = ['What', 'Value'];

/** `n thing` or `n things`. */

/** BuildTestRunner's summary: the image built (id, name, stage), how (builder, cache, time) and its labels. */
export function buildSummary(built: BuiltImage, options: Pick<BuildImageOptions, 'dockerfile' | 'target' | 'labels'>): string {
  const cache =
    built.steps.total > 0 ? `${built.steps.cached} of ${plural(built.steps.total, 'step')} from the cache` : 'no steps reported';
  const facts = [
    ['Image', code(built.imageName)],
    ['Image ID', code(built.imageId)],
    ['Stage', options.target ? code(options.target) : 'the last stage'],
    ['Dockerfile', code(options.dockerfile)],
    ['Builder', built.builder === 'buildkit' ? 'BuildKit' : 'classic builder'],
    ['Cache', cache],
    ['Duration', formatDuration(built.durationMs)],
  ];
  const lines = [`Built ${code(built.imageName)} on this agent's Docker engine.`, '', table(FACTS, facts), ''];
  const labels = Object.entries(options.labels ?? {});
  if (labels.length > 0) {
    lines.push(
      '### Labels',
      '',
      table(
        ['Label', 'Value'],
        labels.map(([key, value]) => [code(key), code(value)]),
      ),
      '',
    );
  }
  return lines.join('\n');
}

/** The outcome as a person reads it; a failure says whether the tests or the run itself failed. */
function outcomeLine(result: TestRunResult): string {
  switch (result.outcome) {
    case 'passed':
      return '**Passed**: the runner exited with code 0.';
    case 'testsFailed':
      return `**Tests failed**: the runner ran and exited with code ${result.exitCode}; this is a test failure, not an infrastructure failure.`;
    case 'couldNotRun':
      if (result.blame) return `**Could not run**: ${code(result.blame.option)} ${escapeCell(result.blame.problem, 500)}`;
      return `**Could not run**: an infrastructure failure, not a test result: ${escapeCell(result.message.replace(/^could not run the tests: /, ''), 500)}`;
  }
}

/**
 * RunContainerTests' summary, for every outcome: the image and command, the exit code, whether the tests or the run
 * failed, and the result files copied out (the first SUMMARY_MAX_RESULT_FILES of them) and where they are.
 */
export function runSummary(result: TestRunResult, options: Pick<RunTestsOptions, 'image' | 'command' | 'resultsPath'>): string {
  const files = result.resultFiles;
  const resultsPath = options.resultsPath || DEFAULT_RESULTS_PATH;
  const facts = [
    ['Image', code(options.image)],
    ['Command', options.command?.length ? code(options.command.join(' ')) : "the image's own"],
    ['Exit code', result.exitCode === undefined ? 'none (the runner did not finish on its own)' : String(result.exitCode)],
    [
      'Results',
      files.length > 0
        ? `${plural(files.length, 'file')} copied from ${code(resultsPath)} to ${code(result.resultsDirectory)}`
        : `none copied from ${code(resultsPath)}`,
    ],
  ];
  const lines = [outcomeLine(result), '', table(FACTS, facts), ''];
  if (files.length > 0) {
    const shown = files.slice(0, SUMMARY_MAX_RESULT_FILES);
    lines.push(
      shown.length < files.length ? `### Result files (first ${shown.length} of ${files.length})` : '### Result files',
      '',
      table(
        ['File'],
        shown.map((file) => [code(file)]),
      ),
      '',
    );
  }
  return lines.join('\n');
}

/**
 * Where a person can look at the pushed image: Docker Hub's tags page; for Azure Container Registry nothing is
 * derivable without the subscription, so the pull command; elsewhere the pinned reference says it all.
 */
function whereToFind(pushed: PushedImage, repository: string): string[] {
  const parsed = parseRepository(repository);
  if (sameRegistry(parsed.registry, DOCKER_HUB)) {
    return [link(`${parsed.repository} on Docker Hub`, `https://hub.docker.com/r/${parsed.repository}/tags`), ''];
  }
  if (acrHostProblem(parsed.registry) === undefined)
    return ['Pull it by digest:', '', codeBlock(`docker pull ${pushed.pinnedImage}`, 'sh'), ''];
  return [];
}

/**
 * PushImageByDigest's summary: the repository, the tags, the digest the registry confirmed and the pinned reference,
 * the lock file it was recorded in and the artifact that carries it, and where to find the image.
 */
export function pushSummary(pushed: PushedImage, options: { repository: string; lockFile: string; artifactName?: string }): string {
  const facts = [
    ['Repository', code(options.repository)],
    ['Tags', pushed.imageTags.map(code).join(', ')],
    ['Digest', code(pushed.digest)],
    ['Pinned reference', code(pushed.pinnedImage)],
    ['Lock file', code(options.lockFile)],
    [
      'Artifact',
      options.artifactName
        ? code(options.artifactName)
        : 'not published (publishLockArtifact is false, or a classic release, which takes no artifacts)',
    ],
  ];
  return [
    `Pushed ${code(pushed.pinnedImage)}; the registry confirmed the digest for every tag.`,
    '',
    table(FACTS, facts),
    '',
    ...whereToFind(pushed, options.repository),
  ].join('\n');
}
