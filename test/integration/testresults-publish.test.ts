import { strict as assert } from 'node:assert';
import { getBearerHandler, WebApi } from 'azure-devops-node-api';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLog } from '../../shared/src/log';
import { connectWithAccessToken, createApiPublisher } from '../../shared/src/testresults/api';
import { MAX_CONSOLE_BYTES_PER_RUN, MAX_CONSOLE_LOG_BYTES } from '../../shared/src/testresults/attachments';
import { MAX_BATCHES_IN_FLIGHT } from '../../shared/src/testresults/post';
import type { RunOrigin } from '../../shared/src/testresults/publisher';
import { outcomeClass, type TestOutcome } from '../../shared/src/testresults/model';
import { publishTestResults, type PublishTestResultsOptions } from '../../shared/src/testresults/publish';
import { startAdoContractServer, type AdoContractServer, type ContractRun } from '../support/ado-contract-server';
import { countsOf, RESULTS_CORPUS, resultCorpusExpectations, type ExpectedCounts } from '../support/corpus';
import { needOrSkip, repoRoot, testdataAvailable } from '../support/env';

const CORPUS = RESULTS_CORPUS;
const FIXTURES = path.join(repoRoot, 'test', 'fixtures', 'test-results');
const BUILD_ID = 4242;

function classes(run: ContractRun): Record<string, number> {
  const out: Record<string, number> = { passed: 0, failed: 0, skipped: 0, other: 0 };
  for (const [outcome, n] of Object.entries(run.outcomes)) out[outcomeClass(outcome as TestOutcome)] += n;
  return out;
}

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

async function publishTo(server: AdoContractServer, options: PublishTestResultsOptions, log = memoryLog()) {
  const publisher = createApiPublisher({
    connect: () => connectWithAccessToken(server.url, server.token),
    project: server.project,
    buildId: BUILD_ID,
    buildUri: `vstfs:///Build/Build/${BUILD_ID}`,
  });
  const result = await publishTestResults(options, publisher, log);
  return { result, log };
}

/** A run as Azure DevOps must see it: linked to the build, automated, every batch legal, completed. */
function assertWellFormed(run: ContractRun, total: number): void {
  assert.equal(run.state, 'Completed', `run ${run.id} completed`);
  assert.equal(run.created.automated, true);
  assert.equal(run.created.build.id, String(BUILD_ID));
  assert.equal(run.created.state, 'InProgress');
  assert.equal(run.resultCount, total);
  assert.equal(
    run.batches.reduce((sum, n) => sum + n, 0),
    total,
    'the batches add up to every result',
  );
  assert.ok(
    run.batches.every((n) => n >= 1 && n <= 1000),
    `batches ${run.batches.join(', ')}`,
  );
  assert.equal(run.updates.at(-1)?.state, 'Completed');
}

