import * as path from 'node:path';
import type { AttachmentRef, ResultFormat, RuleSet, RunInfo, SubResult, TestResult } from './model';
import { MAX_SUB_RESULT_LEVELS, MAX_SUB_RESULTS_PER_LEVEL } from './model';
import type { HeadAndTail, XmlAttributes, XmlHandler } from './xml';

/**
 * Caps on what one result may carry. Result files are untrusted: without them one 50 MB stack trace, or a million
 * results each with a megabyte of output, would be held in memory and sent to Azure DevOps.
 */
export interface ResultLimits {
  /** An error message (assertion text). */
  maxMessageBytes: number;
  /** A stack trace, or a failure body that serves as one. */
  maxStackTraceBytes: number;
  /** Standard output or error of one result: its first and last halves are kept, the cut said between. */
  maxOutputBytes: number;
  /**
   * Text (messages, stack traces, output) of all the sub-results of one result together; past it, rows and attempts
   * keep their names and outcomes only. A data-driven test may have a thousand rows.
   */
  maxSubResultTextBytes: number;
  /** Test titles and names; Azure DevOps stores `automatedTestName` in a bounded column. */
  maxNameChars: number;
  /** TRX test definitions remembered to name results (one small entry per test). */
  maxTrxDefinitions: number;
}

export const DEFAULT_RESULT_LIMITS: ResultLimits = {
  maxMessageBytes: 32 * 1024,
  maxStackTraceBytes: 64 * 1024,
  maxOutputBytes: 64 * 1024,
  maxSubResultTextBytes: 256 * 1024,
  maxNameChars: 512,
  maxTrxDefinitions: 200_000,
};

/** A TRX `TestDefinitions` entry, to give results their class and assembly. */
export interface TrxDefinition {
  className?: string;
  method?: string;
  storage?: string;
  /**
   * The name the agent gives results of this test (`TestMethod` className up to its first comma, a dot and its name;
   * else the definition's `name`); a result whose definition gives none is dropped under the agent's rules.
   */
  agentName?: string;
}

/**
 * A file the rules say cannot be read as a whole (the agent's reader fails on it): the file is a warning naming it
 * and none of it is published.
 */
export class UnreadableFileError extends Error {
  override name = 'UnreadableFileError';
}

export interface ReaderContext {
  /** The result file, absolute. */
  file: string;
  limits: ResultLimits;
  /** Which rules decide what is a result and its outcome (README.md beside this file). */
  rules: RuleSet;
  emit(result: TestResult): void;
  /** A field was longer than its cap and was cut. */
  truncated(what: string): void;
  /** TRX: definitions from an earlier pass (results come before definitions in most TRX files). */
  trxDefinitions?: Map<string, TrxDefinition>;
  /** TRX: set to collect definitions during this pass. */
  collectTrxDefinitions?: Map<string, TrxDefinition>;
}

/** One format's reader: an XML handler that emits results and ends with the run's facts. */
export interface FormatReader extends XmlHandler {
  readonly run: RunInfo;
  /** The file ended (well-formed); throws UnreadableFileError when the rules cannot read it as a whole. */
  end?(): void;
}

export function clip(ctx: ReaderContext, value: string | undefined, max: number, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.length <= max) return value;
  ctx.truncated(what);
  return value.slice(0, max);
}

/** Trims and drops empty text. */
export function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

/** First non-empty line, for a failure whose tool gave no separate message. */
export function firstLine(text: string | undefined): string | undefined {
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed) return trimmed;
  }
  return undefined;
}

/**
 * Seconds as result files write them → milliseconds. A comma is a thousands separator when a dot is also present
 * (Surefire's `2,120.532`, SUREFIRE-2176), otherwise a decimal comma (TestNG in a German locale).
 */
export function secondsToMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  let text = value.trim();
  if (text.includes(',')) text = text.includes('.') ? text.replace(/,/g, '') : text.replace(',', '.');
  const seconds = Number(text);
  return text && Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : undefined;
}

