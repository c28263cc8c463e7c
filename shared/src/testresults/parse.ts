import * as fs from 'node:fs';
import * as path from 'node:path';
import { TextDecoder } from 'node:util';
import { ctestReader } from './ctest';
import { junitReader } from './junit';
import {
  countResult,
  emptyCounts,
  FORMAT_LABELS,
  type ResultCounts,
  type ResultFormat,
  type RuleSet,
  type RunInfo,
  type TestResult,
} from './model';
import { nunitReader } from './nunit';
import {
  DEFAULT_RESULT_LIMITS,
  type FormatReader,
  type ReaderContext,
  type ReaderFactory,
  type ResultLimits,
  type TrxDefinition,
  UnreadableFileError,
} from './reader';
import { RerunCounter, RerunMerger } from './reruns';
import { trxReader } from './trx';
import { DEFAULT_XML_LIMITS, XmlError, XmlTokenizer, type XmlHandler, type XmlLimits } from './xml';
import { xunitReader } from './xunit';

/** Azure DevOps takes at most 1000 results per "Results - Add" call. */
export const MAX_BATCH_RESULTS = 1000;
/**
 * Results per batch by default. The SDK pretty-prints each request and holds its results until the answer comes,
 * long enough for V8 to promote them; 500 keeps a million-result publish near 130 MiB of peak RSS where 1000 gives
 * about 140 MiB, for twice the requests (measured with test/integration/testresults-large.test.ts).
 */
export const DEFAULT_BATCH_RESULTS = 500;
/** A batch is also cut when its text adds up to this, so a batch of wordy results (long stack traces) stays small. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/** Read size: per-chunk overhead is already negligible here, and every result a chunk holds is in memory at once. */
const CHUNK_BYTES = 64 * 1024;
/** Bytes looked at to tell the encoding: an XML declaration fits well within. */
const SNIFF_BYTES = 512;

/** A result file that cannot be read or parsed; the message names the file and the problem, never its content. */
export class ResultFileError extends Error {
  override name = 'ResultFileError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`result file '${file}' ${problem}`);
  }
}

const ROOT_ELEMENTS: Record<string, ResultFormat> = {
  testsuites: 'junit',
  testsuite: 'junit',
  TestRun: 'trx',
  'test-run': 'nunit3',
  'test-results': 'nunit2',
  assemblies: 'xunit2',
  assembly: 'xunit2',
  Site: 'ctest',
};

/** The format a root element (local name) announces, or undefined for anything else. */
export function formatOfRoot(rootElement: string): ResultFormat | undefined {
  return Object.prototype.hasOwnProperty.call(ROOT_ELEMENTS, rootElement) ? ROOT_ELEMENTS[rootElement] : undefined;
}

const READERS: Record<ResultFormat, ReaderFactory> = {
  junit: junitReader,
  trx: trxReader,
  nunit2: nunitReader('nunit2'),
  nunit3: nunitReader('nunit3'),
  xunit2: xunitReader,
  ctest: ctestReader,
};

export interface ReadResultsOptions {
  /** Which rules decide what is a result and its outcome (default `api`). */
  rules?: RuleSet;
  /** Formats to accept (from `testResultsFormat`); undefined detects any. */
  formats?: ResultFormat[];
  /** At most this many results per batch (default 500, at most 1000). */
  batchSize?: number;
  maxBatchBytes?: number;
  limits?: Partial<ResultLimits>;
  xmlLimits?: Partial<XmlLimits>;
  /** TRX: definitions collected by an earlier pass over the same file. */
  trxDefinitions?: Map<string, TrxDefinition>;
  /** TRX: collect definitions in this pass (returned in `ParsedFile.trxDefinitions`). */
  collectTrxDefinitions?: boolean;
  /**
   * TRX reruns (api rules): a counter to fill (the first pass), or, with `mergeReruns`, the counter an earlier pass
   * filled, so that attempts of one test are merged into one result.
   */
  reruns?: RerunCounter;
  mergeReruns?: boolean;
  /** Told the format as soon as the root element says it, before any result. */
  onFormat?: (format: ResultFormat) => void;
  /** Read size (default 64 KiB); tests use tiny ones to cut tokens at every possible place. */
  chunkBytes?: number;
  signal?: AbortSignal;
}

export interface ParsedFile {
  file: string;
  format: ResultFormat;
  run: RunInfo;
  counts: ResultCounts;
  /** Results that failed on an attempt and passed on a rerun (counted as passed). */
  flaky: number;
  /** TRX reruns (api rules): the first pass's counter, for the pass that publishes. */
  reruns?: RerunCounter;
  /** Tests whose rerun attempts could not all be held at once, published as more than one result. */
  rerunsSplit: number;
  /** Fields cut to their cap, by kind ('stack trace', 'output', …). */
  truncated: Record<string, number>;
  trxDefinitions?: Map<string, TrxDefinition>;
}

