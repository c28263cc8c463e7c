// PublishContainerTestResults@1 run from its bundle exactly as the agent runs it: api mode against the local Azure
// DevOps contract server (test/support/ado-contract-server.ts), agent mode through the results.publish command.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { outcomeClass, type TestOutcome } from '../../shared/src/testresults/model';
import { findFiles } from '../../shared/src/pipeline/files';
import { startAdoContractServer, type AdoContractServer, type ContractRun } from '../support/ado-contract-server';
import { RESULTS_CORPUS, resultCorpusExpectations } from '../support/corpus';
import { needOrSkip, repoRoot, testdataAvailable } from '../support/env';
import {
  assertFailedCleanly,
  assertNoSecrets,
  bundleOnce,
  describeRun,
  runBundledTask,
  type RunOptions,
  type TaskRun,
  uploadedSummary,
} from '../support/harness';

const TASK = 'PublishContainerTestResults';
const CORPUS = RESULTS_CORPUS;
const FIXTURES = path.join(repoRoot, 'test', 'fixtures', 'test-results');
const BUILD_ID = '4711';

function junit(name: string, cases: { name: string; fail?: boolean; skip?: boolean }[]): string {
  const body = cases
    .map(
      (c) =>
        `<testcase classname="${name}" name="${c.name}" time="0.01">${c.fail ? '<failure message="boom">trace</failure>' : c.skip ? '<skipped/>' : ''}</testcase>`,
    )
    .join('');
  return `<?xml version="1.0"?><testsuites><testsuite name="${name}">${body}</testsuite></testsuites>\n`;
}

function classes(run: ContractRun): Record<string, number> {
  const out: Record<string, number> = { passed: 0, failed: 0, skipped: 0, other: 0 };
  for (const [outcome, n] of Object.entries(run.outcomes)) out[outcomeClass(outcome as TestOutcome)] += n;
  return out;
}

function assertCompleteRun(run: ContractRun | undefined, total: number): asserts run {
  assert.ok(run, 'the run exists on the server');
  assert.equal(run.state, 'Completed');
  assert.equal(run.created.automated, true);
  assert.equal(run.created.build?.id, BUILD_ID);
  assert.equal(run.resultCount, total);
  assert.equal(run.updates.at(-1)?.state, 'Completed');
}

function outputCounts(run: TaskRun) {
  const { totalTests, passedTests, failedTests, skippedTests } = run.outputs;
  return { totalTests, passedTests, failedTests, skippedTests };
}

