// api mode, the second pass over a run's files: results go to "Results - Add" in batches, a few at once, and each
// failing result gets its console log; then the run's own attachments. The file is streamed: the reader fills a
// wave of MAX_BATCHES_IN_FLIGHT batches, which go out together, and waits for them.
import * as path from 'node:path';
import type { Log } from '../log';
import {
  consoleLog,
  loadAttachment,
  MAX_ATTACHMENT_BYTES,
  MAX_ATTACHMENTS_PER_RUN,
  MAX_CONSOLE_BYTES_PER_RUN,
  MAX_CONSOLE_LOGS_PER_RUN,
  mib,
} from './attachments';
import { FORMAT_LABELS, outcomeClass, type AttachmentRef, type SubResult, type TestResult } from './model';
import { readResultFile, ResultFileError, type ParsedFile } from './parse';
import type { PostedSubResult, TestRunSession } from './publisher';
import type { ResultLimits } from './reader';
import type { SummaryCollector } from './summary';

/**
 * "Results - Add" calls sent at once. Batches go out in waves: the reader fills a wave, the wave's calls run
 * concurrently, and reading resumes when all are back. Reading on while calls are on the wire keeps their batches
 * alive across garbage collections: on the 1M-case file that cost 8-12 MiB of peak RSS, where a wave of 2 cost none
 * over one call at a time and a wave of 3 about 9 MiB (test/integration/testresults-large.test.ts, bench/results).
 */
export const MAX_BATCHES_IN_FLIGHT = 2;

/**
 * Runs tasks in waves of at most `limit`, concurrently within a wave; the first failure of a wave is thrown to
 * whoever added its last task. A cancel ends the wait for a wave at once: a call that never answers does not hold
 * the job.
 */
class Waves {
  private queued: (() => Promise<void>)[] = [];
  private wave: Promise<PromiseSettledResult<void>[]> | undefined;
  private readonly cancelled: Promise<void>;
  private onAbort: (() => void) | undefined;

  constructor(
    private readonly limit: number,
    private readonly signal?: AbortSignal,
  ) {
    this.cancelled = new Promise<void>((resolve) => {
      this.onAbort = () => resolve();
      signal?.addEventListener('abort', this.onAbort, { once: true });
    });
  }

  /** Stops listening to the signal (one run's waves should not outlive the run). */
  close(): void {
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }

  /** Queues a task; a full wave is sent, and waited for. */
  async add(task: () => Promise<void>): Promise<void> {
    this.queued.push(task);
    if (this.queued.length >= this.limit) await this.send();
  }

