import * as path from 'node:path';
import type { Log } from '../log';
import {
  loadAttachment,
  MAX_ATTACHMENT_BYTES,
  MAX_ATTACHMENTS_PER_RUN,
  MAX_CONSOLE_LOGS_PER_RUN,
  mib,
} from './attachments';
import {
  addCounts,
  emptyCounts,
  FORMAT_LABELS,
  formatsFor,
  outcomeClass,
  type AttachmentRef,
  type FormatChoice,
  type ResultCounts,
  type ResultFormat,
  type TestResult,
} from './model';
import { displayPath, readResultFile, ResultFileError, scanResultFile, type ParsedFile } from './parse';
import type { TestRunPublisher, TestRunSession, TestRunSpec } from './publisher';
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
  limits?: Partial<ResultLimits>;
  signal?: AbortSignal;
}

/** A file and what became of it: its format and counts, or why it was not published. */
export type PublishedFile = FileSummary;

export interface PublishTestResultsResult {
  /** Totals over the published files (the task's outputs). */
  counts: ResultCounts;
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
    `output ${mib(limits.maxOutputBytes)}, names ${limits.maxNameChars} characters) were cut`
  );
}

function defaultTitle(files: ParsedFile[], merged: boolean, display: (f: string) => string): string {
  const labels = [...new Set(files.map((f) => FORMAT_LABELS[f.format]))];
  if (merged) return labels.length === 1 ? `${labels[0]} test results` : 'Test results';
  const only = files[0];
  return only.run.name ?? `${FORMAT_LABELS[only.format]} test results: ${display(only.file)}`;
}

/**
 * Publishes result files as test runs of the build. Each file is first read through on its own (counted,
 * summarised, checked): a file that is not a good result file is a warning and an issue, and none of it is
 * published; the others are. Then each run is created, filled in batches (never a whole file in memory),
 * given its attachments and completed. Errors from the service end the run as aborted and are thrown.
 */
