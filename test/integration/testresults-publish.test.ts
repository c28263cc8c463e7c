import { strict as assert } from 'node:assert';
import { getBearerHandler, WebApi } from 'azure-devops-node-api';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLog } from '../../shared/src/log';
import { connectWithAccessToken, createApiPublisher } from '../../shared/src/testresults/api';
import { outcomeClass, type TestOutcome } from '../../shared/src/testresults/model';
import { publishTestResults, type PublishTestResultsOptions } from '../../shared/src/testresults/publish';
import { startAdoContractServer, type AdoContractServer, type ContractRun } from '../support/ado-contract-server';
import { RESULTS_CORPUS, resultCorpusExpectations, type ExpectedCounts } from '../support/corpus';
import { needOrSkip, testdataAvailable } from '../support/env';

const CORPUS = RESULTS_CORPUS;
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
  assert.ok(run.batches.every((n) => n >= 1 && n <= 1000), `batches ${run.batches}`);
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
        cases.forEach(([file, e], i) => {
          const run = server.runs.get(result.runIds[i])!;
          assertWellFormed(run, e.total);
          assert.equal(run.created.buildPlatform, 'x64');
          assert.equal(run.created.buildFlavor, 'Release');
          assert.deepEqual(classes(run), { passed: e.passed, failed: e.failed, skipped: e.skipped, other: e.other }, file);
          const attached = run.attachments.find((a) => a.fileName === path.basename(file) && a.resultId === undefined);
          assert.ok(attached, `${file} is attached to its run`);
          assert.equal(attached.sha256, sha256(path.join(CORPUS, file)));
          for (const r of run.results) assert.equal(r.automatedTestType, { junit: 'JUnit', trx: 'VSTest', nunit3: 'NUnit', nunit2: 'NUnit', xunit2: 'XUnit', ctest: 'CTest' }[format]);
        });
        const versions = new Set(server.requests.filter((r) => r.method !== 'OPTIONS').map((r) => r.apiVersion));
        assert.ok([...versions].every((v) => /^7\.2-preview\.\d$/.test(v ?? '')), [...versions].join(' '));
        assert.ok(server.requests.some((r) => r.method === 'OPTIONS' && r.path.endsWith('/_apis/Test')), 'location discovery');
      });
    }

    it('contract server: merged, every corpus file is one run with all results, and outputs match EXPECTED.json', async () => {
      const { result } = await publishTo(server, { files: expected.map(([f]) => path.join(CORPUS, f)), runTitle: 'Corpus', searchFolder: CORPUS });
      assert.deepEqual(server.violations, []);
      const sum = { total: 0, passed: 0, failed: 0, skipped: 0, other: 0 };
      for (const [, e] of expected) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += e[k];
      assert.deepEqual(result.counts, sum);
      assert.equal(server.runs.size, 1);
      const run = [...server.runs.values()][0];
      assertWellFormed(run, sum.total);
      assert.equal(run.created.name, 'Corpus');
      const failedWithOutput = run.attachments.filter((a) => a.attachmentType === 'ConsoleLog');
      assert.ok(failedWithOutput.length > 0 && failedWithOutput.every((a) => a.resultId !== undefined));
      assert.match(result.summaryMarkdown, new RegExp(`\\| ${sum.total} \\| ${sum.passed} \\| ${sum.failed} \\| ${sum.skipped} \\| ${sum.other} \\|`));
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
    assert.deepEqual(run.results.map((r) => r.testCaseTitle), cases.map((_, i) => `t${i}`), 'in file order');
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
      put('good.xml', '<testsuite><testcase classname="a" name="ok"/><testcase classname="a" name="bad"><error message="e"/></testcase></testsuite>'),
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
    const perResult = run.attachments.filter((a) => a.resultId !== undefined).map((a) => [a.fileName, a.attachmentType, a.content?.toString()]);
    assert.deepEqual(perResult, [
      ['screenshot.png', 'GeneralAttachment', 'PNG-ish bytes'],
      ['Standard_Console_Output.log', 'ConsoleLog', 'console says hi'],
    ]);
    assert.deepEqual(run.attachments.filter((a) => a.resultId === undefined).map((a) => a.fileName), ['run.trx']);
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
    const wrongToken = createApiPublisher({ connect: () => connectWithAccessToken(server.url, 'not-the-token'), project: server.project, buildId: 1 });
    await assert.rejects(publishTestResults({ files: [file] }, wrongToken, memoryLog()), /^Error: connecting to Azure DevOps failed \(HTTP 401\): /);
    const wrongProject = createApiPublisher({ connect: () => connectWithAccessToken(server.url, server.token), project: 'Nope', buildId: 1 });
    await assert.rejects(publishTestResults({ files: [file] }, wrongProject, memoryLog()), /^Error: creating test run 'JUnit test results' failed: Azure DevOps returned no run \(is project 'Nope' right\?\)$/);
    assert.equal(server.runs.size, 0);
  });
});
