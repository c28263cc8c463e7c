import { strict as assert } from 'node:assert';
import type { TestOutcome, TestResult } from '../../shared/src/testresults/model';
import {
  SUMMARY_MAX_FAILURES,
  SUMMARY_MAX_SLOWEST,
  SummaryCollector,
  summaryMarkdown,
  summaryTable,
} from '../../shared/src/testresults/summary';

const result = (name: string, outcome: TestOutcome, durationMs?: number, errorMessage?: string): TestResult => ({
  title: name,
  fullName: `Suite.${name}`,
  outcome,
  durationMs,
  errorMessage,
});

describe('testresults: run summary', () => {
  it('totals, pass rate, failed tests with their first message line, slowest first', () => {
    const s = new SummaryCollector();
    s.add(result('a', 'Passed', 1500));
    s.add(result('b', 'Failed', 20, 'expected 1\nbut was 2'));
    s.add(result('c', 'NotExecuted'));
    s.add(result('d', 'Timeout', 90_000, 'took too long'));
    s.add(result('e', 'Inconclusive', 5));
    s.files.push({ file: '/r/x.xml', format: 'junit', counts: { total: 5, passed: 1, failed: 2, skipped: 1, other: 1 } });
    s.files.push({ file: '/r/bad.xml', problem: 'is empty' });
    const md = summaryMarkdown(s, { title: 'Unit tests', display: (f) => f.replace('/r/', '') });
    assert.ok(md.startsWith('## Unit tests\n'));
    assert.ok(md.includes('| 5 | 1 | 2 | 1 | 1 | 25.0 % | 1 min 32 s |'), md);
    assert.ok(md.includes('| Suite.b | expected 1 |'), 'first line of the message');
    assert.ok(md.includes('| Suite.d | took too long |'), 'a timeout is a failure');
    const slow = md.slice(md.indexOf('### Slowest tests'));
    assert.ok(slow.indexOf('Suite.d') < slow.indexOf('Suite.a') && slow.indexOf('Suite.a') < slow.indexOf('Suite.b'));
    assert.ok(!slow.includes('Suite.c'), 'no duration, not listed');
    assert.ok(md.includes('| x.xml | JUnit | 5 | 1 | 2 | 1 | 1 |'));
    assert.ok(md.includes('| bad.xml | not published: is empty |'));

    const table = summaryTable(s, (f) => f.replace('/r/', ''));
    assert.deepEqual(table.slice(0, 4), [
      'Total  Passed  Failed  Skipped  Other  File',
      '    5       1       2        1      1  x.xml',
      '    -       -       -        -      -  bad.xml (not published)',
      '    5       1       2        1      1  all files',
    ]);
    assert.equal(table[4], 'Failed tests (2):');
  });

  it('names and messages from result files render as text, never as Markdown or HTML', () => {
    const s = new SummaryCollector();
    s.add({
      ...result('x', 'Failed', 1, '<img src=x onerror=alert(1)> [click](javascript:alert(1)) | cell'),
      fullName: '**bold** `code` <script>',
    });
    const md = summaryMarkdown(s, { title: 'T' });
    const row = md.split('\n').find((l) => l.includes('bold'))!;
    assert.equal(
      row,
      '| \\*\\*bold\\*\\* \\`code\\` &lt;script&gt; | &lt;img src=x onerror=alert\\(1\\)&gt; \\[click\\]\\(javascript:alert\\(1\\)\\) \\| cell |',
    );
  });

  it('stays bounded: the first failures and the slowest few, however many results', () => {
    const s = new SummaryCollector();
    for (let i = 0; i < 10_000; i++) s.add(result(`t${i}`, i % 2 ? 'Failed' : 'Passed', i));
    assert.equal(s.failed.length, SUMMARY_MAX_FAILURES);
    assert.equal(s.failedCount, 5000);
    assert.deepEqual(
      s.slowest.map((t) => t.durationMs),
      Array.from({ length: SUMMARY_MAX_SLOWEST }, (_, k) => 9999 - k),
    );
    const md = summaryMarkdown(s, { title: 'T' });
    assert.ok(md.includes(`### Failed tests (first ${SUMMARY_MAX_FAILURES} of 5000)`));
  });

  it('merges per-file collectors', () => {
    const a = new SummaryCollector();
    const b = new SummaryCollector();
    a.add(result('a', 'Passed', 10));
    b.add(result('b', 'Failed', 30, 'x'));
    a.merge(b);
    assert.deepEqual(a.counts, { total: 2, passed: 1, failed: 1, skipped: 0, other: 0 });
    assert.deepEqual(
      a.slowest.map((t) => t.name),
      ['Suite.b', 'Suite.a'],
    );
    assert.equal(a.failedCount, 1);
  });
});
