import type { AttachmentRef, ResultFormat, RuleSet, RunInfo, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  clip,
  ElementPath,
  isoDate,
  nonEmpty,
  outputBudget,
  rawAttr,
  same,
  secondsToMs,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/**
 * NUnit 3 `result` + `label` → Azure DevOps outcome (README.md beside this file). The agent
 * (NUnit3ResultsXmlReader.getTestCaseResultData) knows Passed, Failed and Skipped; the API rules also say which kind
 * of failure the label names. Both compare case-insensitively, as the agent does.
 */
export function nunit3Outcome(result: string | undefined, label: string | undefined, rules: RuleSet = 'api'): TestOutcome {
  if (same(result, 'Passed')) return 'Passed';
  if (same(result, 'Failed')) {
    if (rules === 'agent') return 'Failed';
    if (same(label, 'Error')) return 'Error';
    if (same(label, 'Cancelled')) return 'Aborted';
    if (label && /timeout/i.test(label)) return 'Timeout';
    return 'Failed';
  }
  if (same(result, 'Skipped')) return 'NotExecuted';
  if (rules === 'api' && same(result, 'Warning')) return 'Warning';
  return 'Inconclusive';
}

/**
 * NUnit 2 outcome. The agent (NUnitResultsXmlReader.FindTestCaseNodes): a `failure` child → Failed, `Ignored` →
 * NotExecuted, anything else Passed. The API rules: a `failure` child or Failure/Error/Cancelled fail it,
 * `executed="False"` or Ignored/Skipped/NotRunnable skip it, Inconclusive is other; before NUnit 2.5 (no `result`)
 * `success` decides.
 */
export function nunit2Outcome(attrs: XmlAttributes, hasFailure = false, rules: RuleSet = 'api'): TestOutcome {
  if (rules === 'agent') {
    if (hasFailure) return 'Failed';
    return same(attrs.result, 'Ignored') ? 'NotExecuted' : 'Passed';
  }
  const result = attrs.result?.toLowerCase();
  if (hasFailure || result === 'failure') return 'Failed';
  if (result === 'error') return 'Error';
  if (result === 'cancelled') return 'Aborted';
  if (same(attrs.executed, 'false') || result === 'ignored' || result === 'skipped' || result === 'notrunnable') return 'NotExecuted';
  if (result === 'success') return 'Passed';
  if (result === undefined) {
    if (same(attrs.success, 'true')) return 'Passed';
    if (same(attrs.success, 'false')) return 'Failed';
  }
  return 'Inconclusive';
}

/** `Ns.Fixture.Method(args)` → [`Ns.Fixture`, `Method(args)`]: the last dot before any argument list. */
export function splitTestName(full: string): [string | undefined, string] {
  const paren = full.indexOf('(');
  const dot = full.lastIndexOf('.', paren < 0 ? full.length : paren);
  return dot > 0 ? [full.slice(0, dot), full.slice(dot + 1)] : [undefined, full];
}

interface Case {
  depth: number;
  attrs: XmlAttributes;
  /** NUnit 3: how many Assembly suites it lies in (the agent reads it once for each). */
  assemblies: number;
  hasFailure: boolean;
  message?: string;
  stackTrace?: string;
  skipReason?: string;
  stdout?: string;
  attachments: AttachmentRef[];
}

/**
 * NUnit 3 (`<test-run>`) and NUnit 2 (`<test-results>`), read as the agent's NunitResultReader does. NUnit 3: every
 * `<test-case>` inside a `<test-suite type="Assembly">`, when the run has a `start-time`. NUnit 2: the root's
 * `<test-suite>` children, then `results/test-case` and, recursively, `results/test-suite`. `<failure>`,
 * `<reason>` and `<output>` also appear on suites; only those inside a test case belong to a result.
 */
export function nunitReader(format: Extract<ResultFormat, 'nunit2' | 'nunit3'>) {
  return (ctx: ReaderContext): FormatReader => {
    const run: RunInfo = { format, attachments: [] };
    const { limits, rules } = ctx;
    const at = new ElementPath();
    /** NUnit 2: per open element, whether the agent reads the test cases in its `results`. */
    const read: boolean[] = [];
    let assemblies = 0;
    const assemblyDepths: number[] = [];
    let current: Case | undefined;

    return {
      run,
      open(name, attrs, depth) {
        at.push(name);
        if (!current) {
          if (depth === 1) {
            if (format === 'nunit3') {
              run.startedDate = isoDate(attrs['start-time']);
              run.completedDate = isoDate(attrs['end-time']);
              if (rawAttr(attrs, 'start-time') === undefined) {
                run.unread = "gives no results: its <test-run> has no start-time, without which the agent's NUnit 3 reader reads none";
              }
            } else if (attrs.date && attrs.time) {
              run.startedDate = isoDate(`${attrs.date}T${attrs.time}`);
            }
          }
          if (format === 'nunit3') {
            if (name === 'test-suite' && attrs.type === 'Assembly') {
              assemblies++;
              assemblyDepths.push(depth);
            } else if (name === 'test-case' && assemblies > 0 && !run.unread) {
              current = { depth, attrs, assemblies, hasFailure: false, attachments: [] };
            }
            return;
          }
          const parent = read[read.length - 1];
          if (name === 'test-case' && at.at(1) === 'results' && parent) {
            current = { depth, attrs, assemblies: 1, hasFailure: false, attachments: [] };
            return;
          }
          // A suite directly under the root, or in the `results` of a suite that is read.
          const suiteRead = name === 'test-suite' && (depth === 2 || (at.at(1) === 'results' && parent));
          read.push(name === 'results' ? parent === true && at.at(1) === 'test-suite' : suiteRead === true);
          return;
        }
        const parent = at.at(1);
        if (name === 'failure' && depth === current.depth + 1) current.hasFailure = true;
        switch (name) {
          case 'message':
            return parent === 'failure' || parent === 'reason' ? limits.maxMessageBytes : undefined;
          case 'stack-trace':
            return parent === 'failure' ? limits.maxStackTraceBytes : undefined;
          case 'output':
            return depth === current.depth + 1 ? outputBudget(limits) : undefined;
          case 'filePath':
            return parent === 'attachment' ? 4096 : undefined;
        }
      },
      close(name, depth, text, truncated) {
        const parent = at.at(1);
        at.pop();
        const cur = current;
        if (!cur) {
          if (format === 'nunit3') {
            if (assemblyDepths[assemblyDepths.length - 1] === depth) {
              assemblyDepths.pop();
              assemblies--;
            }
          } else {
            read.pop();
          }
          return;
        }
        if (depth === cur.depth) {
          current = undefined;
          emitCase(cur);
          return;
        }
        if (text === undefined) return;
        if (truncated) ctx.truncated(name === 'stack-trace' ? 'stack trace' : name === 'output' ? 'output' : 'error message');
        if (name === 'message' && parent === 'failure') cur.message = nonEmpty(text);
        else if (name === 'message' && parent === 'reason') cur.skipReason = nonEmpty(text);
        else if (name === 'stack-trace') cur.stackTrace = nonEmpty(text);
        else if (name === 'output') cur.stdout = nonEmpty(text) && text;
        else if (name === 'filePath' && nonEmpty(text)) cur.attachments.push(attachmentRef(ctx, text, ['.']));
      },
    };

    function emitCase(cur: Case): void {
      const { attrs } = cur;
      const rawName = rawAttr(attrs, 'name');
      // The agent drops an NUnit 2 test case without a name (its NUnit 3 reader keeps every one); the API rules keep all.
      if (rules === 'agent' && format === 'nunit2' && !rawName) return;
      const name = nonEmpty(rawName) ?? '(unnamed test)';
      let outcome: TestOutcome;
      let title: string;
      let fullName: string;
      let storage: string | undefined;
      if (format === 'nunit3') {
        outcome = nunit3Outcome(attrs.result, attrs.label, rules);
        title = name;
        fullName = attr(attrs, 'fullname') ?? name;
        storage = attr(attrs, 'classname');
      } else {
        outcome = nunit2Outcome(attrs, cur.hasFailure, rules);
        // NUnit 2 writes the full name in `name`.
        const [className, method] = splitTestName(name);
        title = method;
        fullName = name;
        storage = className;
      }
      const failedOrOther = outcome !== 'Passed' && outcome !== 'NotExecuted';
      const result = {
        title: clip(ctx, title, limits.maxNameChars, 'test name')!,
        fullName: clip(ctx, fullName, limits.maxNameChars, 'test name')!,
        storage: clip(ctx, storage, limits.maxNameChars, 'test name'),
        outcome,
        durationMs: secondsToMs(format === 'nunit3' ? attrs.duration : attrs.time),
        startedDate: isoDate(attrs['start-time']),
        completedDate: isoDate(attrs['end-time']),
        errorMessage: (failedOrOther ? cur.message : undefined) ?? cur.skipReason ?? cur.message,
        stackTrace: cur.stackTrace,
        stdout: cur.stdout,
        attachments: cur.attachments.length > 0 ? cur.attachments : undefined,
      };
      // `//test-suite[@type='Assembly']` then `.//test-case`: a case in nested Assembly suites is read once per suite.
      const times = rules === 'agent' ? cur.assemblies : 1;
      for (let i = 0; i < times; i++) ctx.emit(i === 0 ? result : { ...result });
    }
  };
}
