import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/*
 * Proving a folder writable before the first side effect (a push, a test run), so a task never does the work and then
 * finds it cannot keep the record. Mode bits do not say it: root ignores them, while a read-only mount (EROFS) or an
 * immutable folder (chattr +i, EPERM) refuses root too. So the proof is a real write, and it leaves nothing behind.
 */

/** Node's error codes for a refused write, in words. */
const REFUSALS: Record<string, string> = {
  EROFS: 'it is on a read-only file system',
  EACCES: 'permission denied',
  EPERM: 'the operating system refused it (an immutable or protected folder)',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'it runs through a loop of symbolic links',
  // mkdir under /proc or another pseudo file system.
  ENOENT: 'the file system does not allow it',
};

function refusal(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return REFUSALS[code] ? `${REFUSALS[code]} (${code})` : (error as Error).message;
}

/** The folders from `folder` up to (not including) the first one that exists, deepest first. */
function missingFolders(folder: string): { missing: string[]; existing: string; stat: fs.Stats } {
  const missing: string[] = [];
  let current = folder;
  for (;;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(current);
    } catch (error) {
      // ENOTDIR: a file further up; it is found (and named) on the way up.
      if (!['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    if (stat) return { missing, existing: current, stat };
    const parent = path.dirname(current);
    if (parent === current) throw new Error(`no part of '${folder}' exists`);
    missing.push(current);
    current = parent;
  }
}

/**
 * Why files cannot be written in `folder`, or undefined when they can. The folder need not exist: it is created as a
 * later write would create it, a probe file is written and removed, and the folders made for the probe are removed
 * again. `folder` must be absolute. The reason is one line: `'/x' is a file, not a folder`, `cannot write in '/x':
 * it is on a read-only file system (EROFS)`.
 */
export function folderWriteProblem(folder: string): string | undefined {
  let found: ReturnType<typeof missingFolders>;
  try {
    found = missingFolders(folder);
  } catch (error) {
    return `cannot look at '${folder}': ${refusal(error)}`;
  }
  const { missing, existing, stat } = found;
  if (!stat.isDirectory()) {
    return existing === folder
      ? `'${folder}' is a file, not a folder`
      : `'${existing}' is a file, so the folder '${folder}' cannot be made`;
  }
  const made: string[] = [];
  let step = folder;
  try {
    for (const dir of [...missing].reverse()) {
      step = dir;
      fs.mkdirSync(dir);
      made.unshift(dir);
    }
    step = folder;
    const probe = path.join(folder, `.outerloop-write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.writeFileSync(probe, '', { flag: 'wx' });
    fs.unlinkSync(probe);
    return undefined;
  } catch (error) {
    return step === folder && made.length === missing.length
      ? `cannot write in '${folder}': ${refusal(error)}`
      : `cannot make the folder '${step}': ${refusal(error)}`;
  } finally {
    for (const dir of made) fs.rmdirSync(dir);
  }
}

/**
 * Why the existing file `file` cannot be replaced by a write, or undefined when it can (or does not exist). It is opened
 * for writing and closed, changing nothing: an immutable file or one on a read-only mount refuses the open.
 */
export function fileWriteProblem(file: string): string | undefined {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (stat.isDirectory()) return `'${file}' is a folder, not a file`;
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND));
    return undefined;
  } catch (error) {
    return `cannot write '${file}': ${refusal(error)}`;
  }
}
