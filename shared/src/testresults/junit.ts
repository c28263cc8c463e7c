import * as path from 'node:path';
import type { AttachmentRef, RunInfo, SubResult, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  clip,
  firstLine,
  isoDate,
  nonEmpty,
  outputBudget,
  rawAttr,
  secondsToMs,
  SubResultBudget,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/** Surefire's rerun children of a testcase: attempts before the final one (`rerunFailingTestsCount`). */
const RERUN_ELEMENTS = new Set(['rerunFailure', 'rerunError', 'flakyFailure', 'flakyError']);

interface Attempt {
  flaky: boolean;
  message?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
  durationMs?: number;
}

interface OpenCase {
  depth: number;
  attrs: XmlAttributes;
  outcome: TestOutcome;
  /** Which problem child set the message: a `failure` wins over an `error` (the agent reads `./failure` first). */
  problem?: 'failure' | 'error';
  message?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
  attempts: Attempt[];
  /** The rerun child being read. */
  attempt?: Attempt;
}

// Jenkins' attachments convention, also written by several JUnit reporters into system-out/err.
const ATTACHMENT_MARK = /\[\[ATTACHMENT\|([^\]\r\n]+)\]\]/g;

/**
 * JUnit XML in its dialects (Ant/Surefire/Gradle, jest-junit, pytest, go-junit-report, PHPUnit, TestNG, mocha), read
 * as the agent's JunitResultReader does: the root `testsuites`' `testsuite` children or a root `testsuite`, then in
 * each suite its child suites and its direct `testcase` children. A `<failure>` or `<error>` child fails a test, a
 * `<skipped>` child skips it. Header counts (`tests=`, `failures=`) are ignored: trimmed files get them wrong.
 * Under the API rules Surefire's rerun children become attempts (sub-results) of the one result.
 */
