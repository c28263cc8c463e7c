import * as path from 'node:path';
import type { AttachmentRef, ResultFormat, RunInfo, TestResult } from './model';
import type { XmlAttributes, XmlHandler } from './xml';

/**
 * Caps on what one result may carry. Result files are untrusted: without them one 50 MB stack trace, or a million
 * results each with a megabyte of output, would be held in memory and sent to Azure DevOps.
 */
export interface ResultLimits {
  /** An error message (assertion text). */
  maxMessageBytes: number;
  /** A stack trace, or a failure body that serves as one. */
  maxStackTraceBytes: number;
  /** Standard output or error of one result. */
  maxOutputBytes: number;
  /** Test titles and names; Azure DevOps stores `automatedTestName` in a bounded column. */
  maxNameChars: number;
  /** TRX test definitions remembered to name results (one small entry per test). */
  maxTrxDefinitions: number;
}

export const DEFAULT_RESULT_LIMITS: ResultLimits = {
  maxMessageBytes: 32 * 1024,
  maxStackTraceBytes: 64 * 1024,
  maxOutputBytes: 64 * 1024,
  maxNameChars: 512,
  maxTrxDefinitions: 200_000,
};

/** A TRX `TestDefinitions/UnitTest` entry, to give results their class and assembly. */
export interface TrxDefinition {
  className?: string;
  method?: string;
  storage?: string;
}

export interface ReaderContext {
  /** The result file, absolute. */
  file: string;
  limits: ResultLimits;
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
