// The third-party test-results corpus (../shared/testdata/test-results), read in place. EXPECTED.json holds counts
// worked out independently of this code (see the corpus README): one set per publishMode. Its top-level counts are
// an older rule set and are not read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuleSet } from '../../shared/src/testresults/model';
import { testdataAvailable, testdataRoot } from './env';

export const RESULTS_CORPUS = path.join(testdataRoot, 'test-results');

/** What one publishMode publishes from a file; `publishes: false` means nothing is read from it. */
export interface ModeCounts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  other: number;
  publishes: boolean;
}

export interface ExpectedCounts {
  format: string;
  /** publishMode `api` (the API rules) and `agent` (the agent's readers). */
  api: ModeCounts;
  agent: ModeCounts;
}

/** EXPECTED.json's entries by file; empty when the corpus is absent (callers then use needOrSkip, which fails in CI). */
export function resultCorpusExpectations(): [string, ExpectedCounts][] {
  const file = path.join(RESULTS_CORPUS, 'EXPECTED.json');
  if (!testdataAvailable() || !fs.existsSync(file)) return [];
  const entries = Object.entries(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, ExpectedCounts>);
  return entries.map(([name, e]) => [name, { format: e.format, api: e.api, agent: e.agent }]);
}

/** The counts a mode expects, without `publishes`. */
export function countsOf(expected: ModeCounts): { total: number; passed: number; failed: number; skipped: number; other: number } {
  const { total, passed, failed, skipped, other } = expected;
  return { total, passed, failed, skipped, other };
}

export const RULE_SETS: RuleSet[] = ['api', 'agent'];