describe('PublishContainerTestResults@1 task (bundle run as the agent runs it)', function () {
  let server: AdoContractServer;
  let dir: string;

  /** Api mode as the agent sets it up: collection, project, build and the SystemVssConnection OAuth token. */
  const apiRun = (inputs: Record<string, string>, extra: RunOptions = {}) =>
    runBundledTask(TASK, {
      ...extra,
      inputs: { searchFolder: dir, ...inputs },
      variables: {
        'System.TeamFoundationCollectionUri': server.url,
        'System.TeamProject': server.project,
        'Build.BuildId': BUILD_ID,
        'Build.BuildUri': `vstfs:///Build/Build/${BUILD_ID}`,
        ...extra.variables,
      },
      endpoints: [{ id: 'SystemVssConnection', url: server.url, scheme: 'OAuth', parameters: { AccessToken: server.token } }],
    });
  const put = (name: string, content: string | Buffer) => {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    return file;
  };

  before(async function () {
    this.timeout(120_000);
    await bundleOnce();
  });
  beforeEach(async () => {
    server = await startAdoContractServer();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-pctr-'));
  });
  afterEach(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('every corpus file gives exactly its EXPECTED.json counts (contract server)', () => {
    const expected = resultCorpusExpectations();
    if (expected.length === 0) {
      it('needs the test-results corpus in ../shared/testdata (skipped outside CI when it is absent)', function () {
        needOrSkip(this, false, 'the test-results corpus (../shared/testdata/test-results)');
      });
    }
    for (const [index, [relative, { api: e }]] of expected.entries()) {
      it(`${relative}, api mode (contract server): ${e.total} = ${e.passed} passed, ${e.failed} failed, ${e.skipped} skipped`, async () => {
        // The first file is read by an agent that reads late and slowly (harness.ts); the others as they come.
        const run = await apiRun({ searchFolder: CORPUS, testResultsFiles: relative }, { reader: index === 0 ? 'late' : 'fast' });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        assert.deepEqual(outputCounts(run), {
          totalTests: String(e.total),
          passedTests: String(e.passed),
          failedTests: String(e.failed),
          skippedTests: String(e.skipped),
        });
        assert.deepEqual(server.violations, []);
        assert.equal(server.runs.size, 1);
        const published = server.runs.get(Number(run.outputs.testRunId));
        assertCompleteRun(published, e.total);
        assert.deepEqual(classes(published), { passed: e.passed, failed: e.failed, skipped: e.skipped, other: e.other });
        assertNoSecrets(run, [server.token]);
      });
    }
    for (const [relative, { agent: e }] of expected) {
      it(`${relative}, agent mode (results.publish): outputs say what the agent publishes, ${e.total} = ${e.passed} passed, ${e.failed} failed, ${e.skipped} skipped`, async () => {
        const run = await runBundledTask(TASK, { inputs: { searchFolder: CORPUS, testResultsFiles: relative, publishMode: 'agent' } });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        assert.deepEqual(outputCounts(run), {
          totalTests: String(e.total),
          passedTests: String(e.passed),
          failedTests: String(e.failed),
          skippedTests: String(e.skipped),
        });
        const publishes = run.commands.filter((c) => c.command === 'results.publish');
        assert.deepEqual(
          publishes.map((c) => c.properties.resultFiles),
          e.publishes ? [path.join(CORPUS, relative)] : [],
        );
        assert.equal(server.requests.length, 0, 'the agent publishes; the task calls no REST API');
      });
    }
  });

  describe('rule sets, reruns and where a run came from (fixtures modelled on real tool output)', () => {
    const fixture = (name: string) => path.join(FIXTURES, name);

    for (const mode of ['api', 'agent'] as const) {
      it(`a TRX without outcomes fails the task with failTaskOnFailedTests, ${mode} mode`, async () => {
        const inputs = { searchFolder: FIXTURES, testResultsFiles: 'trx-no-outcome.trx', failTaskOnFailedTests: 'true', publishMode: mode };
        const run = mode === 'api' ? await apiRun(inputs) : await runBundledTask(TASK, { inputs });
        assertFailedCleanly(run, /^2 of 2 tests failed \(failTaskOnFailedTests is true\)$/);
        assert.equal(run.outputs.failedTests, '2');
        if (mode === 'api') assertCompleteRun(server.runs.get(Number(run.outputs.testRunId)), 2);
        else assert.equal(run.commands.filter((c) => c.command === 'results.publish').length, 1);
      });
    }

    it('contract server (Results - Add subResults, resultGroupType Rerun and DataDriven): reruns and data rows post one result per test with sub-results; flaky tests are counted in the summary', async () => {
      const inputs = { searchFolder: FIXTURES, testResultsFiles: 'surefire-reruns.xml\nvstest-retry.trx', testRunTitle: 'Reruns' };
      const run = await apiRun(inputs);
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.deepEqual(server.violations, []);
      const published = server.runs.get(Number(run.outputs.testRunId));
      assertCompleteRun(published, 10);
      assert.deepEqual(outputCounts(run), { totalTests: '10', passedTests: '6', failedTests: '3', skippedTests: '1' });
      const grouped = published.results.filter((r) => r.subResults);
      assert.deepEqual(
        grouped.map((r) => [r.testCaseTitle, r.resultGroupType, r.subResults.length]),
        [
          ['retriesPaymentTimeout', 1, 3],
          ['rejectsEmptyBasket', 1, 3],
          ['Checkout.Tests.CartTests.SyncsWithInventory', 1, 2],
          ['Checkout.Tests.CartTests.EmptiesCart', 1, 3],
        ],
      );
      assert.ok(run.lines.includes('2 flaky tests: failed, then passed on a rerun (counted as passed):'), run.lines.join('\n'));
      const summary = fs.readFileSync(run.commands.find((c) => c.command === 'task.uploadsummary')!.message, 'utf8');
      assert.match(summary, /### Flaky tests\n\n2 flaky tests/);

      const agent = await runBundledTask(TASK, { inputs: { ...inputs, publishMode: 'agent' } });
      assert.deepEqual(
        outputCounts(agent),
        { totalTests: '13', passedTests: '6', failedTests: '6', skippedTests: '1' },
        'the agent posts every TRX attempt',
      );
      assert.ok(!agent.lines.some((l) => /flaky/.test(l)), 'the agent does not merge reruns');
    });

    it('contract server (Runs - Create, pipelineReference): runs from two jobs of two stages carry distinct pipeline references and readable titles', async () => {
      put('TEST-app.xml', junit('app', [{ name: 'a' }, { name: 'b', fail: true }]));
      const jobVariables = (stage: string, job: string, attempt: string) => ({
        'System.DefinitionId': '31',
        'System.StageName': stage,
        'System.StageDisplayName': `${stage} stage`,
        'System.StageAttempt': '1',
        'System.PhaseName': job,
        'System.PhaseAttempt': attempt,
        'System.JobName': job,
        'System.JobDisplayName': `${job} job`,
        'System.JobAttempt': attempt,
      });
      const first = await apiRun({ testResultsFiles: '*.xml' }, { variables: jobVariables('Build', 'linux', '1') });
      const second = await apiRun({ testResultsFiles: '*.xml' }, { variables: jobVariables('Verify', 'windows', '2') });
      for (const run of [first, second]) assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.deepEqual(server.violations, []);
      const [a, b] = [first, second].map((run) => server.runs.get(Number(run.outputs.testRunId))!);
      assert.deepEqual(a.created.pipelineReference, {
        pipelineId: Number(BUILD_ID),
        pipelineDefinitionId: 31,
        stageReference: { stageName: 'Build', attempt: 1 },
        phaseReference: { phaseName: 'linux', attempt: 1 },
        jobReference: { jobName: 'linux', attempt: 1 },
      });
      assert.deepEqual(b.created.pipelineReference, {
        pipelineId: Number(BUILD_ID),
        pipelineDefinitionId: 31,
        stageReference: { stageName: 'Verify', attempt: 1 },
        phaseReference: { phaseName: 'windows', attempt: 2 },
        jobReference: { jobName: 'windows', attempt: 2 },
      });
      assert.equal(a.created.name, 'JUnit test results (Build stage › linux job)');
      assert.equal(b.created.name, 'JUnit test results (Verify stage › windows job)');
    });

    it('agent mode: a file the agent will not read is a warning naming it and counts nothing; the others are handed over', async () => {
      const run = await runBundledTask(TASK, {
        inputs: {
          searchFolder: FIXTURES,
          testResultsFiles: 'junit-escape-reference.xml\nctest-missing-status.xml\nsurefire-reruns.xml',
          publishMode: 'agent',
        },
      });
      assert.equal(run.result, 'SucceededWithIssues', describeRun(run));
      for (const name of ['junit-escape-reference.xml', 'ctest-missing-status.xml']) {
        assert.equal(run.warnings.filter((w) => w.includes(`'${name}'`)).length, 1, `${name}\n${run.warnings.join('\n')}`);
      }
      assert.deepEqual(
        run.commands.filter((c) => c.command === 'results.publish').map((c) => c.properties.resultFiles),
        [fixture('surefire-reruns.xml')],
      );
      assert.deepEqual(outputCounts(run), { totalTests: '5', passedTests: '3', failedTests: '1', skippedTests: '1' });
    });

    it('contract server (Runs - Update, state Aborted): a job cancelled mid-publish leaves the run Aborted with the reason', async () => {
      await server.close();
      server = await startAdoContractServer({ stallResultsAfter: 1 });
      put(
        'many.xml',
        junit(
          'many',
          Array.from({ length: 3000 }, (_, i) => ({ name: `t${i}` })),
        ),
      );
      const run = await apiRun({ testResultsFiles: 'many.xml' }, { cancelWhen: () => server.stalled > 0 });
      assert.equal(run.result, 'Cancelled', describeRun(run));
      assert.ok(server.stalled > 0, 'the publish was under way');
      const published = server.runs.get(1)!;
      assert.equal(published.state, 'Aborted');
      assert.equal(published.updates.at(-1)?.errorMessage, 'the job was cancelled');
    });
  });

  it('contract server: a run per file with mergeTestResults false; testRunId is the first; platform and configuration recorded', async () => {
    put('a/one.xml', junit('one', [{ name: 'a' }, { name: 'b', fail: true }]));
    put('b/two.xml', junit('two', [{ name: 'c', skip: true }]));
    put('b/ignored.txt', 'not a result file');
    const run = await apiRun({
      testResultsFiles: '**/*.xml',
      mergeTestResults: 'false',
      testRunTitle: 'Container tests',
      buildPlatform: 'x64',
      buildConfiguration: 'Release',
    });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.deepEqual(server.violations, []);
    assert.equal(server.runs.size, 2);
    const [first, second] = [...server.runs.values()];
    assertCompleteRun(first, 2);
    assertCompleteRun(second, 1);
    assert.equal(run.outputs.testRunId, String(first.id));
    assert.deepEqual(outputCounts(run), { totalTests: '3', passedTests: '1', failedTests: '1', skippedTests: '1' });
    assert.match(first.created.name, /^Container tests/);
    assert.equal(first.created.buildPlatform, 'x64');
    assert.equal(first.created.buildFlavor, 'Release');
  });

  it('contract server: merged by default, one run for every file', async () => {
    put('one.xml', junit('one', [{ name: 'a' }]));
    put('deep/er/two.xml', junit('two', [{ name: 'b' }, { name: 'c' }]));
    const run = await apiRun({ testResultsFiles: '**/*.xml' });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(server.runs.size, 1);
    assertCompleteRun(server.runs.get(Number(run.outputs.testRunId)), 3);
  });

  it('contract server: hostile files beside good ones end SucceededWithIssues, each named; nothing of a local file leaks', async () => {
    const marker = `local-secret-${crypto.randomBytes(12).toString('hex')}`;
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-pctr-outside-'));
    const secretFile = path.join(outside, 'secret.txt');
    fs.writeFileSync(secretFile, marker);
    try {
      put('good.xml', junit('good', [{ name: 'a' }, { name: 'b', fail: true }, { name: 'c' }]));
      put(
        'xxe.xml',
        `<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://${secretFile}">]>\n<testsuite><testcase name="&xxe;"/></testsuite>\n`,
      );
      const lols = ['<!ENTITY lol "lol">'];
      for (let i = 1; i <= 9; i++) lols.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
      put(
        'laughs.xml',
        `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${lols.join('\n')}\n]>\n<testsuite><testcase name="&lol9;"/></testsuite>\n`,
      );
      put('truncated.xml', junit('cut', [{ name: 'x' }, { name: 'y' }]).slice(0, 90));
      put('empty.xml', '');
      put('junk.xml', crypto.randomBytes(4096));
      put('later/good2.xml', junit('good2', [{ name: 'd', skip: true }]));

      const run = await apiRun({ testResultsFiles: '**/*.xml' });
      assert.equal(run.result, 'SucceededWithIssues', describeRun(run));
      const warnings = run.warnings;
      for (const bad of ['xxe.xml', 'laughs.xml', 'truncated.xml', 'empty.xml', 'junk.xml']) {
        assert.equal(warnings.filter((w) => w.includes(`'${bad}'`)).length, 1, `one warning names ${bad}\n${run.warnings.join('\n')}`);
        assert.ok(run.message.includes(`'${bad}'`), `the result line names ${bad}`);
      }
      assert.ok(!run.warnings.some((w) => /good/.test(w)), run.warnings.join('\n'));
      assert.deepEqual(outputCounts(run), { totalTests: '4', passedTests: '2', failedTests: '1', skippedTests: '1' });
      assert.deepEqual(server.violations, []);
      assert.equal(server.runs.size, 1);
      assertCompleteRun(server.runs.get(Number(run.outputs.testRunId)), 4);
      const seen = [run.stdout, run.stderr, ...server.bodies].join('\n');
      assert.ok(!seen.includes(marker), 'the local file content reached the output or a request');
      assertNoSecrets(run, [server.token]);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('no matching file: a warning naming the patterns, Succeeded, empty counts, nothing published', async () => {
    const run = await apiRun({ testResultsFiles: '**/*.trx' });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.ok(
      run.warnings.some((w) => /no test result files matched '\*\*\/\*\.trx'/.test(w)),
      run.warnings.join('\n'),
    );
    assert.equal(run.outputs.totalTests, '0');
    assert.equal(run.outputs.testRunId, '');
    assert.equal(server.runs.size, 0);
  });

  it('no matching file with failTaskOnMissingResultsFile: Failed, one line naming the input', async () => {
    const run = await apiRun({ testResultsFiles: '**/*.trx', failTaskOnMissingResultsFile: 'true' });
    assertFailedCleanly(run, /no test result files matched .*failTaskOnMissingResultsFile/);
    assert.equal(server.runs.size, 0);
  });

  it('contract server: failTaskOnFailedTests fails the task after publishing, outputs still set', async () => {
    put('r.xml', junit('r', [{ name: 'a' }, { name: 'b', fail: true }]));
    const run = await apiRun({ testResultsFiles: '*.xml', failTaskOnFailedTests: 'true' });
    assertFailedCleanly(run, /1 of 2 tests failed \(failTaskOnFailedTests is true\)/);
    assert.equal(run.outputs.failedTests, '1');
    assertCompleteRun(server.runs.get(Number(run.outputs.testRunId)), 2);
    const passing = await apiRun({ testResultsFiles: '*.xml', failTaskOnFailedTests: 'false' });
    assert.equal(passing.result, 'Succeeded', describeRun(passing));
  });

  it('contract server: the access token never reaches stdout, stderr or a file, even with System.Debug', async () => {
    put('r.xml', junit('r', [{ name: 'a' }]));
    const run = await apiRun({ testResultsFiles: '*.xml' }, { variables: { 'System.Debug': 'true' } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.ok(server.requests.length > 0, 'the server was called with the token');
    assertNoSecrets(run, [server.token]);
  });

  it('sends task.uploadsummary with an existing Markdown file holding the counts, titled Test results', async () => {
    put('r.xml', junit('r', [{ name: 'a' }, { name: 'b', fail: true }, { name: 'c', skip: true }]));
    const run = await apiRun({ testResultsFiles: '*.xml' });
    // One upload, its file under Agent.TempDirectory and still there after the task exited.
    const { title, markdown } = uploadedSummary(run);
    assert.equal(title, 'Test results', 'the Extensions tab titles the section with the file name');
    assert.match(markdown, /\| 3 \| 1 \| 1 \| 1 \| 0 \|/);
    assert.match(markdown, /\| r\.b \| boom \|/, 'names the failed test');
  });

  it('titles the summary with testRunTitle, made a file name every agent accepts', async () => {
    put('r.xml', junit('r', [{ name: 'a' }]));
    const run = await apiRun({ testResultsFiles: '*.xml', testRunTitle: 'Unit: api/web *nightly*' });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(uploadedSummary(run).title, 'Unit api web nightly');
  });

  it('agent mode: results.publish per format round-trips through task-lib, odd characters in paths included; no REST call', async () => {
    const a = put('sub dir/run;1]x.xml', junit('a', [{ name: 'a' }, { name: 'b', fail: true }]));
    const b = put('second.xml', junit('b', [{ name: 'c' }]));
    const trx = put(
      'tests.trx',
      fs.existsSync(path.join(CORPUS, 'trx/dorny-xunit.trx')) ? fs.readFileSync(path.join(CORPUS, 'trx/dorny-xunit.trx')) : '',
    );
    const comma = put('with,comma.xml', junit('c', [{ name: 'd' }]));
    const run = await runBundledTask(TASK, {
      inputs: {
        searchFolder: dir,
        testResultsFiles: '**/*.xml\n*.trx',
        publishMode: 'agent',
        testRunTitle: 'Agent [run]; 1',
        buildPlatform: 'x64',
      },
    });
    const publishes = run.commands.filter((c) => c.command === 'results.publish');
    const junitRun = publishes.find((c) => c.properties.type === 'JUnit');
    assert.ok(junitRun, describeRun(run));
    assert.deepEqual(junitRun.properties.resultFiles.split(',').sort(), [b, a].sort(), 'paths survive the escaping');
    assert.equal(junitRun.properties.mergeResults, 'true');
    assert.equal(junitRun.properties.runTitle, 'Agent [run]; 1');
    assert.equal(junitRun.properties.platform, 'x64');
    assert.equal(junitRun.properties.publishRunAttachments, 'true');
    assert.ok(!publishes.some((c) => c.properties.resultFiles.includes(comma)), 'a comma path cannot be expressed');
    assert.ok(
      run.warnings.some((w) => w.includes("'with,comma.xml'") && /comma/.test(w)),
      run.warnings.join('\n'),
    );
    assert.equal(run.outputs.testRunId, '');
    if (testdataAvailable()) {
      assert.equal(publishes.length, 2, 'one command per format');
      assert.deepEqual(publishes.find((c) => c.properties.type === 'VSTest')?.properties.resultFiles, trx);
      assert.equal(run.outputs.totalTests, String(3 + 11));
    } else {
      assert.ok(run.warnings.some((w) => w.includes("'tests.trx'")));
    }
    assert.equal(run.result, 'SucceededWithIssues', describeRun(run));
    assert.equal(server.requests.length, 0);
    assert.equal(uploadedSummary(run).title, 'Agent [run]; 1', 'the summary too, in agent mode');
  });

  describe('bad input: one clear Failed line', () => {
    it('an unknown testResultsFormat', async () => {
      assertFailedCleanly(await apiRun({ testResultsFormat: 'TAP' }), /input 'testResultsFormat' must be one of auto, JUnit/);
      assert.equal(server.runs.size, 0);
    });
    it('a malformed boolean', async () => {
      assertFailedCleanly(await apiRun({ mergeTestResults: 'yes' }), /input 'mergeTestResults' must be true or false/);
    });
    it('api mode without the collection URL names the variable and the way out', async () => {
      put('r.xml', junit('r', [{ name: 'a' }]));
      const run = await runBundledTask(TASK, { inputs: { searchFolder: dir, testResultsFiles: '*.xml' } });
      assertFailedCleanly(run, /variable 'System\.TeamFoundationCollectionUri' is not set.*publishMode 'agent'/);
    });
    it('api mode with a collection URI that is not a URL names the variable (not ECONNREFUSED 127.0.0.1:80)', async () => {
      put('r.xml', junit('r', [{ name: 'a' }]));
      const run = await runBundledTask(TASK, {
        inputs: { searchFolder: dir, testResultsFiles: '*.xml' },
        variables: { 'System.TeamFoundationCollectionUri': 'dev.azure.com/org', 'System.TeamProject': server.project },
        endpoints: [{ id: 'SystemVssConnection', url: server.url, scheme: 'OAuth', parameters: { AccessToken: server.token } }],
      });
      assertFailedCleanly(run, /^variable 'System\.TeamFoundationCollectionUri' is 'dev\.azure\.com\/org', not an http\(s\) URL/);
      assert.equal(server.requests.length, 0);
    });
    it('api mode without the access token says so', async () => {
      put('r.xml', junit('r', [{ name: 'a' }]));
      const run = await runBundledTask(TASK, {
        inputs: { searchFolder: dir, testResultsFiles: '*.xml' },
        variables: { 'System.TeamFoundationCollectionUri': server.url, 'System.TeamProject': server.project },
      });
      assertFailedCleanly(run, /access token \(SystemVssConnection\) is not available/);
      assert.equal(server.requests.length, 0);
    });
  });
});

describe('PublishContainerTestResults: testResultsFiles patterns (task-lib findMatch, as PublishTestResults@2 resolves them)', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-pctr-glob-'));
    for (const f of [
      'a.xml',
      'TEST-a.xml',
      'x/b.xml',
      'x/y/c.trx',
      'x/skip/d.xml',
      '.hidden/e.xml',
      'f.xml.bak',
      'g1.xml',
      'g2.xml',
      'folder.xml/h.txt',
    ]) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), '');
    }
    fs.symlinkSync(dir, path.join(dir, 'x', 'loop'));
    fs.symlinkSync(path.join(dir, 'nowhere.xml'), path.join(dir, 'dangling.xml'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** findMatch writes task.debug lines as it walks; they are the agent's, not this test's. */
  const quietly = <T>(fn: () => T): T => {
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    try {
      return fn();
    } finally {
      process.stdout.write = write;
    }
  };
  const find = (...patterns: string[]) => quietly(() => findFiles(patterns, dir)).map((f) => path.relative(dir, f));

  it('** matches any depth including none, dot folders included; a symlinked folder back into the tree is walked once', () => {
    assert.deepEqual(find('**/*.xml'), ['.hidden/e.xml', 'TEST-a.xml', 'a.xml', 'g1.xml', 'g2.xml', 'x/b.xml', 'x/skip/d.xml']);
  });
  it('* stays in one segment; ?, [..] and ! exclusions; # comments', () => {
    assert.deepEqual(find('*.xml', '!TEST-*'), ['a.xml', 'g1.xml', 'g2.xml']);
    assert.deepEqual(find('g?.xml'), ['g1.xml', 'g2.xml']);
    assert.deepEqual(find('g[!1].xml'), ['g2.xml']);
    assert.deepEqual(find('**/*.xml', '!**/skip/**', '!.hidden/**'), ['TEST-a.xml', 'a.xml', 'g1.xml', 'g2.xml', 'x/b.xml']);
    assert.deepEqual(find('x/**/*.trx', 'x/b.xml', '# x/skip/d.xml'), ['x/b.xml', 'x/y/c.trx']);
  });
  it('absolute patterns, a missing folder, and a dozen **/ over a deep folder', () => {
    assert.deepEqual(find(path.join(dir, 'x', '*.xml')), ['x/b.xml']);
    assert.deepEqual(
      quietly(() => findFiles(['**/*.xml'], path.join(dir, 'missing'))),
      [],
    );
    assert.deepEqual(find(`${'**/'.repeat(12)}c.trx`), ['x/y/c.trx']);
  });
  it('returns files only: a folder named like a result file and a dangling link are passed over', () => {
    assert.deepEqual(find('*.xml'), ['TEST-a.xml', 'a.xml', 'g1.xml', 'g2.xml']);
  });
});
