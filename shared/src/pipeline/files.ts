import * as fs from 'node:fs';
import { taskLib } from './agent';

/**
 * Result-file patterns resolved with task-lib's `findMatch`, as PublishTestResults@2 resolves `testResultsFiles`, so
 * a pattern means here what it means there (minimatch: `**`, `*`, `?`, `[…]`, `!` exclusions, `#` comments, dot
 * files matched, no brace expansion). Two differences, both towards not failing on a tree the task did not make: a
 * dangling symbolic link or a file that vanishes during the walk is passed over (findMatch's defaults throw), and
 * only files are returned (a folder named `x.xml` is not a result file). Sorted, each once.
 */
export function findFiles(patterns: readonly string[], root: string): string[] {
  const found = taskLib().findMatch(
    root,
    [...patterns],
    { allowBrokenSymbolicLinks: true, followSpecifiedSymbolicLink: true, followSymbolicLinks: true, skipMissingFiles: true },
    { dot: true, nobrace: true, nocase: process.platform === 'win32' },
  );
  return [...new Set(found)].filter(isFile).sort();
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
