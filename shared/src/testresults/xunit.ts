import type { RuleSet, RunInfo, TestOutcome } from './model';
import {
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
 * xUnit.net outcome (README.md beside this file). The agent (XunitResultReader.ReadResults): a `failure` child →
 * Failed, `Pass` → Passed, anything else NotExecuted. The API rules: a `failure` child or `Fail` fail it,
 * Skip/Skipped/NotRun skip it, anything else is other. Values compare case-insensitively, as the agent's do.
 */
export function xunitOutcome(result: string | undefined, hasFailure = false, rules: RuleSet = 'api'): TestOutcome {
  if (hasFailure) return 'Failed';
  if (same(result, 'Pass')) return 'Passed';
  if (rules === 'agent') return 'NotExecuted';
  if (same(result, 'Fail')) return 'Failed';
  if (same(result, 'Skip') || same(result, 'Skipped') || same(result, 'NotRun')) return 'NotExecuted';
  return 'Inconclusive';
}

interface Case {
  depth: number;
  attrs: XmlAttributes;
  hasFailure: boolean;
  message?: string;
  stackTrace?: string;
  exceptionType?: string;
  reason?: string;
  stdout?: string;
}

/**
 * xUnit.net `-xml` output. The agent reads `/assemblies/assembly/collection/test` only; the API rules also read a
 * root `<assembly>` as if it were inside `<assemblies>`, and the `class/test` elements of xUnit 1.x files.
 */
export function xunitReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'xunit2', attachments: [] };
  const { limits, rules } = ctx;
  const at = new ElementPath();
  let root = '';
  let assembly: string | undefined;
  let current: Case | undefined;

  /** Is a `<test>` here a result under the rules? Its parent is at.at(1), and so on up. */
  const isResult = (depth: number): boolean => {
    const parent = at.at(1);
    const offset = root === 'assemblies' ? 1 : 0;
    if (at.at(2) !== 'assembly' || depth !== 3 + offset) return false;
    if (root === 'assembly' && rules === 'agent') return false;
    return parent === 'collection' || (rules === 'api' && parent === 'class');
  };

  return {
    run,
    open(name, attrs, depth) {
      at.push(name);
      if (depth === 1) {
        root = name;
        if (root === 'assembly' && rules === 'agent') {
          run.unread = "gives no results: its root is <assembly>, and the agent's xUnit reader reads /assemblies/assembly only";
        }
      }
      if (!current) {
        if (name === 'test' && isResult(depth)) current = { depth, attrs, hasFailure: false };
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
          if (depth !== current.depth + 1) return;
          current.hasFailure = true;
          current.exceptionType = attr(attrs, 'exception-type');
          return;
        case 'message':
          return parent === 'failure' ? limits.maxMessageBytes : undefined;
        case 'stack-trace':
          return parent === 'failure' ? limits.maxStackTraceBytes : undefined;
        case 'reason':
          return depth === current.depth + 1 ? limits.maxMessageBytes : undefined;
        case 'output':
          return depth === current.depth + 1 ? outputBudget(limits) : undefined;
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
    // The agent's mandatory fields: `name` (automated test name) and `method` (title); the API rules keep every test.
    if (rules === 'agent' && (!rawAttr(attrs, 'name') || !rawAttr(attrs, 'method'))) return;
    const name = attr(attrs, 'name') ?? attr(attrs, 'method') ?? '(unnamed test)';
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
      outcome: xunitOutcome(attrs.result, cur.hasFailure, rules),
      durationMs: secondsToMs(attrs.time),
      errorMessage: clip(ctx, message ?? cur.reason, limits.maxMessageBytes, 'error message'),
      stackTrace: cur.stackTrace,
      stdout: cur.stdout,
    });
  }
}
