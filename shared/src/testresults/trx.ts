import type { AttachmentRef, RunInfo, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  baseName,
  clip,
  ElementPath,
  isoDate,
  nonEmpty,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/** TRX `outcome` → Azure DevOps outcome (README.md beside this file). */
export function trxOutcome(value: string | undefined): TestOutcome {
  switch (value) {
    case 'Passed':
    case 'PassedButRunAborted':
      return 'Passed';
    case 'Failed':
      return 'Failed';
    case 'Error':
      return 'Error';
    case 'Timeout':
      return 'Timeout';
    case 'Aborted':
      return 'Aborted';
    case 'NotExecuted':
      return 'NotExecuted';
    case 'NotRunnable':
      return 'NotApplicable';
    case 'Warning':
      return 'Warning';
    default:
      return 'Inconclusive';
  }
}

/** `hh:mm:ss.fffffff`, optionally `d.hh:mm:ss…` (.NET TimeSpan) → milliseconds. */
export function timeSpanToMs(value: string | undefined): number | undefined {
  const match = value ? /^\s*(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)\s*$/.exec(value) : null;
  if (!match) return undefined;
  const [, days, hours, minutes, seconds] = match;
  return Math.round(((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60000 + Number(seconds) * 1000);
}

interface Frame {
  depth: number;
  attrs: XmlAttributes;
  hasInner: boolean;
  message?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
  files: AttachmentRef[];
}

const isResultElement = (name: string) => name.endsWith('TestResult');

/**
 * VSTest/MSTest TRX. Leaf results are counted: a data-driven parent (one with `<InnerResults>`) is not, its rows
 * are. `RunInfo` and `ResultSummary` outcomes are run facts, not tests.
 */
export function trxReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'trx', attachments: [] };
  const { limits } = ctx;
  const at = new ElementPath();
  const frames: Frame[] = [];
  let inResults = 0;
  let deploymentRoot: string | undefined;
  let definition: { id: string; storage?: string } | undefined;
  const summaryFiles: string[] = [];
  const collectorFiles: string[] = [];

  const resultBases = (relative: string | undefined) => {
    const bases: string[] = [];
    if (deploymentRoot) {
      if (relative) bases.push(`${deploymentRoot}/In/${relative}`);
      bases.push(`${deploymentRoot}/In`);
    }
    if (relative) bases.push(relative);
    bases.push('.');
    return bases;
  };

  return {
    open(name, attrs, depth) {
      at.push(name);
      const frame = frames[frames.length - 1];
      if (inResults && isResultElement(name) && (at.at(1) === 'Results' || at.at(1) === 'InnerResults')) {
        if (frame) frame.hasInner = true;
        frames.push({ depth, attrs, hasInner: false, files: [] });
        return;
      }
      if (frame) {
        switch (name) {
          case 'Message':
            return at.at(1) === 'ErrorInfo' ? limits.maxMessageBytes : undefined;
          case 'StackTrace':
            return at.at(1) === 'ErrorInfo' ? limits.maxStackTraceBytes : undefined;
          case 'StdOut':
          case 'StdErr':
            return at.at(1) === 'Output' ? limits.maxOutputBytes : undefined;
          case 'ResultFile':
            if (attrs.path) frame.files.push(attachmentRef(ctx, attrs.path, resultBases(attr(frame.attrs, 'relativeResultsDirectory'))));
            return;
        }
        return;
      }
      switch (name) {
        case 'TestRun':
          if (depth === 1) run.name = attr(attrs, 'name');
          return;
        case 'Times':
          run.startedDate = isoDate(attrs.start);
          run.completedDate = isoDate(attrs.finish);
          return;
        case 'Deployment':
          deploymentRoot = attr(attrs, 'runDeploymentRoot');
          return;
        case 'Results':
          inResults++;
          return;
        case 'UnitTest':
          if (at.at(1) === 'TestDefinitions' && attrs.id) definition = { id: attrs.id, storage: baseName(attrs.storage) };
          return;
        case 'TestMethod':
          if (definition && ctx.collectTrxDefinitions && ctx.collectTrxDefinitions.size < limits.maxTrxDefinitions) {
            ctx.collectTrxDefinitions.set(definition.id, {
              className: attr(attrs, 'className'),
              method: attr(attrs, 'name'),
              storage: baseName(attrs.codeBase) ?? definition.storage,
            });
          }
          return;
        case 'ResultFile':
          if (attrs.path && at.at(2) === 'ResultSummary') summaryFiles.push(attrs.path);
          return;
        case 'A':
          if (attrs.href && at.at(1) === 'UriAttachment') collectorFiles.push(attrs.href);
          return;
      }
    },
    close(name, depth, text, truncated) {
      at.pop();
      const frame = frames[frames.length - 1];
      if (frame && depth === frame.depth) {
        frames.pop();
        if (!frame.hasInner) emitResult(frame);
        return;
      }
      if (name === 'Results' && !frame) {
        inResults--;
        return;
      }
      if (name === 'UnitTest') definition = undefined;
      if (!frame || text === undefined) return;
      if (truncated) ctx.truncated(name === 'StackTrace' ? 'stack trace' : name === 'Message' ? 'error message' : 'output');
      switch (name) {
        case 'Message':
          frame.message = nonEmpty(text);
          break;
        case 'StackTrace':
          frame.stackTrace = nonEmpty(text);
          break;
        case 'StdOut':
          frame.stdout = nonEmpty(text) && text;
          break;
        case 'StdErr':
          frame.stderr = nonEmpty(text) && text;
          break;
      }
    },
    get run() {
      run.attachments = [
        ...summaryFiles.map((file) => attachmentRef(ctx, file, resultBases(undefined))),
        ...collectorFiles.map((file) => attachmentRef(ctx, file, resultBases(undefined))),
      ];
      return run;
    },
  };

  function emitResult(frame: Frame): void {
    const { attrs } = frame;
    const testName = attr(attrs, 'testName') ?? '(unnamed test)';
    const testId = attrs.testId;
    const def = testId ? (ctx.trxDefinitions ?? ctx.collectTrxDefinitions)?.get(testId) : undefined;
    let fullName = testName;
    if (def?.className) {
      const tail = def.method && !testName.startsWith(def.method) ? def.method : testName;
      fullName = testName.startsWith(`${def.className}.`) ? testName : `${def.className}.${tail}`;
    }
    ctx.emit({
      title: clip(ctx, testName, limits.maxNameChars, 'test name')!,
      fullName: clip(ctx, fullName, limits.maxNameChars, 'test name')!,
      storage: def?.storage ?? (def?.className ? clip(ctx, def.className, limits.maxNameChars, 'test name') : undefined),
      outcome: trxOutcome(attrs.outcome),
      durationMs: timeSpanToMs(attrs.duration),
      startedDate: isoDate(attrs.startTime),
      completedDate: isoDate(attrs.endTime),
      computerName: attr(attrs, 'computerName'),
      errorMessage: frame.message,
      stackTrace: frame.stackTrace,
      stdout: frame.stdout,
      stderr: frame.stderr,
      attachments: frame.files.length > 0 ? frame.files : undefined,
    });
  }
}
