// The third-party test-results corpus (../shared/testdata/test-results), read in place. EXPECTED.json holds counts
// worked out independently of this code (see the corpus README).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testdataAvailable, testdataRoot } from './env';

export const RESULTS_CORPUS = path.join(testdataRoot, 'test-results');

export interface ExpectedCounts {
  format: string;
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  other: number;
}

/** EXPECTED.json's entries by file; empty when the corpus is absent (callers then use needOrSkip, which fails in CI). */
export function resultCorpusExpectations(): [string, ExpectedCounts][] {
  const file = path.join(RESULTS_CORPUS, 'EXPECTED.json');
  if (!testdataAvailable() || !fs.existsSync(file)) return [];
  return Object.entries(JSON.parse(fs.readFileSync(file, 'utf8')));
}
