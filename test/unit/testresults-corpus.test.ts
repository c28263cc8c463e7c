import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readResultFile, scanResultFile, type ParsedFile } from '../../shared/src/testresults/parse';
import type { RuleSet, TestResult } from '../../shared/src/testresults/model';
import { countsOf, RESULTS_CORPUS, resultCorpusExpectations, RULE_SETS } from '../support/corpus';
import { needOrSkip, testdataAvailable } from '../support/env';

const CORPUS = RESULTS_CORPUS;

async function readAll(
  file: string,
  options: Parameters<typeof readResultFile>[2] = {},
): Promise<{ parsed: ParsedFile; results: TestResult[]; batches: number[] }> {
  const results: TestResult[] = [];
  const batches: number[] = [];
  const parsed = await readResultFile(
    file,
    (batch) => {
      batches.push(batch.length);
      results.push(...batch);
    },
    options,
  );
  return { parsed, results, batches };
}

/**
 * A file as each publishMode reads it. api: the first pass checks the file, collects TRX definitions and counts
 * reruns; the second (the one that publishes) reads the results. agent: the pass that gives the task's outputs.
 */
async function readAs(
  rules: RuleSet,
  file: string,
  options: Parameters<typeof readResultFile>[2] = {},
): Promise<{ parsed: ParsedFile; results: TestResult[]; batches: number[] }> {
  if (rules === 'agent') {
    const results: TestResult[] = [];
    const parsed = await scanResultFile(file, (r) => results.push(r), { ...options, rules });
    return { parsed, results, batches: [results.length] };
  }
  const first = await scanResultFile(file, () => {}, options);
  return readAll(file, { ...options, trxDefinitions: first.trxDefinitions, reruns: first.reruns, mergeReruns: true });
}

/** Publishing reads a TRX file twice: definitions from the first pass name the results of the second. */
async function readTwice(file: string): Promise<{ parsed: ParsedFile; results: TestResult[] }> {
  return readAs('api', file);
}

const byTitle = (results: TestResult[], title: string) => {
  const found = results.find((r) => r.title === title);
  assert.ok(found, `no result titled '${title}'`);
  return found;
};