/** Rough in-memory size of a result, to cut batches by bytes as well as by count. */
function resultBytes(result: TestResult): number {
  return (
    200 +
    result.title.length +
    result.fullName.length +
    (result.storage?.length ?? 0) +
    (result.errorMessage?.length ?? 0) +
    (result.stackTrace?.length ?? 0) +
    (result.stdout?.length ?? 0) +
    (result.stderr?.length ?? 0)
  );
}

/**
 * Turns the raw bytes into UTF-8 for the tokenizer. UTF-8 (with or without BOM) passes through untouched; UTF-16
 * (by BOM or by its `<` byte pattern) and declared single-byte encodings are transcoded chunk by chunk.
 */
function decoderFor(head: Buffer): ((chunk: Buffer, last: boolean) => Buffer) | undefined {
  let label: string | undefined;
  if (head[0] === 0xff && head[1] === 0xfe) label = 'utf-16le';
  else if (head[0] === 0xfe && head[1] === 0xff) label = 'utf-16be';
  else if (head[0] === 0x3c && head[1] === 0x00) label = 'utf-16le';
  else if (head[0] === 0x00 && head[1] === 0x3c) label = 'utf-16be';
  else {
    const declaration = /^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']/.exec(
      head.toString('latin1', 0, Math.min(head.length, 512)),
    );
    const declared = declaration?.[1].toLowerCase();
    if (declared && !['utf-8', 'utf8', 'us-ascii', 'ascii'].includes(declared)) label = declared;
  }
  if (!label) return undefined;
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label);
  } catch {
    throw new XmlError(`declares an encoding this reader does not know ('${label}')`);
  }
  return (chunk, last) => Buffer.from(decoder.decode(chunk, { stream: !last }), 'utf8');
}

/**
 * Reads one result file as a stream and hands its results to `onBatch` in batches (500 by default, never more
 * than 1000 or about 1 MiB of text; never the whole file in memory); the stream waits while `onBatch` works. Throws `ResultFileError` for a file that is
 * not a readable, well-formed result file of an accepted format — possibly after some batches went out, so
 * callers that must not publish half a file read it once without publishing first.
 */
