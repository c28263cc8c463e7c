import type { AttachmentRef, ResultGroupType, RuleSet, RunInfo, SubResult, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  baseName,
  clip,
  ElementPath,
  isoDate,
  nonEmpty,
  outputBudget,
  rawAttr,
  same,
  SubResultBudget,
  UnreadableFileError,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/**
 * TRX `outcome` → Azure DevOps outcome (README.md beside this file). The agent (TrxResultReader.ReadActualResults)
 * knows Failed, Passed and Inconclusive and makes everything else NotExecuted; the API rules keep Error, Timeout and
 * Aborted failed and NotExecuted skipped. A missing outcome is Failed under both.
 */
export function trxOutcome(value: string | undefined, rules: RuleSet = 'api'): TestOutcome {
  if (value === undefined || same(value, 'Failed')) return 'Failed';
  if (same(value, 'Passed')) return 'Passed';
  if (same(value, 'Inconclusive')) return 'Inconclusive';
  if (rules === 'agent') return 'NotExecuted';
  switch (value.toLowerCase()) {
    case 'passedbutrunaborted':
      return 'Passed';
    case 'error':
      return 'Error';
    case 'timeout':
      return 'Timeout';
    case 'aborted':
      return 'Aborted';
    case 'notexecuted':
      return 'NotExecuted';
    case 'notrunnable':
      return 'NotApplicable';
    case 'warning':
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

/** The three result elements the agent reads, in /TestRun/Results and in a result's InnerResults. */
const RESULT_ELEMENTS = new Set(['UnitTestResult', 'WebTestResult', 'TestResultAggregation']);

interface Frame {
  depth: number;
  element: string;
  attrs: XmlAttributes;
  /** 0 for a top-level result, 1 for its rows, … */
  level: number;
  message?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
  files: AttachmentRef[];
  subResults: SubResult[];
  /** Shared by a top-level result and everything beneath it. */
  budget: SubResultBudget;
}

/** What the agent's GetResultGroupType says a result with InnerResults is. */
function groupType(frame: Frame): ResultGroupType {
  if (frame.element === 'TestResultAggregation') return 'OrderedTest';
  return frame.attrs.resultType === 'DataDrivenTest' ? 'DataDriven' : 'Generic';
}

/**
 * VSTest/MSTest TRX: the results directly under `/TestRun/Results` (UnitTestResult, WebTestResult,
 * TestResultAggregation) are counted; `InnerResults` rows (data-driven rows, ordered-test steps) are their
 * sub-results, not results of their own. `RunInfo` and `ResultSummary` outcomes are run facts, not tests.
 */
export function trxReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'trx', attachments: [] };
  const { limits, rules } = ctx;
  const at = new ElementPath();
  const frames: Frame[] = [];
  let deploymentRoot: string | undefined;
  let definition: { id: string; storage?: string; name?: string; automatedName?: string; className?: string; method?: string } | undefined;
  const seenDefinitionIds = rules === 'agent' ? new Set<string>() : undefined;
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
      if (RESULT_ELEMENTS.has(name)) {
        if (!frame && depth === 3 && at.at(1) === 'Results' && at.at(2) === 'TestRun') {
          frames.push({ depth, element: name, attrs, level: 0, files: [], subResults: [], budget: new SubResultBudget(ctx) });
          return;
        }
        if (frame && depth === frame.depth + 2 && at.at(1) === 'InnerResults') {
          frames.push({ depth, element: name, attrs, level: frame.level + 1, files: [], subResults: [], budget: frame.budget });
          return;
        }
      }
      if (frame) {
        switch (name) {
          case 'Message':
            return at.at(1) === 'ErrorInfo' ? limits.maxMessageBytes : undefined;
          case 'StackTrace':
            return at.at(1) === 'ErrorInfo' ? limits.maxStackTraceBytes : undefined;
          case 'StdOut':
          case 'StdErr':
            return at.at(1) === 'Output' ? outputBudget(limits) : undefined;
          case 'ResultFile':
            if (attrs.path) frame.files.push(attachmentRef(ctx, attrs.path, resultBases(attr(frame.attrs, 'relativeResultsDirectory'))));
            return;
        }
        return;
      }
      if (depth === 3 && at.at(1) === 'TestDefinitions') {
        const id = rawAttr(attrs, 'id');
        // The agent's reader indexes every definition by id: one without, or an id twice, fails the whole file.
        if (seenDefinitionIds) {
          if (id === undefined)
            throw new UnreadableFileError(`has a TestDefinitions entry <${name}> without an id, which the agent's TRX reader cannot read`);
          if (seenDefinitionIds.has(id))
            throw new UnreadableFileError(`defines test id '${id.slice(0, 64)}' twice, which the agent's TRX reader cannot read`);
          if (seenDefinitionIds.size < limits.maxTrxDefinitions) seenDefinitionIds.add(id);
        }
        definition = id === undefined ? undefined : { id, storage: baseName(attrs.storage), name: rawAttr(attrs, 'name') };
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
        case 'TestMethod':
          if (definition && depth === 4) {
            const className = rawAttr(attrs, 'className');
            const method = rawAttr(attrs, 'name');
            if (className !== undefined && method !== undefined) definition.automatedName = `${className.split(',')[0]}.${method}`;
            definition.className = nonEmpty(className?.split(',')[0]);
            definition.method = nonEmpty(method);
            definition.storage = baseName(attrs.codeBase) ?? definition.storage;
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
        if (frame.level === 0) emitResult(frame);
        else addSubResult(frames[frames.length - 1], frame);
        return;
      }
      if (!frame && depth === 3 && definition) {
        if (ctx.collectTrxDefinitions && ctx.collectTrxDefinitions.size < limits.maxTrxDefinitions) {
          ctx.collectTrxDefinitions.set(definition.id, {
            className: definition.className,
            method: definition.method,
            storage: definition.storage,
            agentName: definition.automatedName ?? definition.name,
          });
        }
        definition = undefined;
        return;
      }
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

  function addSubResult(parent: Frame, frame: Frame): void {
    const { attrs } = frame;
    const outcome = trxOutcome(rawAttr(attrs, 'outcome'), rules);
    const sub: SubResult = {
      displayName: clip(ctx, rawAttr(attrs, 'testName') || '(unnamed row)', limits.maxNameChars, 'test name')!,
      outcome,
      durationMs: timeSpanToMs(attrs.duration),
      startedDate: isoDate(attrs.startTime),
      completedDate: isoDate(attrs.endTime),
      computerName: attr(attrs, 'computerName'),
      errorMessage: frame.message,
      stackTrace: frame.stackTrace,
      stdout: outcome === 'Passed' ? undefined : frame.stdout,
      stderr: outcome === 'Passed' ? undefined : frame.stderr,
    };
    if (frame.subResults.length > 0) {
      sub.resultGroupType = groupType(frame);
      sub.subResults = frame.subResults;
    }
    frame.budget.add(parent.subResults, sub, frame.level);
  }

  function emitResult(frame: Frame): void {
    const { attrs } = frame;
    const testName = rawAttr(attrs, 'testName');
    const testId = rawAttr(attrs, 'testId');
    const def = testId !== undefined ? (ctx.trxDefinitions ?? ctx.collectTrxDefinitions)?.get(testId) : undefined;
    // The agent's mandatory fields: a title (testName) and an automated test name (from the definition).
    if (rules === 'agent' && (!testName || !def?.agentName)) return;
    const title = nonEmpty(testName) ?? '(unnamed test)';
    let fullName = title;
    if (def?.className) {
      const tail = def.method && !title.startsWith(def.method) ? def.method : title;
      fullName = title.startsWith(`${def.className}.`) ? title : `${def.className}.${tail}`;
    }
    ctx.emit({
      title: clip(ctx, title, limits.maxNameChars, 'test name')!,
      fullName: clip(ctx, fullName, limits.maxNameChars, 'test name')!,
      storage: def?.storage ?? (def?.className ? clip(ctx, def.className, limits.maxNameChars, 'test name') : undefined),
      outcome: trxOutcome(rawAttr(attrs, 'outcome'), rules),
      durationMs: timeSpanToMs(attrs.duration),
      startedDate: isoDate(attrs.startTime),
      completedDate: isoDate(attrs.endTime),
      computerName: attr(attrs, 'computerName'),
      errorMessage: frame.message,
      stackTrace: frame.stackTrace,
      stdout: frame.stdout,
      stderr: frame.stderr,
      attachments: frame.files.length > 0 ? frame.files : undefined,
      resultGroupType: frame.subResults.length > 0 ? groupType(frame) : undefined,
      subResults: frame.subResults.length > 0 ? frame.subResults : undefined,
      rerunKey: rules === 'api' && testId && testName ? `${testId}\n${testName}` : undefined,
    });
  }
}
