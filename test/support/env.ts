import * as path from 'node:path';
import * as fs from 'node:fs';

/** CI runs `.ci/run` with CI=true: there, a missing engine, registry, helm or corpus is a failure, never a skip. */
export const inCi = process.env.CI === 'true';

export const repoRoot = path.resolve(__dirname, '..', '..');

/** `../shared/testdata` beside the checkout: third-party data, read in place. */
export const testdataRoot = path.resolve(repoRoot, '..', 'shared', 'testdata');

/**
 * Skips the current test (or suite, from a `before` hook) when `ok` is false — except in CI, where it throws so the
 * run fails instead of passing with less than it claims.
 */
export function needOrSkip(ctx: Mocha.Context, ok: boolean, what: string): void {
  if (ok) return;
  if (inCi) throw new Error(`${what} is required in CI but is not available`);
  ctx.skip();
}

export function testdataAvailable(): boolean {
  return fs.existsSync(testdataRoot);
}