export async function publishTestResults(
  options: PublishTestResultsOptions,
  publisher: TestRunPublisher,
  log: Log,
): Promise<PublishTestResultsResult> {
  const limits: ResultLimits = { ...DEFAULT_RESULT_LIMITS, ...options.limits };
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
      runIds: [],
      files,
      summaryMarkdown: summaryMarkdown(summary, { title: options.runTitle ?? 'Test results', notice: message }),
      issues,
      failure: options.failOnMissingFiles ? `${message} (failTaskOnMissingResultsFile is true)` : undefined,
    };
  }

  // Pass 1: read every file through, keeping only counts and bounded summary data.
  const good: ParsedFile[] = [];
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
      const parsed = await scanResultFile(file, (r) => fileSummary.add(r), { formats, limits, signal: options.signal });
      summary.merge(fileSummary);
      good.push(parsed);
      files.push({ file, format: parsed.format, counts: parsed.counts });
      const cut = describeTruncation(parsed.truncated, limits);
      if (cut) warnIssue(`result file '${display(file)}': ${cut}`);
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
    let title = options.runTitle || defaultTitle(parsedFiles, merge, display);
    if (options.runTitle && !merge && good.length > 1) title = `${options.runTitle} (${display(parsedFiles[0].file)})`;
    const spec: TestRunSpec = {
      title,
      formats: [...new Set(parsedFiles.map((p) => p.format))],
      files: parsedFiles.map((p) => p.file),
      merged: merge,
      buildPlatform: options.buildPlatform || undefined,
      buildConfiguration: options.buildConfiguration || undefined,
      startedDate: parsedFiles.map((p) => p.run.startedDate).filter(Boolean).sort()[0],
      publishAttachments: attach,
    };
    const runCounts = emptyCounts();
    for (const p of parsedFiles) addCounts(runCounts, p.counts);
    const session = await publisher.startRun(spec);
    try {
      if (!publisher.readsFiles) await fillRun(session, parsedFiles);
      await session.complete(runCounts);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
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
  const title = options.runTitle || (good.length > 0 ? defaultTitle(good, true, display) : 'Test results');
  const failure =
    options.failOnFailedTests && counts.failed > 0
      ? `${counts.failed} of ${counts.total} tests failed (failTaskOnFailedTests is true)`
      : undefined;
  return { counts, runIds, files, summaryMarkdown: summaryMarkdown(summary, { title, display }), issues, failure };

  async function fillRun(session: TestRunSession, parsedFiles: ParsedFile[]): Promise<void> {
    let attachments = 0;
    let consoleLogs = 0;
    let consoleLogsSkipped = 0;
    const attachFile = async (ref: AttachmentRef | string, root: string, owner: string, upload: (bytes: Buffer, name: string) => Promise<void>) => {
      const name = typeof ref === 'string' ? path.basename(ref) : path.basename(ref.name.replace(/\\/g, '/'));
      const shown = typeof ref === 'string' ? display(ref) : ref.name;
      if (attachments >= MAX_ATTACHMENTS_PER_RUN) {
        log.warn(`attachment '${shown}' of ${owner} was not attached: the run already has ${MAX_ATTACHMENTS_PER_RUN} attachments`);
        return;
      }
      const loaded = await loadAttachment(ref, root, MAX_ATTACHMENT_BYTES);
      if (!loaded.ok) {
        log.warn(`attachment '${shown}' of ${owner} was not attached: it ${loaded.reason}`);
        return;
      }
      attachments++;
      await upload(loaded.bytes, name);
    };

    for (const parsed of parsedFiles) {
      const root = options.searchFolder ?? path.dirname(parsed.file);
      const owner = `'${display(parsed.file)}'`;
      await readResultFile(
        parsed.file,
        async (batch: TestResult[]) => {
          const ids = await session.addResults(batch, parsed.format);
          if (!attach || !ids) return;
          for (let i = 0; i < batch.length; i++) {
            const result = batch[i];
            const id = ids[i];
            if (id === undefined || id < 0) continue;
            for (const ref of result.attachments ?? []) {
              await attachFile(ref, root, `test '${result.fullName}'`, (bytes, fileName) =>
                session.addResultAttachment(id, { fileName, bytes, kind: 'GeneralAttachment' }),
              );
            }
            const output = [result.stdout, result.stderr && `--- stderr ---\n${result.stderr}`].filter(Boolean).join('\n');
            if (output && outcomeClass(result.outcome) === 'failed') {
              if (consoleLogs >= MAX_CONSOLE_LOGS_PER_RUN) consoleLogsSkipped++;
              else {
                consoleLogs++;
                await session.addResultAttachment(id, {
                  fileName: 'Standard_Console_Output.log',
                  bytes: Buffer.from(output, 'utf8'),
                  kind: 'ConsoleLog',
                });
              }
            }
          }
        },
        { formats: [parsed.format], limits, trxDefinitions: parsed.trxDefinitions, signal: options.signal },
      ).catch((error: unknown) => {
        // The file parsed in pass 1; failing now means it changed meanwhile. The run cannot be half right.
        if (error instanceof ResultFileError) throw new Error(`${error.message} (it changed while it was published)`);
        throw error;
      });
      if (!attach) continue;
      await attachFile(parsed.file, path.dirname(parsed.file), owner, (bytes, fileName) =>
        session.addRunAttachment({ fileName, bytes, kind: 'GeneralAttachment', comment: `${FORMAT_LABELS[parsed.format]} result file` }),
      );
      for (const ref of parsed.run.attachments) {
        const coverage = /\.(coverage|cobertura\.xml)$/i.test(ref.name);
        await attachFile(ref, root, owner, (bytes, fileName) =>
          session.addRunAttachment({ fileName, bytes, kind: coverage ? 'CodeCoverage' : 'GeneralAttachment' }),
        );
      }
    }
    if (consoleLogsSkipped > 0) {
      log.warn(
        `the console output of ${consoleLogsSkipped} more failed tests was not attached (at most ${MAX_CONSOLE_LOGS_PER_RUN} per run)`,
      );
    }
  }
}