export async function readResultFile(
  file: string,
  onBatch: (batch: TestResult[]) => void | Promise<void>,
  options: ReadResultsOptions = {},
): Promise<ParsedFile> {
  const limits: ResultLimits = { ...DEFAULT_RESULT_LIMITS, ...options.limits };
  const xmlLimits: XmlLimits = { ...DEFAULT_XML_LIMITS, ...options.xmlLimits };
  const rules = options.rules ?? 'api';
  let flaky = 0;
  const batchSize = Math.max(1, Math.min(options.batchSize ?? DEFAULT_BATCH_RESULTS, MAX_BATCH_RESULTS));
  const maxBatchBytes = options.maxBatchBytes ?? MAX_BATCH_BYTES;
  const counts = emptyCounts();
  const truncated: Record<string, number> = {};
  const ready: TestResult[][] = [];
  let pending: TestResult[] = [];
  let pendingBytes = 0;
  const collected = options.collectTrxDefinitions ? new Map<string, TrxDefinition>() : undefined;

  const add = (result: TestResult) => {
    countResult(counts, result.outcome);
    if (result.flaky) flaky++;
    pending.push(result);
    pendingBytes += resultBytes(result);
    if (pending.length >= batchSize || pendingBytes >= maxBatchBytes) {
      ready.push(pending);
      pending = [];
      pendingBytes = 0;
    }
  };
  let merger: RerunMerger | undefined;
  const ctx: ReaderContext = {
    file,
    limits,
    rules,
    emit(result) {
      if (merger) merger.add(result);
      else {
        if (result.rerunKey !== undefined && !options.mergeReruns) options.reruns?.add(result.rerunKey);
        add(result);
      }
    },
    truncated(what) {
      truncated[what] = (truncated[what] ?? 0) + 1;
    },
    trxDefinitions: options.trxDefinitions,
    collectTrxDefinitions: collected,
  };
  if (options.mergeReruns && options.reruns && options.reruns.repeated > 0) merger = new RerunMerger(options.reruns, ctx, add);

  let reader: FormatReader | undefined;
  let format: ResultFormat | undefined;
  const handler: XmlHandler = {
    open(name, attrs, depth) {
      if (!reader) {
        format = formatOfRoot(name);
        if (!format) throw new XmlError(`is not a test result file (its root element is <${name.slice(0, 64)}>)`);
        if (options.formats && !options.formats.includes(format)) {
          throw new XmlError(`is a ${FORMAT_LABELS[format]} file (root <${name}>), not ${options.formats.map((f) => FORMAT_LABELS[f])[0]}`);
        }
        reader = READERS[format](ctx);
        // The agent's TRX reader loads with XmlDocument.LoadXml, which reads `&#x1B;`; its other readers use
        // XmlReader.Create, which refuses a reference to a character XML does not allow.
        if (rules === 'agent' && format !== 'trx') {
          tokenizer.strictCharacterReferences = true;
          if (Object.values(attrs).some((value) => /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/.test(value))) {
            throw new XmlError('is not well-formed XML: it has a character reference to a character XML does not allow');
          }
        }
        options.onFormat?.(format);
      }
      return reader.open(name, attrs, depth);
    },
    close(name, depth, text, cut) {
      reader!.close(name, depth, text, cut);
    },
  };

  const tokenizer = new XmlTokenizer(handler, xmlLimits);
  try {
    const stat = await fs.promises.stat(file);
    if (!stat.isFile()) throw new ResultFileError(file, 'is not a regular file');
    let decode: ((chunk: Buffer, last: boolean) => Buffer) | undefined;
    // The encoding is decided on the first bytes (BOM, `<` pattern, declaration), gathered across small reads.
    let head: Buffer[] | undefined = [];
    let headBytes = 0;
    const feed = (bytes: Buffer) => tokenizer.write(decode ? decode(bytes, false) : bytes);
    const stream = fs.createReadStream(file, { highWaterMark: options.chunkBytes ?? CHUNK_BYTES });
    try {
      for await (const raw of stream as AsyncIterable<Buffer>) {
        options.signal?.throwIfAborted();
        if (head) {
          head.push(raw);
          headBytes += raw.length;
          if (headBytes < SNIFF_BYTES) continue;
          const start = Buffer.concat(head);
          head = undefined;
          decode = decoderFor(start);
          feed(start);
        } else {
          feed(raw);
        }
        while (ready.length > 0) await onBatch(ready.shift()!);
      }
    } finally {
      stream.destroy();
    }
    if (head) {
      const start = Buffer.concat(head);
      decode = decoderFor(start);
      feed(start);
    }
    if (decode) tokenizer.write(decode(Buffer.alloc(0), true));
    tokenizer.end();
    reader!.end?.();
    merger?.flush();
    if (pending.length > 0) {
      ready.push(pending);
      pending = [];
    }
    while (ready.length > 0) await onBatch(ready.shift()!);
  } catch (error) {
    if (error instanceof ResultFileError) throw error;
    if (error instanceof XmlError || error instanceof UnreadableFileError) throw new ResultFileError(file, error.message);
    const code = (error as NodeJS.ErrnoException).code;
    if (code && typeof code === 'string' && code.startsWith('E')) throw new ResultFileError(file, `cannot be read (${code})`);
    throw error;
  }
  return {
    file,
    format: format!,
    run: reader!.run,
    counts,
    flaky,
    truncated,
    trxDefinitions: collected,
    reruns: options.reruns,
    rerunsSplit: merger?.split ?? 0,
  };
}

/**
 * Reads a file through without keeping its results: counts, run facts, for TRX its definitions and (api rules) how
 * often each test repeats. Under the agent's rules a TRX result without a named definition is dropped, and TRX
 * files define their tests after their results: such a file is read twice, results only from the second pass.
 */
export async function scanResultFile(
  file: string,
  onResult: (result: TestResult) => void,
  options: Omit<ReadResultsOptions, 'collectTrxDefinitions' | 'batchSize' | 'mergeReruns'> = {},
): Promise<ParsedFile> {
  const rules = options.rules ?? 'api';
  let deferred = false;
  const first = await readResultFile(
    file,
    (batch) => {
      if (!deferred) for (const result of batch) onResult(result);
    },
    {
      ...options,
      collectTrxDefinitions: true,
      reruns: rules === 'api' ? (options.reruns ?? new RerunCounter()) : undefined,
      onFormat: (format) => {
        deferred = format === 'trx' && rules === 'agent' && !options.trxDefinitions;
        options.onFormat?.(format);
      },
    },
  );
  if (!deferred) return first;
  const second = await readResultFile(
    file,
    (batch) => {
      for (const result of batch) onResult(result);
    },
    { ...options, trxDefinitions: first.trxDefinitions },
  );
  return { ...second, trxDefinitions: first.trxDefinitions };
}

/** For messages: a path relative to `root` when it lies inside it. */
export function displayPath(file: string, root?: string): string {
  if (!root) return file;
  const relative = path.relative(root, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
