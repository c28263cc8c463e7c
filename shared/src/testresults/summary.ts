import { addCounts, emptyCounts, FORMAT_LABELS, outcomeClass, type ResultCounts, type ResultFormat, type TestResult } from './model';
import { firstLine } from './reader';
import { CELL_MAX_CHARS, escapeCell, formatDuration, plural, table, type Column } from '../markdown';

/** How many failed tests the Markdown summary lists (the rest are counted). */
export const SUMMARY_MAX_FAILURES = 50;
/** How many flaky tests it names (the rest are counted). */
export const SUMMARY_MAX_FLAKY = 50;
/** How many of the slowest tests it lists. */
export const SUMMARY_MAX_SLOWEST = 10;

interface FailedTest {
  name: string;
  message?: string;
}

interface TimedTest {
  name: string;
  durationMs: number;
}

export interface FileSummary {
  file: string;
  format?: ResultFormat;
  counts?: ResultCounts;
  /** Tests that failed, then passed on a rerun (counted as passed). */
  flaky?: number;
  /** Why the file was not published. */
  problem?: string;
}

/**
 * Collects, within fixed bounds, what the run summary shows: totals, the first failures, the slowest tests.
 * One collector per file; `merge` folds a file's collector into the run's once the file is known to be good.
 */
export class SummaryCollector {
  readonly counts = emptyCounts();
  durationMs = 0;
  failed: FailedTest[] = [];
  failedCount = 0;
  /** Names of the first flaky tests, and how many there were. */
  flaky: string[] = [];
  flakyCount = 0;
  slowest: TimedTest[] = [];
  readonly files: FileSummary[] = [];

  add(result: TestResult): void {
    this.counts.total++;
    this.counts[outcomeClass(result.outcome)]++;
    const duration = result.durationMs ?? 0;
    this.durationMs += duration;
    if (outcomeClass(result.outcome) === 'failed') {
      this.failedCount++;
      if (this.failed.length < SUMMARY_MAX_FAILURES) {
        this.failed.push({ name: result.fullName, message: firstLine(result.errorMessage ?? result.stackTrace) });
      }
    }
    if (result.flaky) {
      this.flakyCount++;
      if (this.flaky.length < SUMMARY_MAX_FLAKY) this.flaky.push(result.fullName);
    }
    if (duration > 0) this.noteDuration({ name: result.fullName, durationMs: duration });
  }

  private noteDuration(test: TimedTest): void {
    const list = this.slowest;
    if (list.length === SUMMARY_MAX_SLOWEST && test.durationMs <= list[list.length - 1].durationMs) return;
    let at = list.length;
    while (at > 0 && list[at - 1].durationMs < test.durationMs) at--;
    list.splice(at, 0, test);
    if (list.length > SUMMARY_MAX_SLOWEST) list.pop();
  }

  merge(other: SummaryCollector): void {
    addCounts(this.counts, other.counts);
    this.durationMs += other.durationMs;
    this.failedCount += other.failedCount;
    for (const failure of other.failed) {
      if (this.failed.length >= SUMMARY_MAX_FAILURES) break;
      this.failed.push(failure);
    }
    this.flakyCount += other.flakyCount;
    for (const name of other.flaky) if (this.flaky.length < SUMMARY_MAX_FLAKY) this.flaky.push(name);
    for (const test of other.slowest) this.noteDuration(test);
  }
}

const COUNT_COLUMNS: Column[] = ['Total', 'Passed', 'Failed', 'Skipped', 'Other'].map((header) => ({ header, align: 'right' }));

function passRate(counts: ResultCounts): string {
  const ran = counts.total - counts.skipped;
  return ran > 0 ? `${((100 * counts.passed) / ran).toFixed(1)} %` : '–';
}

export interface SummaryOptions {
  title: string;
  /** Shown when no file matched. */
  notice?: string;
  /** Names shown for files (relative to the search folder). */
  display?: (file: string) => string;
}