/** A timestamp as an ISO string, or undefined when it is not one JavaScript can read. */
export function isoDate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const trimmed = value.trim().replace(/ UTC$/, 'Z');
  const time = Date.parse(trimmed);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** The last segment of a path written on any OS. */
export function baseName(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const parts = value.split(/[\\/]/);
  return nonEmpty(parts[parts.length - 1]);
}

/**
 * Where a file named in a result file may be. Names are relative to `bases` (folders, tried in order); an absolute
 * name is tried as it is and, since it was usually written inside the container, by its base name beside the file.
 * Confinement to the results folder is checked when the file is read, not here.
 */
export function attachmentRef(ctx: ReaderContext, name: string, bases: string[]): AttachmentRef {
  const portable = name.trim().replace(/\\/g, '/');
  const dir = path.dirname(ctx.file);
  const candidates: string[] = [];
  if (path.isAbsolute(portable) || /^[A-Za-z]:\//.test(portable)) {
    if (path.isAbsolute(portable)) candidates.push(path.normalize(portable));
    const base = baseName(portable);
    if (base) candidates.push(path.join(dir, base));
  } else {
    for (const base of bases) candidates.push(path.resolve(dir, base, portable));
  }
  return { name: name.trim(), candidates: [...new Set(candidates)] };
}

/** What readers ask the tokenizer for console output: its head and its tail. */
export function outputBudget(limits: ResultLimits): HeadAndTail {
  return { headAndTail: limits.maxOutputBytes };
}

/** The attribute as written, or undefined when absent: the agent's readers test `IsNullOrEmpty`, not trimmed. */
export function rawAttr(attrs: XmlAttributes, name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(attrs, name) ? attrs[name] : undefined;
}

/** Case-insensitive equality, as the agent's readers compare outcome values (`StringComparison.OrdinalIgnoreCase`). */
export function same(value: string | undefined, expected: string): boolean {
  return value !== undefined && value.toLowerCase() === expected.toLowerCase();
}

/**
 * Collects the sub-results of one result within the service's limits (MAX_SUB_RESULTS_PER_LEVEL per level,
 * MAX_SUB_RESULT_LEVELS deep) and the text budget; what does not fit is counted as cut.
 */
export class SubResultBudget {
  private textLeft: number;
  constructor(private readonly ctx: ReaderContext) {
    this.textLeft = ctx.limits.maxSubResultTextBytes;
  }

  /** Adds `sub` to `list` (at nesting `level`, 1 for a result's own sub-results); false when it did not fit. */
  add(list: SubResult[], sub: SubResult, level: number): boolean {
    if (level > MAX_SUB_RESULT_LEVELS) {
      this.ctx.truncated('sub-result level');
      return false;
    }
    if (list.length >= MAX_SUB_RESULTS_PER_LEVEL) {
      this.ctx.truncated('sub-result');
      return false;
    }
    const text = (sub.errorMessage?.length ?? 0) + (sub.stackTrace?.length ?? 0) + (sub.stdout?.length ?? 0) + (sub.stderr?.length ?? 0);
    if (text > this.textLeft) {
      if (text > 0) this.ctx.truncated('sub-result text');
      sub.errorMessage = sub.errorMessage?.slice(0, Math.min(200, this.textLeft));
      sub.stackTrace = undefined;
      sub.stdout = undefined;
      sub.stderr = undefined;
      this.textLeft -= sub.errorMessage?.length ?? 0;
    } else {
      this.textLeft -= text;
    }
    list.push(sub);
    return true;
  }
}

/** Readers track their own element path where a name alone is ambiguous (`message` under `failure` or `reason`). */
export class ElementPath {
  private readonly names: string[] = [];
  push(name: string): void {
    this.names.push(name);
  }
  pop(): void {
    this.names.pop();
  }
  /** The name `up` levels above the current element (1 = parent). */
  at(up: number): string | undefined {
    return this.names[this.names.length - 1 - up];
  }
}

export type ReaderFactory = (ctx: ReaderContext) => FormatReader;

export function attr(attrs: XmlAttributes, name: string): string | undefined {
  return nonEmpty(attrs[name]);
}

export type { ResultFormat };
