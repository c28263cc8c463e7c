import * as zlib from 'node:zlib';
import type { RunInfo, TestOutcome } from './model';
import { attr, clip, ElementPath, nonEmpty, secondsToMs, type FormatReader, type ReaderContext } from './reader';
import type { XmlAttributes } from './xml';

/** CTest `Status` → Azure DevOps outcome (README.md beside this file). */
export function ctestOutcome(status: string | undefined): TestOutcome {
  switch (status) {
    case 'passed':
      return 'Passed';
    case 'failed':
      return 'Failed';
    case 'notrun':
      return 'NotExecuted';
    default:
      return 'Inconclusive';
  }
}

interface Case {
  depth: number;
  attrs: XmlAttributes;
  name?: string;
  fullName?: string;
  path?: string;
  measurement?: string;
  valueAttrs?: XmlAttributes;
  measurements: Record<string, string>;
  output?: string;
}

const NAME_BUDGET = 4096;

/**
 * CTest `Testing/<stamp>/Test.xml` (`<Site>`): only `<Test Status=…>` elements are results; the `<TestList>` entries
 * repeat the names without a status.
 */
export function ctestReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'ctest', attachments: [] };
  const { limits } = ctx;
  const at = new ElementPath();
  let current: Case | undefined;

  return {
    run,
    open(name, attrs, depth) {
      at.push(name);
      if (!current) {
        if (name === 'Test' && attrs.Status !== undefined && at.at(1) === 'Testing') {
          current = { depth, attrs, measurements: {} };
        }
        return;
      }
      if (depth === current.depth + 1 && (name === 'Name' || name === 'FullName' || name === 'Path')) return NAME_BUDGET;
      if (name === 'NamedMeasurement') current.measurement = attr(attrs, 'name');
      if (name === 'Value') {
        current.valueAttrs = attrs;
        if (at.at(1) === 'Measurement') return limits.maxOutputBytes;
        if (at.at(1) === 'NamedMeasurement') return NAME_BUDGET;
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
      if (name === 'NamedMeasurement') cur.measurement = undefined;
      if (text === undefined) return;
      if (name === 'Name') cur.name = nonEmpty(text);
      else if (name === 'FullName') cur.fullName = nonEmpty(text);
      else if (name === 'Path') cur.path = nonEmpty(text);
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
        bytes = zlib.inflateSync(bytes, { maxOutputLength: limits.maxOutputBytes });
      } catch {
        ctx.truncated('output');
        return '(output could not be decompressed)';
      }
    }
    return nonEmpty(bytes.toString('utf8')) && bytes.toString('utf8');
  }

  function emitCase(cur: Case): void {
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
