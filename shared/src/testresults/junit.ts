import * as path from 'node:path';
import type { AttachmentRef, RunInfo, TestOutcome } from './model';
import {
  attachmentRef,
  attr,
  clip,
  firstLine,
  isoDate,
  nonEmpty,
  secondsToMs,
  type FormatReader,
  type ReaderContext,
} from './reader';
import type { XmlAttributes } from './xml';

interface OpenCase {
  depth: number;
  attrs: XmlAttributes;
  outcome: TestOutcome;
  /** Which child's text we are waiting for. */
  awaiting?: 'failure' | 'skipped';
  message?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
}

// Jenkins' attachments convention, also written by several JUnit reporters into system-out/err.
const ATTACHMENT_MARK = /\[\[ATTACHMENT\|([^\]\r\n]+)\]\]/g;

/**
 * JUnit XML in its dialects (Ant/Surefire/Gradle, jest-junit, pytest, go-junit-report, PHPUnit, TestNG, mocha):
 * every `<testcase>` at any depth; a `<failure>` or `<error>` child fails it, a `<skipped>` child skips it.
 * Header counts (`tests=`, `failures=`) are ignored: trimmed and hand-edited files get them wrong.
 */
export function junitReader(ctx: ReaderContext): FormatReader {
  const run: RunInfo = { format: 'junit', attachments: [] };
  const suites: string[] = [];
  let current: OpenCase | undefined;
  const { limits } = ctx;

  return {
    run,
    open(name, attrs, depth) {
      const cur = current;
      if (cur) {
        if (depth !== cur.depth + 1) return;
        switch (name) {
          case 'failure':
          case 'error':
            if (cur.outcome === 'Failed') return;
            cur.outcome = 'Failed';
            cur.awaiting = 'failure';
            cur.message = clip(ctx, nonEmpty(attrs.message), limits.maxMessageBytes, 'error message');
            return limits.maxStackTraceBytes;
          case 'skipped':
            if (cur.outcome === 'Failed') return;
            cur.outcome = 'NotExecuted';
            cur.awaiting = 'skipped';
            cur.message = clip(ctx, nonEmpty(attrs.message), limits.maxMessageBytes, 'skip message');
            return limits.maxMessageBytes;
          case 'system-out':
          case 'system-err':
            return limits.maxOutputBytes;
        }
        return;
      }
      if (name === 'testsuite') {
        suites.push(attrs.name ?? '');
        run.startedDate ??= isoDate(attrs.timestamp);
      } else if (name === 'testcase') {
        current = { depth, attrs, outcome: 'Passed' };
      }
    },
    close(name, depth, text, truncated) {
      const cur = current;
      if (!cur) {
        if (name === 'testsuite') suites.pop();
        return;
      }
      if (depth === cur.depth) {
        current = undefined;
        emitCase(cur);
        return;
      }
      if (depth !== cur.depth + 1 || text === undefined) return;
      if ((name === 'failure' || name === 'error') && cur.awaiting === 'failure') {
        if (truncated) ctx.truncated('stack trace');
        cur.stackTrace = nonEmpty(text);
        cur.awaiting = undefined;
      } else if (name === 'skipped' && cur.awaiting === 'skipped') {
        if (truncated) ctx.truncated('skip message');
        cur.message ??= nonEmpty(text);
        cur.awaiting = undefined;
      } else if (name === 'system-out' || name === 'system-err') {
        if (truncated) ctx.truncated('output');
        const key = name === 'system-out' ? 'stdout' : 'stderr';
        cur[key] = cur[key] ? `${cur[key]}\n${text}` : nonEmpty(text) && text;
      }
    },
  };

  function emitCase(cur: OpenCase): void {
    const { attrs } = cur;
    const title = clip(ctx, attr(attrs, 'name') ?? '(unnamed test)', limits.maxNameChars, 'test name')!;
    const className = attr(attrs, 'classname');
    const fullName = clip(ctx, className ? `${className}.${title}` : title, limits.maxNameChars, 'test name')!;
    const storage = className ?? nonEmpty(suites[suites.length - 1]) ?? path.basename(ctx.file);
    let errorMessage = cur.message;
    if (cur.outcome === 'Failed' && !errorMessage) errorMessage = firstLine(cur.stackTrace);
    ctx.emit({
      title,
      fullName,
      storage: clip(ctx, storage, limits.maxNameChars, 'test name'),
      outcome: cur.outcome,
      durationMs: secondsToMs(attrs.time),
      errorMessage: clip(ctx, errorMessage, limits.maxMessageBytes, 'error message'),
      stackTrace: cur.stackTrace,
      stdout: cur.stdout,
      stderr: cur.stderr,
      attachments: attachmentsIn(cur.stdout, cur.stderr),
    });
  }

  function attachmentsIn(...texts: (string | undefined)[]): AttachmentRef[] | undefined {
    let found: AttachmentRef[] | undefined;
    for (const text of texts) {
      if (!text || !text.includes('[[ATTACHMENT|')) continue;
      for (const match of text.matchAll(ATTACHMENT_MARK)) {
        (found ??= []).push(attachmentRef(ctx, match[1], ['.']));
      }
    }
    return found;
  }
}
