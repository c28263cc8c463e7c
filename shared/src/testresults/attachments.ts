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
/** Failed results whose console output is attached as its own log (one request each). */
export const MAX_CONSOLE_LOGS_PER_RUN = 200;

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
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}