describe('testresults: publishing through the contract server (Azure DevOps Test REST API)', function () {
  let server: AdoContractServer;
  let dir: string;

  beforeEach(async () => {
    server = await startAdoContractServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-testresults-api-'));
  });
  afterEach(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('the corpus', () => {
    let expected: [string, ExpectedCounts][] = [];
    before(function () {
      needOrSkip(this, testdataAvailable(), 'the test-results corpus (../shared/testdata/test-results)');
      expected = resultCorpusExpectations();
    });

    for (const format of ['junit', 'trx', 'nunit3', 'nunit2', 'xunit2', 'ctest']) {
      it(`contract server saw a complete, well-formed run for each ${format} file`, async () => {
        const cases = expected.filter(([, e]) => e.format === format);
        assert.ok(cases.length > 0);
        const { result } = await publishTo(server, {
          files: cases.map(([f]) => path.join(CORPUS, f)),
          mergeResults: false,
          searchFolder: CORPUS,
          buildPlatform: 'x64',
          buildConfiguration: 'Release',
        });
        assert.deepEqual(server.violations, []);
        assert.deepEqual(result.issues, []);
        assert.equal(server.runs.size, cases.length);
        assert.deepEqual(result.runIds, [...server.runs.keys()]);
        cases.forEach(([file, { api: e }], i) => {
          const run = server.runs.get(result.runIds[i])!;
          assertWellFormed(run, e.total);
          assert.equal(run.created.buildPlatform, 'x64');
          assert.equal(run.created.buildFlavor, 'Release');
          assert.deepEqual(classes(run), { passed: e.passed, failed: e.failed, skipped: e.skipped, other: e.other }, file);
          const attached = run.attachments.find((a) => a.fileName === path.basename(file) && a.resultId === undefined);
          assert.ok(attached, `${file} is attached to its run`);
          assert.equal(attached.sha256, sha256(path.join(CORPUS, file)));
          assert.equal(run.results.length, e.total, file);
          for (const r of run.results)
            assert.equal(
              r.automatedTestType,
              { junit: 'JUnit', trx: 'VSTest', nunit3: 'NUnit', nunit2: 'NUnit', xunit2: 'XUnit', ctest: 'CTest' }[format],
            );
        });
        const versions = new Set(server.requests.filter((r) => r.method !== 'OPTIONS').map((r) => r.apiVersion));
        assert.ok(versions.size > 0, 'REST calls were made');
        assert.ok(
          [...versions].every((v) => /^7\.2-preview\.\d$/.test(v ?? '')),
          [...versions].join(' '),
        );
        assert.ok(
          server.requests.some((r) => r.method === 'OPTIONS' && r.path.endsWith('/_apis/Test')),
          'location discovery',
        );
      });
    }

    it('contract server: merged, every corpus file is one run with all results, and outputs match EXPECTED.json', async () => {
      const { result } = await publishTo(server, {
        files: expected.map(([f]) => path.join(CORPUS, f)),
        runTitle: 'Corpus',
        searchFolder: CORPUS,
      });
      assert.deepEqual(server.violations, []);
      const sum = { total: 0, passed: 0, failed: 0, skipped: 0, other: 0 };
      for (const [, e] of expected) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += countsOf(e.api)[k];
      assert.deepEqual(result.counts, sum);
      assert.equal(server.runs.size, 1);
      const run = [...server.runs.values()][0];
      assertWellFormed(run, sum.total);
      assert.equal(run.created.name, 'Corpus');
      const failedWithOutput = run.attachments.filter((a) => a.attachmentType === 'ConsoleLog');
      assert.ok(failedWithOutput.length > 0 && failedWithOutput.every((a) => a.resultId !== undefined));
      assert.match(
        result.summaryMarkdown,
        new RegExp(`\\| ${sum.total} \\| ${sum.passed} \\| ${sum.failed} \\| ${sum.skipped} \\| ${sum.other} \\|`),
      );
    });
  });

  it('contract server: results go in batches (500 by default, never over 1000), in file order', async () => {
    const file = path.join(dir, 'many.xml');
    const cases = Array.from({ length: 2500 }, (_, i) => `<testcase classname="many.Suite" name="t${i}" time="0.001"/>`);
    fs.writeFileSync(file, `<testsuite name="many">${cases.join('\n')}</testsuite>`);
    const { result } = await publishTo(server, { files: [file] });
    assert.deepEqual(server.violations, []);
    const run = server.runs.get(result.runIds[0])!;
    assert.deepEqual(run.batches, [500, 500, 500, 500, 500]);
    assert.deepEqual(
      run.results.map((r) => r.testCaseTitle),
      cases.map((_, i) => `t${i}`),
      'in file order',
    );
  });

  it('contract server: hostile files are warnings, good files still published, nothing of a local file leaks', async () => {
    const secret = `outerloop-secret-${crypto.randomBytes(8).toString('hex')}`;
    const secretFile = path.join(dir, 'secret.txt');
    fs.writeFileSync(secretFile, secret);
    const results = path.join(dir, 'results');
    fs.mkdirSync(results);
    const put = (name: string, text: string | Buffer) => {
      fs.writeFileSync(path.join(results, name), text);
      return path.join(results, name);
    };
    const files = [
      put(
        'good.xml',
        '<testsuite><testcase classname="a" name="ok"/><testcase classname="a" name="bad"><error message="e"/></testcase></testsuite>',
      ),
      put('xxe.xml', `<!DOCTYPE t [<!ENTITY x SYSTEM "file://${secretFile}">]><testsuite><testcase name="&x;"/></testsuite>`),
      put('cut.trx', '<TestRun><Results><UnitTestResult testName="a" outcome="Passed"/>'),
      put('empty.xml', ''),
      put('binary.xml', crypto.createHash('sha512').update('seed').digest()),
    ];
    const { result, log } = await publishTo(server, { files, searchFolder: results });
    assert.deepEqual(server.violations, []);
    assert.equal(result.issues.length, 4);
    for (const name of ['xxe.xml', 'cut.trx', 'empty.xml', 'binary.xml']) {
      assert.equal(result.issues.filter((i) => i.startsWith(`result file '${name}' `)).length, 1, name);
    }
    assert.equal(server.runs.size, 1);
    assertWellFormed([...server.runs.values()][0], 2);
    const seen = [...server.bodies, ...log.lines, result.summaryMarkdown].join('\n');
    assert.ok(!seen.includes(secret));
  });

  it('contract server: attachments named in a result file are confined to the results folder and capped', async () => {
    const results = path.join(dir, 'results');
    const rowDir = path.join(results, 'deploy', 'In', 'row1');
    fs.mkdirSync(rowDir, { recursive: true });
    const secret = `outerloop-secret-${crypto.randomBytes(8).toString('hex')}`;
    fs.writeFileSync(path.join(dir, 'outside.txt'), secret);
    fs.writeFileSync(path.join(rowDir, 'screenshot.png'), Buffer.from('PNG-ish bytes'));
    fs.symlinkSync(path.join(dir, 'outside.txt'), path.join(rowDir, 'link.txt'));
    fs.writeFileSync(path.join(rowDir, 'big.bin'), Buffer.alloc(9 * 1024 * 1024, 1));
    const trx = `<?xml version="1.0" encoding="utf-8"?>
<TestRun id="1" name="attachments" xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <TestSettings name="s" id="2"><Deployment runDeploymentRoot="deploy" /></TestSettings>
  <Results>
    <UnitTestResult executionId="e1" testId="t1" testName="Shows" outcome="Failed" duration="00:00:00.5" relativeResultsDirectory="row1">
      <Output><StdOut>console says hi</StdOut><ErrorInfo><Message>nope</Message><StackTrace>at X</StackTrace></ErrorInfo></Output>
      <ResultFiles>
        <ResultFile path="screenshot.png" />
        <ResultFile path="../../../../outside.txt" />
        <ResultFile path="${path.join(dir, 'outside.txt')}" />
        <ResultFile path="link.txt" />
        <ResultFile path="big.bin" />
        <ResultFile path="missing.txt" />
      </ResultFiles>
    </UnitTestResult>
  </Results>
  <TestDefinitions><UnitTest name="Shows" storage="c:\\b\\Tests.dll" id="t1"><TestMethod codeBase="c:\\b\\Tests.dll" className="Ns.Cls" name="Shows" /></UnitTest></TestDefinitions>
</TestRun>`;
    fs.writeFileSync(path.join(results, 'run.trx'), trx);
    const { result, log } = await publishTo(server, { files: [path.join(results, 'run.trx')], searchFolder: results });
    assert.deepEqual(server.violations, []);
    const run = server.runs.get(result.runIds[0])!;
    assert.equal(run.results[0].automatedTestName, 'Ns.Cls.Shows');
    assert.equal(run.results[0].automatedTestStorage, 'Tests.dll');
    const perResult = run.attachments
      .filter((a) => a.resultId !== undefined)
      .map((a) => [a.fileName, a.attachmentType, a.content?.toString()]);
    assert.deepEqual(perResult, [
      ['screenshot.png', 'GeneralAttachment', 'PNG-ish bytes'],
      ['Standard_Console_Output.log', 'ConsoleLog', 'console says hi'],
    ]);
    assert.deepEqual(
      run.attachments.filter((a) => a.resultId === undefined).map((a) => a.fileName),
      ['run.trx'],
    );
    const warnings = log.lines.filter((l) => l.startsWith('warning: attachment'));
    assert.deepEqual(warnings, [
      `warning: attachment '../../../../outside.txt' of test 'Ns.Cls.Shows' was not attached: it is outside the results folder`,
      `warning: attachment '${path.join(dir, 'outside.txt')}' of test 'Ns.Cls.Shows' was not attached: it is outside the results folder`,
      `warning: attachment 'link.txt' of test 'Ns.Cls.Shows' was not attached: it is outside the results folder`,
      `warning: attachment 'big.bin' of test 'Ns.Cls.Shows' was not attached: it is 9 MiB, over the 8 MiB attachment cap`,
      `warning: attachment 'missing.txt' of test 'Ns.Cls.Shows' was not attached: it was not found`,
    ]);
    assert.ok(!server.bodies.join('\n').includes(secret));
  });

  it('contract server: a service error mid-run aborts the run and fails with one line naming the call', async () => {
    await server.close();
    server = await startAdoContractServer({ failResultsAfter: 1 });
    const file = path.join(dir, 'many.xml');
    fs.writeFileSync(file, `<testsuite>${Array.from({ length: 1500 }, (_, i) => `<testcase name="t${i}"/>`).join('')}</testsuite>`);
    await assert.rejects(publishTo(server, { files: [file], runTitle: 'Flaky service' }), (error: Error) => {
      assert.match(error.message, /^adding 500 results to test run 1 \('Flaky service'\) failed \(HTTP 503\): TF400898/);
      assert.ok(!error.message.includes('\n'));
      return true;
    });
    const run = server.runs.get(1)!;
    assert.equal(run.state, 'Aborted');
    assert.match(run.updates.at(-1)!.errorMessage, /^adding 500 results to test run 1 .*\(HTTP 503\)/, 'the reason is on the run');
    assert.equal(run.resultCount, 500);
    assert.deepEqual(server.violations, []);
  });

  it('contract server: a caller holding a WebApi connection publishes the same way', async () => {
    const file = path.join(dir, 'one.xml');
    fs.writeFileSync(file, '<testsuite><testcase classname="w" name="t" time="1"/></testsuite>');
    const web = new WebApi(server.url, getBearerHandler(server.token));
    const publisher = createApiPublisher({ connect: () => web.getTestApi(), project: server.project, buildId: BUILD_ID });
    const result = await publishTestResults({ files: [file] }, publisher, memoryLog());
    assert.deepEqual(server.violations, []);
    assertWellFormed(server.runs.get(result.runIds[0])!, 1);
  });

  it('contract server: a wrong token or project is one clear error and creates nothing', async () => {
    const file = path.join(dir, 'one.xml');
    fs.writeFileSync(file, '<testsuite><testcase name="t"/></testsuite>');
    const wrongToken = createApiPublisher({
      connect: () => connectWithAccessToken(server.url, 'not-the-token'),
      project: server.project,
      buildId: 1,
    });
    await assert.rejects(
      publishTestResults({ files: [file] }, wrongToken, memoryLog()),
      /^Error: connecting to Azure DevOps failed \(HTTP 401\): /,
    );
    const wrongProject = createApiPublisher({
      connect: () => connectWithAccessToken(server.url, server.token),
      project: 'Nope',
      buildId: 1,
    });
    await assert.rejects(
      publishTestResults({ files: [file] }, wrongProject, memoryLog()),
      /^Error: creating test run 'JUnit test results' failed: Azure DevOps returned no run \(is project 'Nope' right\?\)$/,
    );
    assert.equal(server.runs.size, 0);
  });

  describe('what the Tests tab shows: sub-results, reruns, where a run came from, console output', () => {
    const fixture = (name: string) => path.join(FIXTURES, name);
    const byTitle = (run: ContractRun, title: string) => {
      const found = run.results.find((r) => r.testCaseTitle === title);
      assert.ok(found, `a result titled '${title}'`);
      return found;
    };

    it('contract server (Results - Add, TestCaseResult.subResults with resultGroupType DataDriven): a data-driven TRX test is one result, its rows beneath it', async function () {
      needOrSkip(this, testdataAvailable(), 'the test-results corpus (../shared/testdata/test-results)');
      const { result } = await publishTo(server, {
        files: [path.join(CORPUS, 'trx/trx2junit-mstest-datadriven.trx')],
        searchFolder: CORPUS,
      });
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      assert.equal(run.resultCount, 3, 'one result per test');
      assertWellFormed(run, 3);
      const parent = byTitle(run, 'Two_pass_one_fails');
      assert.equal(parent.outcome, 'Failed');
      assert.equal(parent.resultGroupType, 2, 'ResultGroupType.DataDriven');
      assert.deepEqual(
        parent.subResults.map((r: any) => [r.sequenceId, r.displayName, r.outcome]),
        [
          [1, 'Two_pass_one_fails (0)', 'Passed'],
          [2, 'Two_pass_one_fails (1)', 'Failed'],
          [3, 'Two_pass_one_fails (2)', 'Passed'],
        ],
      );
      assert.equal(parent.subResults[1].errorMessage, 'Assert.Fail failed. Failing for demo purposes');
      assert.equal(run.subResultCount, 3);
      assert.deepEqual(result.counts, { total: 3, passed: 1, failed: 2, skipped: 0, other: 0 });
    });

    it('contract server (Results - Add subResults Rerun; CustomTestField IsTestResultFlaky, AttemptId; Attachments - Create Test Sub Result Attachment): one result per test, attempts beneath, flaky marked and counted', async () => {
      const log = memoryLog();
      const { result } = await publishTo(
        server,
        { files: [fixture('surefire-reruns.xml'), fixture('vstest-retry.trx')], searchFolder: FIXTURES },
        log,
      );
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      assertWellFormed(run, 10);
      assert.deepEqual(result.counts, { total: 10, passed: 6, failed: 3, skipped: 1, other: 0 });
      assert.equal(result.flaky, 2);

      const flaky = byTitle(run, 'retriesPaymentTimeout');
      assert.equal(flaky.outcome, 'Passed');
      assert.equal(flaky.resultGroupType, 1, 'ResultGroupType.Rerun');
      assert.deepEqual(flaky.customFields, [{ fieldName: 'IsTestResultFlaky', value: 'true' }]);
      assert.equal(flaky.comment, 'Flaky: failed 2 of 3 attempts, passed on a rerun.');
      assert.deepEqual(
        flaky.subResults.map((r: any) => [r.outcome, r.customFields]),
        [1, 2, 3].map((n) => [n === 3 ? 'Passed' : 'Failed', [{ fieldName: 'AttemptId', value: String(n) }]]),
      );
      const synced = byTitle(run, 'Checkout.Tests.CartTests.SyncsWithInventory');
      assert.equal(synced.outcome, 'Passed');
      assert.equal(synced.customFields[0].value, 'true');
      assert.deepEqual(
        synced.subResults.map((r: any) => [r.displayName, r.outcome]),
        [
          ['Attempt 1', 'Failed'],
          ['Attempt 2', 'Passed'],
        ],
      );
      const failing = byTitle(run, 'Checkout.Tests.CartTests.EmptiesCart');
      assert.equal(failing.outcome, 'Failed');
      assert.equal(failing.customFields, undefined, 'failed every time: not flaky');
      assert.equal(failing.subResults.length, 3);
      assert.equal(run.results.filter((r) => r.testCaseTitle === 'placesOrder').length, 2, 'same name, two testcases: two tests');
      assert.equal(
        run.results.filter((r) => r.automatedTestName === 'Checkout.Tests.PriceTests.Rounds(amount: 2.675)').length,
        1,
        'theory rows stay apart',
      );

      // Failed attempts' output is attached to their sub-result; a failing test's own output to it.
      const consoleLogs = run.attachments.filter((a) => a.attachmentType === 'ConsoleLog');
      const text = (a: (typeof consoleLogs)[number]) => a.content?.toString();
      const flakyId = run.resultIds[run.results.indexOf(flaky)];
      assert.ok(
        consoleLogs.some(
          (a) =>
            a.resultId === flakyId &&
            a.subResultId !== undefined &&
            text(a) === 'payment gateway answered after 1500 ms (timeout 1000 ms)\n',
        ),
      );
      const syncedId = run.resultIds[run.results.indexOf(synced)];
      assert.ok(
        consoleLogs.some(
          (a) => a.resultId === syncedId && a.subResultId !== undefined && text(a) === 'inventory service: 503 Service Unavailable',
        ),
      );
      const failingId = run.resultIds[run.results.indexOf(failing)];
      assert.ok(
        consoleLogs.some(
          (a) => a.resultId === failingId && a.subResultId === undefined && text(a) === 'cart still holds 1 item after Clear()',
        ),
      );
      assert.ok(
        !consoleLogs.some((a) => a.resultId === flakyId && a.subResultId === undefined),
        'a test that passed at last has no console log of its own',
      );
      assert.ok(log.lines.includes('2 flaky tests: failed, then passed on a rerun (counted as passed):'), log.lines.join('\n'));
      assert.match(result.summaryMarkdown, /### Flaky tests\n\n2 flaky tests/);
    });

    it('contract server (Runs - Create, RunCreateModel.pipelineReference): a run carries the build, stage, phase and job with their attempts; its default title says where it ran', async () => {
      const file = path.join(dir, 'one.xml');
      fs.writeFileSync(file, '<testsuite><testcase classname="c" name="t"/></testsuite>');
      const origin: RunOrigin = {
        buildId: BUILD_ID,
        definitionId: 12,
        stage: { name: 'Build', displayName: 'Build and test', attempt: 1 },
        phase: { name: 'Linux', attempt: 1 },
        job: { name: 'Linux', displayName: 'Linux x64', attempt: 2 },
      };
      const { result } = await publishTo(server, { files: [file], origin });
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      assert.deepEqual(run.created.pipelineReference, {
        pipelineId: BUILD_ID,
        pipelineDefinitionId: 12,
        stageReference: { stageName: 'Build', attempt: 1 },
        phaseReference: { phaseName: 'Linux', attempt: 1 },
        jobReference: { jobName: 'Linux', attempt: 2 },
      });
      assert.equal(run.created.name, 'JUnit test results (Build and test › Linux x64)');
    });

    it(`contract server (Results - Add): batches go ${MAX_BATCHES_IN_FLIGHT} at a time at most, and the run is Completed only after the last`, async () => {
      await server.close();
      server = await startAdoContractServer({ resultsLatencyMs: 40 });
      const file = path.join(dir, 'many.xml');
      fs.writeFileSync(
        file,
        `<testsuite name="many">${Array.from({ length: 5000 }, (_, i) => `<testcase classname="m" name="t${i}"/>`).join('')}</testsuite>`,
      );
      const { result } = await publishTo(server, { files: [file] });
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      assertWellFormed(run, 5000);
      assert.equal(run.batches.length, 10);
      assert.ok(server.maxConcurrentResultAdds >= 2, `${server.maxConcurrentResultAdds} at once: the batches overlap`);
      assert.ok(server.maxConcurrentResultAdds <= MAX_BATCHES_IN_FLIGHT, `${server.maxConcurrentResultAdds} at once`);
      const order = server.requests.map((r) => `${r.method} ${r.path.split('/').slice(-1)[0]}`);
      assert.ok(order.lastIndexOf('POST results') < order.lastIndexOf(`PATCH ${run.id}`), 'completed after every batch');
    });

    it('contract server (Runs - Update, state Aborted): a cancelled publish ends the run Aborted with the reason, without waiting for a call that never answers', async () => {
      await server.close();
      server = await startAdoContractServer({ stallResultsAfter: 1 });
      const file = path.join(dir, 'many.xml');
      fs.writeFileSync(file, `<testsuite>${Array.from({ length: 3000 }, (_, i) => `<testcase name="t${i}"/>`).join('')}</testsuite>`);
      const cancel = new AbortController();
      const publishing = publishTo(server, { files: [file], signal: cancel.signal });
      for (let waited = 0; server.stalled === 0; waited += 20) {
        assert.ok(waited < 20_000, 'a results call reached the server');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The stalled call never answers: a publish that waited for it would not end within the suite's timeout.
      cancel.abort(new Error('the job was cancelled'));
      await assert.rejects(publishing, /the job was cancelled/);
      const run = server.runs.get(1)!;
      assert.equal(run.state, 'Aborted');
      assert.equal(run.updates.at(-1)!.errorMessage, 'the job was cancelled');
      assert.deepEqual(server.violations, []);
    });

    it("contract server (Attachments - Create Test Result Attachment): a failing test's output is one log of at most 64 KiB, head and tail kept, the cut said", async () => {
      const out = Array.from({ length: 30_000 }, (_, i) => `out ${i}`).join('\n');
      const file = path.join(dir, 'loud.xml');
      fs.writeFileSync(
        file,
        `<testsuite><testcase classname="c" name="loud"><failure message="m">trace</failure><system-out><![CDATA[${out}]]></system-out><system-err>err line</system-err></testcase><testcase classname="c" name="quiet-pass"><system-out>not attached</system-out></testcase></testsuite>`,
      );
      const { result } = await publishTo(server, { files: [file] });
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      const logs = run.attachments.filter((a) => a.attachmentType === 'ConsoleLog');
      assert.equal(logs.length, 1, 'only the failing test');
      const [consoleLog] = logs;
      assert.equal(consoleLog.fileName, 'Standard_Console_Output.log');
      assert.ok(consoleLog.size <= MAX_CONSOLE_LOG_BYTES, `${consoleLog.size} bytes`);
      const text = consoleLog.content!.toString();
      assert.ok(text.startsWith('----- standard output -----\nout 0\nout 1\n'));
      assert.ok(text.endsWith('out 29999\n----- standard error -----\nerr line'));
      assert.match(text, /bytes cut/);
    });

    it('contract server (Attachments - Create Test Result Attachment): console logs stop at 50 MB a run, the rest counted in one warning', async function () {
      this.timeout(300_000);
      await server.close();
      server = await startAdoContractServer({ keepResults: 10, keepBodies: false });
      const file = path.join(dir, 'very-loud.xml');
      const fd = fs.openSync(file, 'w');
      const noise = 'x'.repeat(99) + '\n';
      const cases = Math.ceil(MAX_CONSOLE_BYTES_PER_RUN / MAX_CONSOLE_LOG_BYTES) + 20;
      fs.writeSync(fd, '<testsuite name="loud">');
      for (let i = 0; i < cases; i++)
        fs.writeSync(
          fd,
          `<testcase classname="c" name="t${i}"><failure message="m"/><system-out>${noise.repeat(700)}</system-out></testcase>`,
        );
      fs.writeSync(fd, '</testsuite>');
      fs.closeSync(fd);
      const log = memoryLog();
      const { result } = await publishTo(server, { files: [file], publishRunAttachments: true }, log);
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      const logs = run.attachments.filter((a) => a.attachmentType === 'ConsoleLog');
      const bytes = logs.reduce((sum, a) => sum + a.size, 0);
      assert.ok(bytes <= MAX_CONSOLE_BYTES_PER_RUN, `${bytes} bytes of console logs`);
      assert.ok(logs.length >= cases - 25 && logs.length < cases, `${logs.length} of ${cases} attached`);
      assert.ok(
        log.lines.includes(
          `warning: the console output of ${cases - logs.length} more failed tests was not attached (at most 1000 logs and 50 MiB per run)`,
        ),
        log.lines.filter((l) => l.startsWith('warning')).join('\n'),
      );
    });

    it('contract server (Attachments - Create Test Result Attachment): JUnit [[ATTACHMENT|path]] files are attached from inside the search folder only', async () => {
      const results = path.join(dir, 'results');
      fs.mkdirSync(path.join(results, 'shots'), { recursive: true });
      fs.writeFileSync(path.join(results, 'shots', 'fail.png'), 'png bytes');
      const secret = `outerloop-secret-${crypto.randomBytes(8).toString('hex')}`;
      fs.writeFileSync(path.join(dir, 'outside.txt'), secret);
      const xml = `<testsuite><testcase classname="ui.Login" name="showsError"><failure message="no banner"/>
<system-out>[[ATTACHMENT|shots/fail.png]]
[[ATTACHMENT|../outside.txt]]
[[ATTACHMENT|${path.join(dir, 'outside.txt')}]]</system-out></testcase></testsuite>`;
      fs.writeFileSync(path.join(results, 'TEST-ui.xml'), xml);
      const log = memoryLog();
      const { result } = await publishTo(server, { files: [path.join(results, 'TEST-ui.xml')], searchFolder: results }, log);
      assert.deepEqual(server.violations, []);
      const run = server.runs.get(result.runIds[0])!;
      assert.deepEqual(
        run.attachments
          .filter((a) => a.attachmentType === 'GeneralAttachment' && a.resultId !== undefined)
          .map((a) => [a.fileName, a.content?.toString()]),
        [['fail.png', 'png bytes']],
      );
      assert.equal(
        log.lines.filter((l) =>
          /warning: attachment '.*outside\.txt' of test 'ui\.Login\.showsError' was not attached: it is outside the results folder/.test(l),
        ).length,
        2,
      );
      assert.ok(!server.bodies.join('\n').includes(secret));
    });
  });
});