  /** Sends what is queued and waits for it; throws the first failure. */
  async send(): Promise<void> {
    const tasks = this.queued.splice(0);
    if (tasks.length === 0) return;
    const wave = Promise.allSettled(tasks.map((task) => task()));
    this.wave = wave;
    await Promise.race([wave, this.cancelled]);
    this.signal?.throwIfAborted();
    this.wave = undefined;
    const failed = (await wave).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Waits for the wave on the wire, whatever its outcome. */
  async settle(): Promise<void> {
    await this.wave;
  }
}

export interface PostRunOptions {
  session: TestRunSession;
  /** The run's files, as the first pass read them (definitions, rerun counts). */
  files: ParsedFile[];
  attach: boolean;
  /** The folder attachments must lie in, per result file. */
  rootOf: (file: string) => string;
  display: (file: string) => string;
  limits: ResultLimits;
  /** Every posted result is added to it: the summary says what was published. */
  summary: SummaryCollector;
  log: Log;
  signal?: AbortSignal;
}

/** Posts every result of a run's files, with attachments; returns the files as this pass read them. */
export async function postRun(options: PostRunOptions): Promise<ParsedFile[]> {
  const { session, attach, log, limits, signal } = options;
  const waves = new Waves(MAX_BATCHES_IN_FLIGHT, signal);
  let attachments = 0;
  let consoleLogs = 0;
  let consoleBytes = 0;
  let consoleLogsSkipped = 0;

  const attachFile = async (
    ref: AttachmentRef | string,
    root: string,
    owner: string,
    upload: (bytes: Buffer, name: string) => Promise<void>,
  ) => {
    const name = typeof ref === 'string' ? path.basename(ref) : path.basename(ref.name.replace(/\\/g, '/'));
    const shown = typeof ref === 'string' ? options.display(ref) : ref.name;
    if (attachments >= MAX_ATTACHMENTS_PER_RUN) {
      log.warn(`attachment '${shown}' of ${owner} was not attached: the run already has ${MAX_ATTACHMENTS_PER_RUN} attachments`);
      return;
    }
    const loaded = await loadAttachment(ref, root, MAX_ATTACHMENT_BYTES);
    if (!loaded.ok) {
      log.warn(`attachment '${shown}' of ${owner} was not attached: it ${loaded.reason}`);
      return;
    }
    attachments++;
    await upload(loaded.bytes, name);
  };

  /** The console log of a failed result or sub-result, within the per-run caps. */
  const attachConsole = async (text: SubResult | TestResult, resultId: number, subResultId?: number) => {
    if (outcomeClass(text.outcome) !== 'failed') return;
    if (consoleLogs >= MAX_CONSOLE_LOGS_PER_RUN || consoleBytes >= MAX_CONSOLE_BYTES_PER_RUN) {
      if (consoleLog(text)) consoleLogsSkipped++;
      return;
    }
    const bytes = consoleLog(text);
    if (!bytes) return;
    if (consoleBytes + bytes.length > MAX_CONSOLE_BYTES_PER_RUN) {
      consoleLogsSkipped++;
      consoleBytes = MAX_CONSOLE_BYTES_PER_RUN;
      return;
    }
    consoleLogs++;
    consoleBytes += bytes.length;
    await session.addResultAttachment(resultId, { fileName: 'Standard_Console_Output.log', bytes, kind: 'ConsoleLog' }, subResultId);
  };

  const attachSubResults = async (subs: SubResult[] | undefined, posted: PostedSubResult[] | undefined, resultId: number) => {
    if (!subs || !posted) return;
    for (let i = 0; i < subs.length; i++) {
      const id = posted[i]?.id;
      if (id === undefined || id < 0) continue;
      await attachConsole(subs[i], resultId, id);
      await attachSubResults(subs[i].subResults, posted[i].subResults, resultId);
    }
  };

  const read: ParsedFile[] = [];
  try {
    for (const first of options.files) {
      const root = options.rootOf(first.file);
      const parsed = await readResultFile(
        first.file,
        async (batch: TestResult[]) => {
          signal?.throwIfAborted();
          for (const result of batch) options.summary.add(result);
          await waves.add(async () => {
            const posted = await session.addResults(batch, first.format);
            if (!attach || !posted) return;
            for (let i = 0; i < batch.length; i++) {
              const result = batch[i];
              const id = posted[i]?.id;
              if (id === undefined || id < 0) continue;
              for (const ref of result.attachments ?? []) {
                await attachFile(ref, root, `test '${result.fullName}'`, (bytes, fileName) =>
                  session.addResultAttachment(id, { fileName, bytes, kind: 'GeneralAttachment' }),
                );
              }
              await attachConsole(result, id);
              await attachSubResults(result.subResults, posted[i].subResults, id);
            }
          });
        },
        {
          formats: [first.format],
          limits,
          trxDefinitions: first.trxDefinitions,
          reruns: first.reruns,
          mergeReruns: true,
          signal,
        },
      ).catch((error: unknown) => {
        // The file parsed in the first pass; failing now means it changed meanwhile. The run cannot be half right.
        if (error instanceof ResultFileError) throw new Error(`${error.message} (it changed while it was published)`);
        throw error;
      });
      read.push(parsed);
      if (parsed.rerunsSplit > 0) {
        log.warn(
          `result file '${options.display(first.file)}': the reruns of ${parsed.rerunsSplit} tests came too far apart to be held at once; ` +
            'each of those tests is published as more than one result',
        );
      }
    }
    await waves.send();
  } catch (error) {
    // A cancelled job does not wait for requests that may never answer; anything else lets them end first, so the
    // run is not marked aborted while results are still arriving.
    if (!signal?.aborted) await waves.settle();
    throw error;
  } finally {
    waves.close();
  }

  if (attach) {
    for (const parsed of read) {
      const root = options.rootOf(parsed.file);
      const owner = `'${options.display(parsed.file)}'`;
      await attachFile(parsed.file, path.dirname(parsed.file), owner, (bytes, fileName) =>
        session.addRunAttachment({ fileName, bytes, kind: 'GeneralAttachment', comment: `${FORMAT_LABELS[parsed.format]} result file` }),
      );
      for (const ref of parsed.run.attachments) {
        const coverage = /\.(coverage|cobertura\.xml)$/i.test(ref.name);
        await attachFile(ref, root, owner, (bytes, fileName) =>
          session.addRunAttachment({ fileName, bytes, kind: coverage ? 'CodeCoverage' : 'GeneralAttachment' }),
        );
      }
    }
  }
  if (consoleLogsSkipped > 0) {
    log.warn(
      `the console output of ${consoleLogsSkipped} more failed tests was not attached ` +
        `(at most ${MAX_CONSOLE_LOGS_PER_RUN} logs and ${mib(MAX_CONSOLE_BYTES_PER_RUN)} per run)`,
    );
  }
  return read;
}
