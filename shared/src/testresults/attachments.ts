import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AttachmentRef } from './model';

/**
 * Largest file attached to a run or result. The REST API takes an attachment as one base64 JSON body (the SDK
 * builds it in memory, about 3× the file), so this cap keeps a publish inside its memory budget; larger files are
 * skipped with a warning naming them.
 */
export const MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024;
/** Files attached per run (result files, TRX/NUnit attachments): each one is a request. */
export const MAX_ATTACHMENTS_PER_RUN = 500;
/**
 * Console logs attached per run, one request each: failing tests' output (and that of failed rows and attempts).
 * A person reads the first failures; a run with more failing tests than this has its further logs counted only.
 */
export const MAX_CONSOLE_LOGS_PER_RUN = 1000;
/** One console log: its first and last halves are kept, the cut said between. */
export const MAX_CONSOLE_LOG_BYTES = 64 * 1024;
/** Console logs of one run together; past this they are counted, not attached. */
export const MAX_CONSOLE_BYTES_PER_RUN = 50 * 1024 * 1024;
/**
 * The REST docs give `stackTrace` 1000 characters (TestCaseResult): a longer stack trace or message is also put in
 * the console log whole (up to its cap), so nothing a person needs is lost to the field.
 */
export const ERROR_FIELD_CHARS = 1000;

/** What a failed result or sub-result has to say beyond its fields. */
export interface ConsoleText {
  stdout?: string;
  stderr?: string;
  errorMessage?: string;
  stackTrace?: string;
}

/** `bytes` cut to `max`: the first and the last half kept, on character boundaries, the cut said between. */
export function headAndTail(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  const marker = Buffer.from(`\n[… ${bytes.length - max} bytes cut: the log is longer than ${mib(max)} …]\n`);
  const keep = Math.max(0, max - marker.length);
  let headEnd = Math.floor(keep / 2);
  while (headEnd > 0 && (bytes[headEnd] & 0xc0) === 0x80) headEnd--;
  let tailStart = bytes.length - (keep - Math.floor(keep / 2));
  while (tailStart < bytes.length && (bytes[tailStart] & 0xc0) === 0x80) tailStart++;
  return Buffer.concat([bytes.subarray(0, headEnd), marker, bytes.subarray(tailStart)]);
}

/**
 * The console log attached to a failed result (`Standard_Console_Output.log`, as the agent names it): its standard
 * output and error, and its error message and stack trace when they are longer than the result's fields keep.
 * Undefined when there is nothing beyond the fields.
 */
export function consoleLog(text: ConsoleText): Buffer | undefined {
  const long = (value: string | undefined) => (value && value.length > ERROR_FIELD_CHARS ? value : undefined);
  const sections: [string, string | undefined][] = [
    ['standard output', text.stdout],
    ['standard error', text.stderr],
    ['error message', long(text.errorMessage)],
    ['stack trace', long(text.stackTrace) ?? (long(text.errorMessage) ? text.stackTrace : undefined)],
  ];
  const present = sections.filter(([, value]) => value && value.trim());
  if (present.length === 0) return undefined;
  const body =
    present.length === 1 && present[0][0] === 'standard output'
      ? present[0][1]!
      : present.map(([title, value]) => `----- ${title} -----\n${value}`).join('\n');
  return headAndTail(Buffer.from(body, 'utf8'), MAX_CONSOLE_LOG_BYTES);
}

export type LoadedAttachment = { ok: true; path: string; bytes: Buffer } | { ok: false; reason: string };

function inside(root: string, file: string): boolean {
  const relative = path.relative(root, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * Reads a file a result file points to. Result files are untrusted: the file must resolve (symbolic links
 * followed) to a regular file inside `root`, so `../../home/agent/.ssh/id_rsa` or `/etc/passwd` named in a
 * result file is never uploaded.
 */
export async function loadAttachment(
  ref: AttachmentRef | string,
  root: string,
  maxBytes: number = MAX_ATTACHMENT_BYTES,
): Promise<LoadedAttachment> {
  const candidates = typeof ref === 'string' ? [ref] : ref.candidates;
  let realRoot: string;
  try {
    realRoot = await fs.promises.realpath(root);
  } catch {
    return { ok: false, reason: 'was not found (the results folder is gone)' };
  }
  let outside = false;
  for (const candidate of candidates) {
    let real: string;
    try {
      real = await fs.promises.realpath(candidate);
    } catch {
      continue;
    }
    if (!inside(realRoot, real)) {
      outside = true;
      continue;
    }
    const handle = await fs.promises.open(real, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0)).catch(() => undefined);
    if (!handle) continue;
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) return { ok: false, reason: 'is not a regular file' };
      if (stat.size > maxBytes) {
        return { ok: false, reason: `is ${mib(stat.size)}, over the ${mib(maxBytes)} attachment cap` };
      }
      // Read at most cap + 1 bytes: a file that grows meanwhile is still refused, never read without bound.
      const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length === buffer.length) break;
      }
      if (length > maxBytes) return { ok: false, reason: `grew over the ${mib(maxBytes)} attachment cap while read` };
      return { ok: true, path: real, bytes: buffer.subarray(0, length) };
    } finally {
      await handle.close();
    }
  }
  return { ok: false, reason: outside ? 'is outside the results folder' : 'was not found' };
}

export function mib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`
    : `${Math.ceil(bytes / 1024)} KiB`;
}