export function junitReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'junit', attachments: [] };
  const { limits, rules } = ctx;
  /** Per open element: is it a suite the agent reads (so its direct testcases are results)? */
  const suites: { read: boolean; name: string }[] = [];
  let rootName = '';
  let current: OpenCase | undefined;

  return {
    run,
    open(name, attrs, depth) {
      const cur = current;
      if (cur) {
        const attempt = cur.attempt;
        if (attempt && depth === cur.depth + 2) {
          if (name === 'stackTrace') return limits.maxStackTraceBytes;
          if (name === 'system-out' || name === 'system-err') return outputBudget(limits);
          return;
        }
        if (depth !== cur.depth + 1) return;
        switch (name) {
          case 'failure':
          case 'error':
            if (cur.problem === 'failure' || (cur.problem === 'error' && name === 'error')) return;
            cur.outcome = 'Failed';
            cur.problem = name;
            cur.message = clip(ctx, nonEmpty(attrs.message), limits.maxMessageBytes, 'error message');
            cur.stackTrace = undefined;
            return limits.maxStackTraceBytes;
          case 'skipped':
            if (cur.problem) return;
            cur.outcome = 'NotExecuted';
            cur.message = clip(ctx, nonEmpty(attrs.message), limits.maxMessageBytes, 'skip message');
            return limits.maxMessageBytes;
          case 'system-out':
          case 'system-err':
            return outputBudget(limits);
        }
        if (rules === 'api' && RERUN_ELEMENTS.has(name)) {
          cur.attempt = {
            flaky: name.startsWith('flaky'),
            message: clip(ctx, nonEmpty(attrs.message), limits.maxMessageBytes, 'error message'),
            durationMs: secondsToMs(attrs.time),
          };
        }
        return;
      }
      if (depth === 1) rootName = name;
      if (name === 'testsuite') {
        const parent = suites[suites.length - 1];
        // The agent selects /testsuites/testsuite or the root testsuite, then recurses into ./testsuite only.
        const read = depth === 1 || (depth === 2 && rootName === 'testsuites') || (parent?.read === true && depth > 1);
        suites.push({ read, name: attrs.name ?? '' });
        run.startedDate ??= isoDate(attrs.timestamp);
      } else if (name === 'testcase' && suites.length === depth - 1 && suites[suites.length - 1]?.read) {
        current = { depth, attrs, outcome: 'Passed', attempts: [] };
      } else {
        suites.push({ read: false, name: '' });
      }
    },
    close(name, depth, text, truncated) {
      const cur = current;
      if (!cur) {
        suites.pop();
        return;
      }
      if (depth === cur.depth) {
        current = undefined;
        emitCase(cur);
        return;
      }
      const attempt = cur.attempt;
      if (attempt && depth === cur.depth + 1 && RERUN_ELEMENTS.has(name)) {
        cur.attempts.push(attempt);
        cur.attempt = undefined;
        return;
      }
      if (attempt && depth === cur.depth + 2 && text !== undefined) {
        if (truncated) ctx.truncated(name === 'stackTrace' ? 'stack trace' : 'output');
        if (name === 'stackTrace') attempt.stackTrace = nonEmpty(text);
        else if (name === 'system-out') attempt.stdout = nonEmpty(text) && text;
        else if (name === 'system-err') attempt.stderr = nonEmpty(text) && text;
        return;
      }
      if (depth !== cur.depth + 1 || text === undefined) return;
      if ((name === 'failure' || name === 'error') && cur.problem === name && cur.stackTrace === undefined) {
        if (truncated) ctx.truncated('stack trace');
        cur.stackTrace = nonEmpty(text);
      } else if (name === 'skipped' && cur.outcome === 'NotExecuted') {
        if (truncated) ctx.truncated('skip message');
        cur.message ??= nonEmpty(text);
      } else if (name === 'system-out' || name === 'system-err') {
        if (truncated) ctx.truncated('output');
        const key = name === 'system-out' ? 'stdout' : 'stderr';
        cur[key] = cur[key] ? `${cur[key]}\n${text}` : nonEmpty(text) && text;
      }
    },
  };

  function emitCase(cur: OpenCase): void {
    const { attrs } = cur;
    const name = rawAttr(attrs, 'name');
    // The agent drops a testcase without a name; the API rules keep it.
    if (rules === 'agent' && !name) return;
    const title = clip(ctx, nonEmpty(name) ?? '(unnamed test)', limits.maxNameChars, 'test name')!;
    const className = attr(attrs, 'classname');
    const fullName = clip(ctx, className ? `${className}.${title}` : title, limits.maxNameChars, 'test name')!;
    const storage = className ?? nonEmpty(suites[suites.length - 1]?.name) ?? path.basename(ctx.file);
    let errorMessage = cur.message;
    if (cur.outcome === 'Failed' && !errorMessage) errorMessage = firstLine(cur.stackTrace);
    const attempts = rerunAttempts(cur, title);
    ctx.emit({
      title,
      fullName,
      storage: clip(ctx, storage, limits.maxNameChars, 'test name'),
      outcome: cur.outcome,
      durationMs: secondsToMs(attrs.time),
      errorMessage: clip(ctx, errorMessage, limits.maxMessageBytes, 'error message'),
      stackTrace: cur.stackTrace,
      stdout: cur.stdout,
      stderr: cur.stderr,
      attachments: attachmentsIn(cur.stdout, cur.stderr),
      resultGroupType: attempts ? 'Rerun' : undefined,
      subResults: attempts,
      // Failed, then passed on a rerun: only flakyFailure/flakyError say so (a failure stays a failure).
      flaky: attempts !== undefined && cur.outcome === 'Passed' && cur.attempts.some((a) => a.flaky),
    });
  }

  /**
   * Surefire writes the first run as the testcase (its `failure` or none) and each rerun as a child: `flaky*` for
   * the failed runs of a test that passed at last, `rerun*` for the reruns of one that failed every time. As
   * attempts in the order they ran: flaky runs then the final pass; or the first failure then its reruns.
   */
  function rerunAttempts(cur: OpenCase, title: string): SubResult[] | undefined {
    if (cur.attempts.length === 0) return undefined;
    const budget = new SubResultBudget(ctx);
    const list: SubResult[] = [];
    const failedAttempt = (a: Attempt): SubResult => ({
      displayName: '',
      outcome: 'Failed',
      durationMs: a.durationMs,
      errorMessage: a.message ?? firstLine(a.stackTrace),
      stackTrace: a.stackTrace,
      stdout: a.stdout,
      stderr: a.stderr,
    });
    const flakyRuns = cur.attempts.filter((a) => a.flaky);
    const reruns = cur.attempts.filter((a) => !a.flaky);
    const ordered: SubResult[] =
      cur.outcome === 'Failed'
        ? [{ displayName: '', outcome: 'Failed', errorMessage: cur.message, stackTrace: cur.stackTrace }, ...reruns.map(failedAttempt)]
        : [
            ...flakyRuns.map(failedAttempt),
            { displayName: '', outcome: cur.outcome, durationMs: secondsToMs(cur.attrs.time) },
            ...reruns.map(failedAttempt),
          ];
    ordered.forEach((sub, i) => {
      sub.displayName = `${title} (attempt ${i + 1})`;
      sub.attempt = i + 1;
      budget.add(list, sub, 1);
    });
    return list;
  }

  function attachmentsIn(...texts: (string | undefined)[]): AttachmentRef[] | undefined {
    let found: AttachmentRef[] | undefined;
    for (const text of texts) {
      if (!text || !text.includes('[[ATTACHMENT|')) continue;
      for (const match of text.matchAll(ATTACHMENT_MARK)) {
        (found ??= []).push(attachmentRef(ctx, match[1], ['.']));
      }
    }
    return found;
  }
}