describe('testresults: real-world corpus', () => {
  const cases = resultCorpusExpectations();

  if (cases.length === 0) {
    it('needs the test-results corpus in ../shared/testdata (skipped outside CI when it is absent)', function () {
      needOrSkip(this, false, 'the test-results corpus (../shared/testdata/test-results)');
    });
    return;
  }

  for (const rules of RULE_SETS) {
    for (const [relative, expected] of cases) {
      const e = expected[rules];
      it(`${relative}, ${rules} mode: ${e.total} results = ${e.passed} passed, ${e.failed} failed, ${e.skipped} skipped, ${e.other} other (${expected.format})`, async () => {
        assert.equal(e.publishes, true, 'every corpus file publishes (a file that does not is a warning, tested with fixtures)');
        const { parsed, results, batches } = await readAs(rules, path.join(CORPUS, relative));
        assert.equal(results.length, e.total, 'the count first: one result per test');
        assert.equal(parsed.format, expected.format);
        assert.deepEqual(parsed.counts, countsOf(e));
        assert.equal(
          batches.reduce((sum, n) => sum + n, 0),
          e.total,
          'the batches hold every result',
        );
        assert.ok(
          batches.every((n) => n >= (rules === 'api' ? 1 : 0) && n <= 1000),
          'every batch within 1..1000',
        );
        for (const r of results) {
          assert.ok(r.title.trim(), 'every result has a title');
          assert.ok(r.fullName.trim(), 'every result has a full name');
        }
        assert.deepEqual(parsed.truncated, {});
      });
    }
  }

  describe('what each dialect carries', () => {
    before(function () {
      needOrSkip(this, testdataAvailable(), 'the test-results corpus (../shared/testdata/test-results)');
    });
    const file = (relative: string) => path.join(CORPUS, relative);
    /** EXPECTED.json's counts for one corpus file: how many results an "each result …" assertion must see. */
    const counts = (relative: string) => {
      const found = cases.find(([name]) => name === relative);
      assert.ok(found, `EXPECTED.json lists ${relative}`);
      return found[1];
    };
    const apiCounts = (relative: string) => counts(relative).api;

    it('JUnit: failure bodies become stack traces, the first line the message when there is no message attribute', async () => {
      const { results } = await readAll(file('junit/dorny-jest-junit.xml'));
      const failing = byTitle(results, 'Failing test');
      assert.equal(failing.outcome, 'Failed');
      assert.equal(failing.errorMessage, 'Error: expect(received).toBeTruthy()');
      assert.match(failing.stackTrace!, /at Object\.<anonymous> \(C:\\Users/);
      assert.equal(failing.fullName, 'Test 1 › Test 1.1.Failing test');
      assert.equal(failing.durationMs, 2);
    });

    it('JUnit: <error> fails a test; CDATA and system-out are read', async () => {
      const build = await readAll(file('junit/jstemmer-go-013-build-error.xml'));
      const buildFailures = build.results.filter((r) => r.outcome === 'Failed');
      assert.equal(buildFailures.length, apiCounts('junit/jstemmer-go-013-build-error.xml').failed);
      assert.ok(buildFailures.every((r) => r.errorMessage === 'Build error'));
      const go = await readAll(file('junit/jstemmer-go-001-pass-fail-skip.xml'));
      assert.ok(
        go.results.some((r) => r.stdout && r.outcome === 'Passed'),
        'a passing test with system-out CDATA',
      );
      const skippedGo = go.results.filter((r) => r.outcome === 'NotExecuted');
      assert.equal(skippedGo.length, apiCounts('junit/jstemmer-go-001-pass-fail-skip.xml').skipped);
      assert.ok(skippedGo.every((r) => r.errorMessage === 'Skipped'));
    });

    it('JUnit: testcases without classname or time still have names; pytest skip messages are kept', async () => {
      const php = await readAll(file('junit/dorny-phpunit.xml'));
      const noClass = php.results.filter((r) => r.fullName === r.title);
      assert.equal(noClass.length, 2, 'the two .phpt cases have no classname');
      assert.ok(
        noClass.every((r) => r.storage),
        'the enclosing suite names them',
      );
      const nette = await readAll(file('junit/dorny-nette-tester.xml'));
      assert.equal(nette.results.length, apiCounts('junit/dorny-nette-tester.xml').total);
      assert.ok(nette.results.every((r) => r.durationMs === undefined));
      const pytest = await readAll(file('junit/enricomi-pytest-horovod.xml'));
      const pytestSkipped = pytest.results.filter((r) => r.outcome === 'NotExecuted');
      assert.equal(pytestSkipped.length, apiCounts('junit/enricomi-pytest-horovod.xml').skipped);
      assert.ok(pytestSkipped.every((r) => r.errorMessage));
    });

    it('TRX: a data-driven test is one result, its rows DataDriven sub-results beneath it; definitions give class names', async () => {
      const { results } = await readTwice(file('trx/trx2junit-mstest-datadriven.trx'));
      assert.equal(results.length, counts('trx/trx2junit-mstest-datadriven.trx').api.total);
      assert.deepEqual(results.map((r) => r.fullName).sort(), [
        'MsTestSample.DataDriven.Failing_test',
        'MsTestSample.DataDriven.Slow_test',
        'MsTestSample.DataDriven.Two_pass_one_fails',
      ]);
      const parent = byTitle(results, 'Two_pass_one_fails');
      assert.equal(parent.outcome, 'Failed');
      assert.equal(parent.resultGroupType, 'DataDriven');
      assert.deepEqual(
        parent.subResults?.map((r) => [r.displayName, r.outcome]),
        [
          ['Two_pass_one_fails (0)', 'Passed'],
          ['Two_pass_one_fails (1)', 'Failed'],
          ['Two_pass_one_fails (2)', 'Passed'],
        ],
      );
      const row = parent.subResults?.[1];
      assert.ok(row);
      assert.equal(row.errorMessage, 'Assert.Fail failed. Failing for demo purposes');
      assert.equal(row.durationMs, 28);
      assert.ok(results.filter((r) => r !== parent).every((r) => r.subResults === undefined));
    });

    it('TRX: NotRunnable, Aborted and NotExecuted map to NotApplicable, Aborted and NotExecuted (api), all NotExecuted (agent); StdOut is read', async () => {
      const vs = await readTwice(file('trx/enricomi-mstest-vs2015.trx'));
      const tally = (results: TestResult[]) => {
        const outcomes = new Map<string, number>();
        for (const r of results) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
        return Object.fromEntries(outcomes);
      };
      assert.deepEqual(tally(vs.results), { Passed: 2, Failed: 2, Aborted: 1, NotExecuted: 19, NotApplicable: 1 });
      const agent = await readAs('agent', file('trx/enricomi-mstest-vs2015.trx'));
      assert.deepEqual(tally(agent.results), { Passed: 2, Failed: 2, NotExecuted: 21 });
      const xunit = await readTwice(file('trx/dorny-xunit.trx'));
      const skipped = xunit.results.find((r) => r.outcome === 'NotExecuted')!;
      assert.equal(skipped.stdout, 'Skipped test');
    });

    it('TRX: a collector attachment is a run attachment under the deployment root', async () => {
      const { parsed } = await readTwice(file('trx/jenkins-mstest-coverage-attachment.trx'));
      assert.equal(parsed.run.attachments.length, 1);
      const [attachment] = parsed.run.attachments;
      assert.match(attachment.name, /\.coverage$/);
      assert.ok(attachment.candidates[0].includes(`${path.sep}In${path.sep}COMPUTER${path.sep}`), attachment.candidates[0]);
    });

    it('NUnit 3: suite-level failures are not results; labels refine Failed', async () => {
      const { results } = await readAll(file('nunit3/dorny-nunit3-console.xml'));
      const outcomes = results.map((r) => r.outcome).sort();
      assert.deepEqual(outcomes, ['Error', 'Error', 'Failed', 'Failed', 'NotExecuted', 'Passed', 'Passed', 'Passed', 'Timeout']);
      assert.ok(results.filter((r) => r.outcome === 'Failed').every((r) => r.errorMessage && r.stackTrace));
    });

    it('NUnit 2: full names are split into class and method', async () => {
      const { results } = await readAll(file('nunit2/enricomi-nunit25-mock-assembly.xml'));
      const failing = byTitle(results, 'FailingTest');
      assert.equal(failing.fullName, 'NUnit.Tests.Assemblies.MockTestFixture.FailingTest');
      assert.equal(failing.storage, 'NUnit.Tests.Assemblies.MockTestFixture');
      assert.equal(failing.errorMessage, 'Intentional failure');
    });

    it('xUnit.net: exception type joins the message; skip reasons and output are read', async () => {
      const v20 = await readAll(file('xunit2/jenkins-xunit-2.0.xml'));
      assert.equal(
        byTitle(v20.results, 'MyProject.Tests.SampleFact.FailedTest').errorMessage,
        'Xunit.Sdk.TrueException: Assert.True() Failure',
      );
      assert.equal(byTitle(v20.results, 'MyProject.Tests.SampleFact.SkippedTest').errorMessage, 'On Purpose');
      const v23 = await readAll(file('xunit2/jenkins-xunit-2.3-output.xml'));
      assert.equal(v23.results.length, apiCounts('xunit2/jenkins-xunit-2.3-output.xml').total);
      assert.ok(v23.results.every((r) => r.stdout));
    });

    it('CTest: only <Test Status=…> counts; measurements give duration, exit status and output', async () => {
      const { results } = await readAll(file('ctest/jenkins-ctest-2.8-Test.xml'));
      const failing = results.filter((r) => r.outcome === 'Failed');
      assert.equal(failing.length, 4);
      assert.ok(
        failing.every((r) => /Exit Value: \d/.test(r.errorMessage ?? '')),
        failing.map((r) => r.errorMessage).join(' | '),
      );
      assert.equal(byTitle(results, 'cppcheck').durationMs, 1654);
    });

    it('reads the same results whatever the chunk boundaries (1-byte to 4 KiB pieces), in both modes', async () => {
      assert.ok(cases.length > 0, 'EXPECTED.json lists the corpus files');
      for (const rules of RULE_SETS) {
        for (const [relative, expected] of cases) {
          const whole = await readAs(rules, file(relative));
          assert.equal(whole.results.length, expected[rules].total, relative);
          // One-byte reads are a syscall each: only for the smaller files, which still cover every construct.
          const sizes = fs.statSync(file(relative)).size < 16 * 1024 ? [1, 7, 4096] : [7, 4096];
          for (const chunkBytes of sizes) {
            const pieces = await readAs(rules, file(relative), { chunkBytes });
            assert.deepEqual(pieces.results, whole.results, `${relative} in ${chunkBytes}-byte chunks (${rules})`);
          }
        }
      }
    });
  });
});
