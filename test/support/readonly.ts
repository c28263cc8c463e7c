// Folders and files that refuse a write from root. Mode bits do not (root ignores them), so tests use what root
// obeys: a read-only bind mount (EROFS) and the immutable attribute (chattr +i, EPERM). Every one made is undone by
// `undoReadOnly`, which a suite calls in its `after` hook.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { needOrSkip } from './env';

const undo: Array<() => void> = [];

function tryRun(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Makes `folder` (created if missing) a read-only bind mount of itself; skips (fails in CI) where mounting is not allowed. */
export function mountReadOnly(ctx: Mocha.Context, folder: string): void {
  fs.mkdirSync(folder, { recursive: true });
  const ok = tryRun('mount', ['--bind', '-o', 'ro', folder, folder]);
  needOrSkip(ctx, ok, `a read-only bind mount (mount --bind -o ro, as root) of ${folder}`);
  undo.push(() => void tryRun('umount', [folder]));
}

/** Sets the immutable attribute on `target` (a file or a folder); skips (fails in CI) where chattr is refused. */
export function makeImmutable(ctx: Mocha.Context, target: string): void {
  const ok = tryRun('chattr', ['+i', target]);
  needOrSkip(ctx, ok, `the immutable attribute (chattr +i, as root, on ext4) on ${target}`);
  undo.push(() => void tryRun('chattr', ['-i', target]));
}

/** Undoes every mount and attribute made so far, newest first, so the folders can be removed. */
export function undoReadOnly(): void {
  for (const step of undo.splice(0).reverse()) step();
}
