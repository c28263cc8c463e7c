import * as path from 'node:path';
import type { Log } from '../log';
import { mib } from './attachments';
import { addCounts, emptyCounts, FORMAT_LABELS, formatsFor, type FormatChoice, type ResultCounts, type RuleSet } from './model';
import { displayPath, ResultFileError, scanResultFile, type ParsedFile } from './parse';
import { postRun } from './post';
import type { PipelineNode, RunOrigin, TestRunPublisher, TestRunSpec } from './publisher';
import { DEFAULT_RESULT_LIMITS, type ResultLimits } from './reader';
import { SummaryCollector, summaryMarkdown, summaryTable, type FileSummary } from './summary';

export interface PublishTestResultsOptions {
  /** Result files, already resolved from the patterns (absolute paths). */
  files: string[];
  /** `testResultsFormat` (default `auto`). */
  format?: FormatChoice;
  /** One run for all files (default) or one run per file. */
  mergeResults?: boolean;
  runTitle?: string;
  buildPlatform?: string;
  buildConfiguration?: string;
  failOnFailedTests?: boolean;
  failOnMissingFiles?: boolean;
  /** Attach the result files and the files they point to (default true). */
  publishRunAttachments?: boolean;
  /**
   * The folder the files were found in: messages name files relative to it, and attachments named inside result
   * files must lie within it (default: each result file's own folder).
   */
  searchFolder?: string;
  /** The patterns that were searched, for the "nothing matched" message. */
  patterns?: string[];
  /** Where the runs come from (build, stage, phase, job): api mode's pipeline reference and the default title. */
  origin?: RunOrigin;
  limits?: Partial<ResultLimits>;
  signal?: AbortSignal;
}

/** A file and what became of it: its format and counts, or why it was not published. */
export type PublishedFile = FileSummary;

export interface PublishTestResultsResult {
  /** Totals over the published files (the task's outputs). */
  counts: ResultCounts;
  /** Tests that failed, then passed on a rerun (counted as passed). */
  flaky: number;
  /** Ids of the runs created (api mode; the agent's runs are not known to the task). */
  runIds: number[];
  files: PublishedFile[];
  /** For `task.uploadsummary`. */
  summaryMarkdown: string;
  /** Lines that end the task SucceededWithIssues (each was also logged as a warning). */
  issues: string[];
  /** Set when the task must fail (failed tests or no files, as the options ask); outputs are still valid. */
  failure?: string;
}

function describeTruncation(truncated: Record<string, number>, limits: ResultLimits): string | undefined {
  const kinds = Object.entries(truncated);
  if (kinds.length === 0) return undefined;
  const what = kinds.map(([kind, n]) => `${n} ${kind}${n === 1 ? '' : 's'}`).join(', ');
  return (
    `${what} longer than the caps (messages ${mib(limits.maxMessageBytes)}, stack traces ${mib(limits.maxStackTraceBytes)}, ` +
    `output ${mib(limits.maxOutputBytes)}, names ${limits.maxNameChars} characters, sub-results 1000 a level, 3 levels deep, ` +
    `${mib(limits.maxSubResultTextBytes)} of text a test) were cut`
  );
}

/** A stage or job as a person knows it; the agent calls an unnamed one `__default`. */
function shown(node: PipelineNode | undefined): string | undefined {
  if (!node || node.name === '__default') return undefined;
  return node.displayName || node.name;
}