/** The run summary attached to the build with `task.uploadsummary`. */
export function summaryMarkdown(summary: SummaryCollector, options: SummaryOptions): string {
  const c = summary.counts;
  const display = options.display ?? ((f: string) => f);
  const lines = [`## ${escapeCell(options.title)}`, ''];
  if (options.notice) lines.push(escapeCell(options.notice), '');
  lines.push(
    table(
      [...COUNT_COLUMNS, { header: 'Pass rate', align: 'right' }, { header: 'Duration', align: 'right' }],
      [[c.total, c.passed, c.failed, c.skipped, c.other].map(String).concat(passRate(c), formatDuration(summary.durationMs))],
    ),
    '',
  );
  if (summary.failedCount > 0) {
    const shown = summary.failed.length;
    lines.push(
      shown < summary.failedCount ? `### Failed tests (first ${shown} of ${summary.failedCount})` : '### Failed tests',
      '',
      table(
        ['Test', 'Message'],
        summary.failed.map((f) => [escapeCell(f.name), escapeCell(f.message)]),
      ),
      '',
    );
  }
  if (summary.flakyCount > 0) {
    const shown = summary.flaky.length;
    lines.push(
      shown < summary.flakyCount ? `### Flaky tests (first ${shown} of ${summary.flakyCount})` : '### Flaky tests',
      '',
      flakyLine(summary.flakyCount),
      '',
      table(
        ['Test'],
        summary.flaky.map((name) => [escapeCell(name)]),
      ),
      '',
    );
  }
  if (summary.slowest.length > 0) {
    lines.push(
      '### Slowest tests',
      '',
      table(
        ['Test', { header: 'Duration', align: 'right' }],
        summary.slowest.map((t) => [escapeCell(t.name), formatDuration(t.durationMs)]),
      ),
      '',
    );
  }
  if (summary.files.length > 0) {
    const rows = summary.files.map((f) =>
      f.problem
        ? [escapeCell(display(f.file)), `not published: ${escapeCell(f.problem)}`]
        : [
            escapeCell(display(f.file)),
            f.format ? FORMAT_LABELS[f.format] : '',
            ...[f.counts!.total, f.counts!.passed, f.counts!.failed, f.counts!.skipped, f.counts!.other].map(String),
          ],
    );
    lines.push('### Result files', '', table(['File', 'Format', ...COUNT_COLUMNS], rows), '');
  }
  return lines.join('\n');
}

/** The line that counts flaky tests, in the log and the Markdown summary. */
export function flakyLine(count: number): string {
  return `${plural(count, 'flaky test')}: failed, then passed on a rerun (counted as passed)`;
}

/** The short table printed in the task's log. */
export function summaryTable(summary: SummaryCollector, display: (file: string) => string = (f) => f): string[] {
  const header = ['Total', 'Passed', 'Failed', 'Skipped', 'Other'];
  const rows: string[][] = [];
  for (const f of summary.files) {
    if (f.counts)
      rows.push([
        String(f.counts.total),
        String(f.counts.passed),
        String(f.counts.failed),
        String(f.counts.skipped),
        String(f.counts.other),
        display(f.file),
      ]);
    else rows.push(['-', '-', '-', '-', '-', `${display(f.file)} (not published)`]);
  }
  const c = summary.counts;
  rows.push([String(c.total), String(c.passed), String(c.failed), String(c.skipped), String(c.other), 'all files']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[], last: string) => `${cells.map((v, i) => v.padStart(widths[i])).join('  ')}  ${last}`;
  const out = [line(header, 'File')];
  for (const row of rows) out.push(line(row.slice(0, 5), row[5]));
  if (summary.flakyCount > 0) {
    out.push(`${flakyLine(summary.flakyCount)}:`);
    for (const name of summary.flaky.slice(0, 10)) out.push(`  ${name}`);
    if (summary.flakyCount > 10) out.push(`  … and ${summary.flakyCount - 10} more (see the run summary)`);
  }
  if (summary.failedCount > 0) {
    out.push(`Failed tests (${summary.failedCount}):`);
    for (const f of summary.failed.slice(0, 10)) out.push(`  ${f.name}${f.message ? `: ${f.message.slice(0, CELL_MAX_CHARS)}` : ''}`);
    if (summary.failedCount > 10) out.push(`  … and ${summary.failedCount - 10} more (see the run summary)`);
  }
  return out;
}
