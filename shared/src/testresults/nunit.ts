import type { AttachmentRef, ResultFormat, RunInfo, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  clip,
  ElementPath,
  isoDate,
  nonEmpty,
  secondsToMs,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/** NUnit 3 `result` + `label` → Azure DevOps outcome (README.md beside this file). */
export function nunit3Outcome(result: string | undefined, label: string | undefined): TestOutcome {
  switch (result) {
    case 'Passed':
      return 'Passed';
    case 'Failed':
      if (label === 'Error') return 'Error';
      if (label === 'Cancelled') return 'Aborted';
      if (label && /timeout/i.test(label)) return 'Timeout';
      return 'Failed';
    case 'Skipped':
      return 'NotExecuted';
    case 'Warning':
      return 'Warning';
    default:
      return 'Inconclusive';
  }
}

/** NUnit 2 `result` (or, before 2.5, `executed`/`success`) → Azure DevOps outcome. */
export function nunit2Outcome(attrs: XmlAttributes): TestOutcome {
  switch (attrs.result) {
    case 'Success':
      return 'Passed';
    case 'Failure':
      return 'Failed';
    case 'Error':
      return 'Error';
    case 'Cancelled':
      return 'Aborted';
    case 'Ignored':
    case 'Skipped':
    case 'NotRunnable':
      return 'NotExecuted';
    case 'Inconclusive':
      return 'Inconclusive';
    case undefined:
      if (attrs.executed?.toLowerCase() === 'false') return 'NotExecuted';
      if (attrs.success?.toLowerCase() === 'true') return 'Passed';
      if (attrs.success?.toLowerCase() === 'false') return 'Failed';
      return 'Inconclusive';
    default:
      return 'Inconclusive';
  }
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
  message?: string;
  stackTrace?: string;
  skipReason?: string;
  stdout?: string;
  attachments: AttachmentRef[];
}

/**
 * NUnit 3 (`<test-run>`) and NUnit 2 (`<test-results>`): every `<test-case>`. `<failure>`, `<reason>` and `<output>`
 * also appear on suites; only those inside a test case belong to a result.
 */
export function nunitReader(format: Extract<ResultFormat, 'nunit2' | 'nunit3'>) {
  return (ctx: ReaderContext): FormatReader => {
    const run: RunInfo = { format, attachments: [] };
    const { limits } = ctx;
    const at = new ElementPath();
    let current: Case | undefined;

    return {
      run,
      open(name, attrs, depth) {
        at.push(name);
        if (!current) {
          if (name === 'test-case') current = { depth, attrs, attachments: [] };
          else if (depth === 1 && format === 'nunit3') {
            run.startedDate = isoDate(attrs['start-time']);
            run.completedDate = isoDate(attrs['end-time']);
          } else if (depth === 1) {
            if (attrs.date && attrs.time) run.startedDate = isoDate(`${attrs.date}T${attrs.time}`);
          }
          return;
        }
        const parent = at.at(1);
        switch (name) {
          case 'message':
            return parent === 'failure' || parent === 'reason' ? limits.maxMessageBytes : undefined;
          case 'stack-trace':
            return parent === 'failure' ? limits.maxStackTraceBytes : undefined;
          case 'output':
            return depth === current.depth + 1 ? limits.maxOutputBytes : undefined;
          case 'filePath':
            return parent === 'attachment' ? 4096 : undefined;
        }
      },
      close(name, depth, text, truncated) {
        const parent = at.at(1);
        at.pop();
        const cur = current;
        if (!cur) return;
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
      const name = attr(attrs, 'name') ?? '(unnamed test)';
      let outcome: TestOutcome;
      let title: string;
      let fullName: string;
      let storage: string | undefined;
      if (format === 'nunit3') {
        outcome = nunit3Outcome(attrs.result, attrs.label);
        title = name;
        fullName = attr(attrs, 'fullname') ?? name;
        storage = attr(attrs, 'classname');
      } else {
        outcome = nunit2Outcome(attrs);
        // NUnit 2 writes the full name in `name`.
        const [className, method] = splitTestName(name);
        title = method;
        fullName = name;
        storage = className;
      }
      const failedOrOther = outcome !== 'Passed' && outcome !== 'NotExecuted';
      ctx.emit({
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
      });
    }
  };
}