/** `(Build › Linux)`: where a run came from, for its title. */
function originSuffix(origin: RunOrigin | undefined): string {
  const parts = [shown(origin?.stage), shown(origin?.job)].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(' › ')})` : '';
}

/** A title a person can read in the Tests tab when testRunTitle is empty: the format, the file, stage and job. */
function defaultTitle(files: ParsedFile[], merged: boolean, display: (f: string) => string, origin: RunOrigin | undefined): string {
  const labels = [...new Set(files.map((f) => FORMAT_LABELS[f.format]))];
  const where = originSuffix(origin);
  if (merged) return `${labels.length === 1 ? `${labels[0]} test results` : 'Test results'}${where}`;
  const only = files[0];
  return `${only.run.name ?? `${FORMAT_LABELS[only.format]} test results: ${display(only.file)}`}${where}`;
}

/**
 * Publishes result files as test runs of the build. Each file is first read through on its own (checked, and
 * under the agent's rules counted): a file that is not a good result file is a warning and an issue, and none of it
 * is published; the others are. Then each run is created and, in api mode, filled in batches (never a whole file in
 * memory), given its attachments and completed; in agent mode the agent is handed the files. A service error or a
 * cancel ends the run Aborted with the reason, and is thrown.
 */
export async function publishTestResults(
  options: PublishTestResultsOptions,
  publisher: TestRunPublisher,
  log: Log,
): Promise<PublishTestResultsResult> {
  const limits: ResultLimits = { ...DEFAULT_RESULT_LIMITS, ...options.limits };
  const rules: RuleSet = publisher.mode;
  const formats = formatsFor(options.format ?? 'auto');
  const merge = options.mergeResults ?? true;
  const attach = options.publishRunAttachments ?? true;
  const display = (file: string) => displayPath(file, options.searchFolder);
  const issues: string[] = [];
  const summary = new SummaryCollector();
  const files: PublishedFile[] = summary.files;
  const warnIssue = (line: string) => {
    log.warn(line);
    issues.push(line);
  };

  if (options.files.length === 0) {
    const where = options.searchFolder ? ` in '${options.searchFolder}'` : '';
    const patterns = options.patterns?.length ? ` matched ${options.patterns.map((p) => `'${p}'`).join(', ')}` : ' matched';
    const message = `no test result files${patterns}${where}`;
    if (!options.failOnMissingFiles) log.warn(message);
    return {
      counts: emptyCounts(),
      flaky: 0,
      runIds: [],
      files,
      summaryMarkdown: summaryMarkdown(summary, { title: options.runTitle ?? 'Test results', notice: message }),
      issues,
      failure: options.failOnMissingFiles ? `${message} (failTaskOnMissingResultsFile is true)` : undefined,
    };
  }

  // Pass 1: read every file through, keeping only counts and bounded data. In agent mode this is what the agent will
  // publish, so it is also the summary; in api mode the summary is what the second pass posts.
  const good: ParsedFile[] = [];
  const entries = new Map<string, PublishedFile>();
  for (const file of options.files) {
    options.signal?.throwIfAborted();
    const refused = publisher.refuses?.(file);
    if (refused) {
      warnIssue(`result file '${display(file)}' ${refused}; it was not published`);
      files.push({ file, problem: refused });
      continue;
    }
    const fileSummary = new SummaryCollector();
    try {
      const parsed = await scanResultFile(file, (r) => fileSummary.add(r), { rules, formats, limits, signal: options.signal });
      if (parsed.run.unread) {
        warnIssue(`result file '${display(file)}' ${parsed.run.unread}; nothing of it was published`);
        files.push({ file, problem: parsed.run.unread });
        continue;
      }
      good.push(parsed);
      const entry: PublishedFile = { file, format: parsed.format, counts: parsed.counts, flaky: parsed.flaky };
      files.push(entry);
      entries.set(file, entry);
      if (publisher.readsFiles) summary.merge(fileSummary);
      const cut = describeTruncation(parsed.truncated, limits);
      if (cut) warnIssue(`result file '${display(file)}': ${cut}`);
      if (parsed.reruns && parsed.reruns.untracked > 0) {
        warnIssue(
          `result file '${display(file)}' has more distinct tests than reruns are tracked for; the reruns of ${parsed.reruns.untracked} are published as separate results`,
        );
      }
      log.debug(`${display(file)}: ${FORMAT_LABELS[parsed.format]}, ${parsed.counts.total} results`);
    } catch (error) {
      if (!(error instanceof ResultFileError)) throw error;
      warnIssue(`result file '${display(file)}' ${error.problem}; it was not published`);
      files.push({ file, problem: error.problem });
    }
  }

  // Runs: all good files in one (agent mode: one per format, as results.publish takes one type), or one each.
  const groups: ParsedFile[][] = [];
  if (merge) {
    const byKey = new Map<string, ParsedFile[]>();
    for (const parsed of good) {
      const key = publisher.readsFiles ? FORMAT_LABELS[parsed.format] : 'all';
      byKey.set(key, [...(byKey.get(key) ?? []), parsed]);
    }
    groups.push(...byKey.values());
  } else {
    for (const parsed of good) groups.push([parsed]);
  }

  const runIds: number[] = [];
  for (const parsedFiles of groups) {
    let title = options.runTitle || defaultTitle(parsedFiles, merge, display, options.origin);
    if (options.runTitle && !merge && good.length > 1) title = `${options.runTitle} (${display(parsedFiles[0].file)})`;
    const spec: TestRunSpec = {
      title,
      formats: [...new Set(parsedFiles.map((p) => p.format))],
      files: parsedFiles.map((p) => p.file),
      merged: merge,
      buildPlatform: options.buildPlatform || undefined,
      buildConfiguration: options.buildConfiguration || undefined,
      startedDate: parsedFiles
        .map((p) => p.run.startedDate)
        .filter(Boolean)
        .sort()[0],
      publishAttachments: attach,
      origin: options.origin,
    };
    const session = await publisher.startRun(spec);
    const runCounts = emptyCounts();
    try {
      let published = parsedFiles;
      if (!publisher.readsFiles) {
        published = await postRun({
          session,
          files: parsedFiles,
          attach,
          rootOf: (file) => options.searchFolder ?? path.dirname(file),
          display,
          limits,
          summary,
          log,
          signal: options.signal,
        });
        // What was posted is what the outputs count (reruns merged into one result each).
        for (const parsed of published) Object.assign(entries.get(parsed.file)!, { counts: parsed.counts, flaky: parsed.flaky });
      }
      for (const p of published) addCounts(runCounts, p.counts);
      options.signal?.throwIfAborted();
      await session.complete(runCounts);
    } catch (error) {
      const reason: unknown = options.signal?.aborted ? options.signal.reason : error;
      const message = reason instanceof Error ? reason.message : String(reason);
      await session.abort(message);
      throw error;
    }
    if (session.runId !== undefined) runIds.push(session.runId);
    log.info(
      `published ${runCounts.total} results from ${parsedFiles.length} file${parsedFiles.length === 1 ? '' : 's'} as ` +
        `${session.runId !== undefined ? `test run ${session.runId}` : 'a test run (the agent publishes it)'} '${title}'`,
    );
  }

  for (const line of summaryTable(summary, display)) log.info(line);
  const counts = summary.counts;
  const title = options.runTitle || (good.length > 0 ? defaultTitle(good, true, display, options.origin) : 'Test results');
  const failure =
    options.failOnFailedTests && counts.failed > 0
      ? `${counts.failed} of ${counts.total} tests failed (failTaskOnFailedTests is true)`
      : undefined;
  return {
    counts,
    flaky: summary.flakyCount,
    runIds,
    files,
    summaryMarkdown: summaryMarkdown(summary, { title, display }),
    issues,
    failure,
  };
}
