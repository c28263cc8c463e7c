import type { RunInfo, TestOutcome } from './model';
import {
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

/** xUnit.net `result` → Azure DevOps outcome (README.md beside this file). */
export function xunitOutcome(result: string | undefined): TestOutcome {
  switch (result) {
    case 'Pass':
      return 'Passed';
    case 'Fail':
      return 'Failed';
    case 'Skip':
    case 'NotRun':
      return 'NotExecuted';
    default:
      return 'Inconclusive';
  }
}

interface Case {
  depth: number;
  attrs: XmlAttributes;
  message?: string;
  stackTrace?: string;
  exceptionType?: string;
  reason?: string;
  stdout?: string;
}

/** xUnit.net v2 `-xml` output (`<assemblies>`; a lone `<assembly>` too): every `<test>`. */
export function xunitReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'xunit2', attachments: [] };
  const { limits } = ctx;
  const at = new ElementPath();
  let assembly: string | undefined;
  let current: Case | undefined;

  return {
    run,
    open(name, attrs, depth) {
      at.push(name);
      if (!current) {
        if (name === 'test') current = { depth, attrs };
        else if (name === 'assembly') {
          assembly = attr(attrs, 'name')?.split(/[\\/]/).pop();
          if (!run.startedDate && attrs['run-date']) {
            run.startedDate = isoDate(`${attrs['run-date']}T${attrs['run-time'] ?? '00:00:00'}`);
          }
        }
        return;
      }
      const parent = at.at(1);
      switch (name) {
        case 'failure':
          current.exceptionType = attr(attrs, 'exception-type');
          return;
        case 'message':
          return parent === 'failure' ? limits.maxMessageBytes : undefined;
        case 'stack-trace':
          return parent === 'failure' ? limits.maxStackTraceBytes : undefined;
        case 'reason':
          return depth === current.depth + 1 ? limits.maxMessageBytes : undefined;
        case 'output':
          return depth === current.depth + 1 ? limits.maxOutputBytes : undefined;
      }
    },
    close(name, depth, text, truncated) {
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
      if (name === 'message') cur.message = nonEmpty(text);
      else if (name === 'stack-trace') cur.stackTrace = nonEmpty(text);
      else if (name === 'reason') cur.reason = nonEmpty(text);
      else if (name === 'output') cur.stdout = nonEmpty(text) && text;
    },
  };

  function emitCase(cur: Case): void {
    const { attrs } = cur;
    const name = attr(attrs, 'name') ?? '(unnamed test)';
    const type = attr(attrs, 'type');
    const method = attr(attrs, 'method');
    let fullName = name;
    if (type && !name.startsWith(`${type}.`)) fullName = `${type}.${method ?? name}`;
    let message = cur.message;
    if (message && cur.exceptionType && !message.startsWith(cur.exceptionType)) message = `${cur.exceptionType}: ${message}`;
    ctx.emit({
      title: clip(ctx, name, limits.maxNameChars, 'test name')!,
      fullName: clip(ctx, fullName, limits.maxNameChars, 'test name')!,
      storage: clip(ctx, type ?? assembly, limits.maxNameChars, 'test name'),
      outcome: xunitOutcome(attrs.result),
      durationMs: secondsToMs(attrs.time),
      errorMessage: clip(ctx, message ?? cur.reason, limits.maxMessageBytes, 'error message'),
      stackTrace: cur.stackTrace,
      stdout: cur.stdout,
    });
  }
}
