import { inflateSync } from 'node:zlib';
import type { RunInfo, TestOutcome } from './model';
import {
  attr,
  clip,
  ElementPath,
  nonEmpty,
  outputBudget,
  same,
  secondsToMs,
  UnreadableFileError,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

/**
 * CTest `Status` → Azure DevOps outcome, as the agent's CtestResultReader.GetTestCaseOutcome (both rule sets):
 * passed, failed, and anything else (notrun, disabled, …) NotExecuted; compared case-insensitively.
 */
export function ctestOutcome(status: string | undefined): TestOutcome {
  if (same(status, 'passed')) return 'Passed';
  if (same(status, 'failed')) return 'Failed';
  return 'NotExecuted';
}

interface Case {
  depth: number;
  attrs: XmlAttributes;
  name?: string;
  fullName?: string;
  /** `Name` and `FullName` as written: the agent drops a test whose text is empty. */
  rawName?: string;
  rawFullName?: string;
  path?: string;
  measurement?: string;
  valueAttrs?: XmlAttributes;
  measurements: Record<string, string>;
  output?: string;
}

const NAME_BUDGET = 4096;

/**
 * CTest `Testing/<stamp>/Test.xml` (`<Site>`), read as the agent's CtestResultReader does: the results are the
 * `/Site/Testing/Test` elements (the `<TestList>` entries repeat the names without a status). A file without
 * `/Site/Testing`, or with a `Test` there that has no `Status`, makes the agent's reader fail: it is refused whole.
 */
export function ctestReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'ctest', attachments: [] };
  const { limits, rules } = ctx;
  const at = new ElementPath();
  let current: Case | undefined;
  let testing = false;

  return {
    run,
    open(name, attrs, depth) {
      at.push(name);
      if (!current) {
        if (name === 'Testing' && depth === 2) testing = true;
        if (name === 'Test' && depth === 3 && at.at(1) === 'Testing') {
          if (attrs.Status === undefined) {
            throw new UnreadableFileError("has a <Test> under /Site/Testing without a Status, which the agent's CTest reader cannot read");
          }
          current = { depth, attrs, measurements: {} };
        }
        return;
      }
      if (depth === current.depth + 1 && (name === 'Name' || name === 'FullName' || name === 'Path')) return NAME_BUDGET;
      if (name === 'NamedMeasurement') current.measurement = attr(attrs, 'name');
      if (name === 'Value') {
        current.valueAttrs = attrs;
        // Encoded output must arrive whole to be decoded (it is cut to the cap once decoded); plain text keeps its ends.
        if (at.at(1) === 'Measurement') return attrs.encoding === 'base64' ? 2 * limits.maxOutputBytes : outputBudget(limits);
        if (at.at(1) === 'NamedMeasurement') return NAME_BUDGET;
      }
    },
    end() {
      if (!testing) throw new UnreadableFileError("has no /Site/Testing element, which the agent's CTest reader needs");
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
      if (name === 'NamedMeasurement') cur.measurement = undefined;
      if (text === undefined) return;
      if (name === 'Name' && depth === cur.depth + 1 && cur.rawName === undefined) {
        cur.rawName = text;
        cur.name = nonEmpty(text);
      } else if (name === 'FullName' && depth === cur.depth + 1 && cur.rawFullName === undefined) {
        cur.rawFullName = text;
        cur.fullName = nonEmpty(text);
      } else if (name === 'Path') cur.path = nonEmpty(text);
      else if (name === 'Value' && parent === 'Measurement') {
        if (truncated) ctx.truncated('output');
        cur.output = decodeOutput(text, cur.valueAttrs ?? {});
      } else if (name === 'Value' && parent === 'NamedMeasurement' && cur.measurement) {
        cur.measurements[cur.measurement] = text.trim();
      }
    },
  };

  // Large outputs are written base64 (and zlib-compressed) by newer CTest; inflate within the output cap so a
  // small hostile value cannot expand into gigabytes.
  function decodeOutput(text: string, attrs: XmlAttributes): string | undefined {
    if (attrs.encoding !== 'base64') return nonEmpty(text) && text;
    let bytes = Buffer.from(text.replace(/\s+/g, ''), 'base64');
    if (attrs.compression === 'gzip') {
      try {
        bytes = inflateSync(bytes, { maxOutputLength: limits.maxOutputBytes });
      } catch {
        ctx.truncated('output');
        return '(output could not be decompressed)';
      }
    }
    return nonEmpty(bytes.toString('utf8')) && bytes.toString('utf8');
  }

  function emitCase(cur: Case): void {
    // The agent's mandatory fields are the Name and FullName texts; the API rules keep every test.
    if (rules === 'agent' && (!cur.rawName || !cur.rawFullName)) return;
    const name = cur.name ?? cur.fullName ?? '(unnamed test)';
    const outcome = ctestOutcome(cur.attrs.Status);
    const m = cur.measurements;
    let errorMessage: string | undefined;
    if (outcome !== 'Passed') {
      const parts = ['Completion Status', 'Fail Reason', 'Exit Code', 'Exit Value'].filter((k) => m[k]).map((k) => `${k}: ${m[k]}`);
      errorMessage = parts.join('; ') || undefined;
    }
    ctx.emit({
      title: clip(ctx, name, limits.maxNameChars, 'test name')!,
      fullName: clip(ctx, cur.fullName ?? name, limits.maxNameChars, 'test name')!,
      storage: clip(ctx, cur.path, limits.maxNameChars, 'test name'),
      outcome,
      durationMs: secondsToMs(m['Execution Time']),
      errorMessage: clip(ctx, errorMessage, limits.maxMessageBytes, 'error message'),
      stdout: cur.output,
    });
  }
}
