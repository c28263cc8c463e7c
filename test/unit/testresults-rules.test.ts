// The two rule sets on our own fixture files (test/fixtures/test-results, modelled on real tool output): what each
// publishMode reads from reruns, data rows, missing outcomes, characters XML forbids and files the agent cannot read.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLog } from '../../shared/src/log';
import { createAgentPublisher, type LoggingCommand } from '../../shared/src/testresults/agent';
import { consoleLog, headAndTail, MAX_CONSOLE_LOG_BYTES } from '../../shared/src/testresults/attachments';
import type { RuleSet, TestResult } from '../../shared/src/testresults/model';
import { readResultFile, ResultFileError, scanResultFile, type ParsedFile } from '../../shared/src/testresults/parse';
import { publishTestResults } from '../../shared/src/testresults/publish';
import { MAX_HELD_ATTEMPTS, RerunCounter } from '../../shared/src/testresults/reruns';
import { SummaryCollector, summaryMarkdown, summaryTable } from '../../shared/src/testresults/summary';
import { XmlTokenizer } from '../../shared/src/testresults/xml';
import { repoRoot } from '../support/env';

const FIXTURES = path.join(repoRoot, 'test', 'fixtures', 'test-results');
const fixture = (name: string) => path.join(FIXTURES, name);

/** As each publishMode reads a file: api merges reruns in the pass that publishes; agent counts in one pass. */
async function readAs(rules: RuleSet, file: string, chunkBytes?: number): Promise<{ parsed: ParsedFile; results: TestResult[] }> {
  const results: TestResult[] = [];
  if (rules === 'agent') {
    const parsed = await scanResultFile(file, (r) => results.push(r), { rules, chunkBytes });
    return { parsed, results };
  }
  const first = await scanResultFile(file, () => {}, { chunkBytes });
  const parsed = await readResultFile(file, (batch) => void results.push(...batch), {
    trxDefinitions: first.trxDefinitions,
    reruns: first.reruns,
    mergeReruns: true,
    chunkBytes,
  });
  return { parsed, results };
}

const tally = (parsed: ParsedFile) => ({ ...parsed.counts, flaky: parsed.flaky });

describe('testresults: the two rule sets on fixture files', () => {
  const table: { file: string; api: object | RegExp; agent: object | RegExp; why: string }[] = [
    {
      file: 'surefire-reruns.xml',
      why: 'Surefire reruns are attempts of one testcase; testcases that merely share a name stay separate',
      api: { total: 5, passed: 3, failed: 1, skipped: 1, other: 0, flaky: 1 },
      agent: { total: 5, passed: 3, failed: 1, skipped: 1, other: 0, flaky: 0 },
    },
    {
      file: 'vstest-retry.trx',
      why: 'TRX results repeating testId and testName are merged (api); the agent posts each',
      api: { total: 5, passed: 3, failed: 2, skipped: 0, other: 0, flaky: 1 },
      agent: { total: 8, passed: 3, failed: 5, skipped: 0, other: 0, flaky: 0 },
    },
    {
      file: 'trx-no-outcome.trx',
      why: 'a TRX result without an outcome is Failed, as the agent reads it',
      api: { total: 2, passed: 0, failed: 2, skipped: 0, other: 0, flaky: 0 },
      agent: { total: 2, passed: 0, failed: 2, skipped: 0, other: 0, flaky: 0 },
    },
    {
      file: 'trx-escape-reference.trx',
      why: '&#x1B; in a TRX: XmlDocument.LoadXml reads it, so both modes do',
      api: { total: 5, passed: 3, failed: 2, skipped: 0, other: 0, flaky: 1 },
      agent: { total: 8, passed: 3, failed: 5, skipped: 0, other: 0, flaky: 0 },
    },
    {
      file: 'junit-escape-reference.xml',
      why: "&#27; in JUnit: the API rules read it; the agent's XmlReader refuses it",
      api: { total: 2, passed: 1, failed: 1, skipped: 0, other: 0, flaky: 0 },
      agent: /character reference '&#27;' to a character XML does not allow/,
    },
    {
      file: 'junit-raw-escape.xml',
      why: 'a raw ESC byte is not XML: refused in both modes, where it is said',
      api: /the control character 0x1B at byte \d+/,
      agent: /the control character 0x1B at byte \d+/,
    },
    {
      file: 'ctest-missing-status.xml',
      why: "a CTest Test without Status makes the agent's reader fail: refused whole",
      api: /without a Status/,
      agent: /without a Status/,
    },
    {
      file: 'xunit1-assembly.xml',
      why: 'a root <assembly> with class/test (xUnit 1): read by the API rules, nothing for the agent',
      api: { total: 3, passed: 1, failed: 1, skipped: 1, other: 0, flaky: 0 },
      agent: { total: 0, passed: 0, failed: 0, skipped: 0, other: 0, flaky: 0 },
    },
    {
      file: 'nunit3-no-start-time.xml',
      why: 'NUnit 3 without start-time: the agent reads no result (the API rules are the same)',
      api: { total: 0, passed: 0, failed: 0, skipped: 0, other: 0, flaky: 0 },
      agent: { total: 0, passed: 0, failed: 0, skipped: 0, other: 0, flaky: 0 },
    },
  ];

  for (const rules of ['api', 'agent'] as RuleSet[]) {
    for (const row of table) {
      const expected = row[rules];
      it(`${row.file}, ${rules} mode: ${expected instanceof RegExp ? 'refused' : `${(expected as { total: number }).total} results`} (${row.why})`, async () => {
        if (expected instanceof RegExp) {
          await assert.rejects(readAs(rules, fixture(row.file)), (error: unknown) => {
            assert.ok(error instanceof ResultFileError, String(error));
            assert.ok(error.message.includes(row.file), 'the error names the file');
            assert.match(error.problem, expected);
            return true;
          });
          return;
        }
        const { parsed, results } = await readAs(rules, fixture(row.file));
        assert.equal(results.length, (expected as { total: number }).total, 'the count first');
        assert.deepEqual(tally(parsed), expected);
        // Any chunking gives the same results (references and characters cut by a chunk boundary included).
        for (const chunkBytes of [1, 5, 4096]) {
          const pieces = await readAs(rules, fixture(row.file), chunkBytes);
          assert.deepEqual(pieces.results, results, `${chunkBytes}-byte chunks`);
        }
      });
    }
  }

  it('Surefire: flaky runs, then the final pass, as attempts of one Rerun result; a failure stays failed with its reruns', async () => {
    const { results } = await readAs('api', fixture('surefire-reruns.xml'));
    const flaky = results.find((r) => r.title === 'retriesPaymentTimeout')!;
    assert.equal(flaky.outcome, 'Passed');
    assert.equal(flaky.flaky, true);
    assert.equal(flaky.resultGroupType, 'Rerun');
    assert.deepEqual(
      flaky.subResults!.map((s) => [s.displayName, s.outcome, s.attempt, s.errorMessage]),
      [
        ['retriesPaymentTimeout (attempt 1)', 'Failed', 1, 'expected: <CONFIRMED> but was: <PENDING>'],
        ['retriesPaymentTimeout (attempt 2)', 'Failed', 2, 'Connection refused'],
        ['retriesPaymentTimeout (attempt 3)', 'Passed', 3, undefined],
      ],
    );
    assert.equal(flaky.subResults![0].stdout, 'payment gateway answered after 1500 ms (timeout 1000 ms)\n');
    assert.match(flaky.subResults![1].stackTrace!, /^java\.net\.ConnectException: Connection refused/);
    const failing = results.find((r) => r.title === 'rejectsEmptyBasket')!;
    assert.equal(failing.outcome, 'Failed');
    assert.equal(failing.flaky, false);
    assert.deepEqual(
      failing.subResults!.map((s) => s.outcome),
      ['Failed', 'Failed', 'Failed'],
    );
    assert.equal(failing.subResults![1].stdout, 'POST /orders -> 500 Internal Server Error (rerun 1)\n');
    assert.equal(results.filter((r) => r.title === 'placesOrder').length, 2, 'two testcases with one name are two tests');
    assert.ok(results.filter((r) => r.title === 'placesOrder').every((r) => r.subResults === undefined));
    const agent = await readAs('agent', fixture('surefire-reruns.xml'));
    assert.ok(
      agent.results.every((r) => r.subResults === undefined && !r.flaky),
      'the agent ignores rerun children',
    );
  });

  it('TRX: repeats of testId and testName are one result (last attempt counted, each attempt a sub-result); theory rows stay apart', async () => {
    const { results } = await readAs('api', fixture('vstest-retry.trx'));
    const names = results.map((r) => r.title);
    assert.deepEqual(names, [
      'Checkout.Tests.CartTests.AddsItem',
      'Checkout.Tests.PriceTests.Rounds(amount: 1.005)',
      'Checkout.Tests.PriceTests.Rounds(amount: 2.675)',
      'Checkout.Tests.CartTests.SyncsWithInventory',
      'Checkout.Tests.CartTests.EmptiesCart',
    ]);
    const syncs = results.find((r) => r.title.endsWith('SyncsWithInventory'))!;
    assert.equal(syncs.outcome, 'Passed');
    assert.equal(syncs.flaky, true);
    assert.equal(syncs.resultGroupType, 'Rerun');
    assert.deepEqual(
      syncs.subResults!.map((s) => [s.displayName, s.outcome]),
      [
        ['Attempt 1', 'Failed'],
        ['Attempt 2', 'Passed'],
      ],
    );
    assert.equal(syncs.subResults![0].stdout, 'inventory service: 503 Service Unavailable', 'a failed attempt keeps its output');
    assert.equal(syncs.rerunKey, undefined);
    const empties = results.find((r) => r.title.endsWith('EmptiesCart'))!;
    assert.equal(empties.outcome, 'Failed');
    assert.equal(empties.flaky, false);
    assert.equal(empties.subResults!.length, 3);
    assert.equal(empties.stdout, 'cart still holds 1 item after Clear()', 'the last attempt is the result');
  });

  it('TRX without outcomes: Failed under both rule sets, so failTaskOnFailedTests fails in both modes', async () => {
    for (const rules of ['api', 'agent'] as RuleSet[]) {
      const { results } = await readAs(rules, fixture('trx-no-outcome.trx'));
      assert.deepEqual(
        results.map((r) => r.outcome),
        ['Failed', 'Failed'],
        rules,
      );
    }
    const sent: LoggingCommand[] = [];
    const result = await publishTestResults(
      { files: [fixture('trx-no-outcome.trx')], failOnFailedTests: true },
      createAgentPublisher((c) => sent.push(c)),
      memoryLog(),
    );
    assert.equal(result.failure, '2 of 2 tests failed (failTaskOnFailedTests is true)');
    assert.equal(sent.length, 1);
  });

  it('agent mode: a file the agent will not read is a warning naming it, counts 0, and is not handed over', async () => {
    const sent: LoggingCommand[] = [];
    const log = memoryLog();
    const files = [
      'junit-escape-reference.xml',
      'ctest-missing-status.xml',
      'xunit1-assembly.xml',
      'nunit3-no-start-time.xml',
      'surefire-reruns.xml',
    ].map(fixture);
    const result = await publishTestResults(
      { files, searchFolder: FIXTURES },
      createAgentPublisher((c) => sent.push(c)),
      log,
    );
    assert.equal(result.issues.length, 4, result.issues.join('\n'));
    for (const name of ['junit-escape-reference.xml', 'ctest-missing-status.xml', 'xunit1-assembly.xml', 'nunit3-no-start-time.xml']) {
      assert.equal(result.issues.filter((i) => i.startsWith(`result file '${name}' `)).length, 1, name);
    }
    assert.deepEqual(
      sent.map((c) => c.properties.resultFiles),
      [fixture('surefire-reruns.xml')],
    );
    assert.deepEqual(result.counts, { total: 5, passed: 3, failed: 1, skipped: 1, other: 0 });
  });

  it('refuses what XML forbids, raw, wherever it is; character references only where the agent would', () => {
    const refused = (xml: string | Buffer, pattern: RegExp, strict = false) => {
      const t = new XmlTokenizer({ open() {}, close() {} }, undefined, { strictCharacterReferences: strict });
      assert.throws(() => {
        t.write(Buffer.isBuffer(xml) ? xml : Buffer.from(xml));
        t.end();
      }, pattern);
    };
    const read = (xml: string, strict = false) => {
      const t = new XmlTokenizer({ open: () => 100, close() {} }, undefined, { strictCharacterReferences: strict });
      t.write(Buffer.from(xml));
      t.end();
    };
    refused('<a>bell\u0007</a>', /control character 0x07 at byte 7/);
    refused('<a b="\u001f"/>', /control character 0x1F/);
    refused('<a><!-- \u0008 --></a>', /control character 0x08/);
    refused('<a><![CDATA[\u000b]]></a>', /control character 0x0B/);
    refused(Buffer.from([0x3c, 0x61, 0x3e, 0xef, 0xbf, 0xbf, 0x3c, 0x2f, 0x61, 0x3e]), /non-character U\+FFFF at byte 3/);
    refused(Buffer.from([0x3c, 0x61, 0x3e, 0xc3, 0x28, 0x3c, 0x2f, 0x61, 0x3e]), /not UTF-8 at byte 3/);
    refused('<a>fish & chips</a>', /an '&' that starts no reference/);
    refused('<a>&nbsp;</a>', /undefined entity '&nbsp;'/);
    refused('<a b="x < y"/>', /'<' in an attribute value/);
    refused('<a>&#x1B;[0m</a>', /character reference '&#x1B;'/, true);
    refused('<a b="&#0;"/>', /character reference '&#0;'/, true);
    read('<a>&#x1B;[0m &#9;&#xA;&lt;ok&gt;</a>');
    read('<a>&#x1B;</a><!-- &#x1B; -->'.replace('<!-- &#x1B; -->', ''), false);
    read('<a><![CDATA[&#x1B; & <]]><!-- & --></a>', true);
  });

  it('keeps the head and the tail of long console output, the cut said between, across any chunking', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
    const xml = `<testsuite><testcase name="t"><failure>x</failure><system-out>${lines.replace(/line 5/g, 'line &amp;5')}</system-out></testcase></testsuite>`;
    for (const chunk of [7, 1000, 65536]) {
      let out = '';
      let cut = false;
      const t = new XmlTokenizer({
        open: (name) => (name === 'system-out' ? { headAndTail: 16 * 1024 } : undefined),
        close: (name, _depth, text, truncated) => {
          if (name === 'system-out') {
            out = text!;
            cut = truncated;
          }
        },
      });
      const bytes = Buffer.from(xml);
      for (let i = 0; i < bytes.length; i += chunk) t.write(bytes.subarray(i, i + chunk));
      t.end();
      assert.ok(cut);
      assert.ok(out.startsWith('line 0\nline 1\nline 2\nline 3\nline 4\nline &5\n'), `${chunk}: head`);
      assert.ok(out.endsWith('line 19998\nline 19999'), `${chunk}: tail`);
      const marker = /\n\[… (\d+) bytes cut …\]\n/.exec(out);
      assert.ok(marker, `${chunk}: the cut is said`);
      assert.ok(Buffer.byteLength(out) < 16 * 1024 + 200, `${chunk}: ${Buffer.byteLength(out)} bytes`);
    }
  });

  it('a console log is at most 64 KiB: head and tail kept on character boundaries, the cut said', () => {
    const long = `${'é'.repeat(50_000)}MIDDLE${'ü'.repeat(50_000)}`;
    const log = consoleLog({ stdout: long, stderr: 'boom' })!;
    assert.ok(log.length <= MAX_CONSOLE_LOG_BYTES, `${log.length}`);
    const text = log.toString('utf8');
    assert.ok(!text.includes('\ufffd'), 'no character cut in half');
    assert.ok(text.startsWith('----- standard output -----\néé'));
    assert.ok(text.endsWith('----- standard error -----\nboom'));
    assert.match(text, /\[… \d+ bytes cut: the log is longer than 64 KiB …\]/);
    assert.ok(!text.includes('MIDDLE'));
    assert.equal(consoleLog({ stdout: 'only this' })!.toString(), 'only this');
    assert.equal(consoleLog({ errorMessage: 'short', stackTrace: 'short' }), undefined, 'what the fields hold is not repeated');
    assert.match(consoleLog({ errorMessage: 'm', stackTrace: 'x'.repeat(1500) })!.toString(), /^----- stack trace -----\nx{1500}$/);
    assert.equal(headAndTail(Buffer.from('small'), 10).toString(), 'small');
  });

  it('reruns are tracked in bounded memory: attempts held past the cap are published as they are, and said', async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-reruns-'));
    try {
      // Every test fails once, then all reruns come at the end: more first attempts than can be held at once.
      const tests = MAX_HELD_ATTEMPTS + 50;
      const result = (i: number, attempt: number, outcome: string) =>
        `<UnitTestResult executionId="e${attempt}-${i}" testId="id-${i}" testName="T.t${i}" outcome="${outcome}" duration="00:00:00.001"/>`;
      const body = [
        ...Array.from({ length: tests }, (_, i) => result(i, 1, 'Failed')),
        ...Array.from({ length: tests }, (_, i) => result(i, 2, 'Passed')),
      ].join('\n');
      const file = path.join(dir, 'many.trx');
      fs.writeFileSync(file, `<TestRun><Results>${body}</Results></TestRun>`);
      const { parsed, results } = await readAs('api', file);
      assert.equal(parsed.rerunsSplit, 50, 'the oldest 50 tests could not be held to their rerun');
      assert.equal(results.length, tests + 50);
      assert.equal(parsed.flaky, tests - 50);
      const counter = new RerunCounter();
      for (let i = 0; i < 5000; i++) counter.add(`k${i % 2500}`);
      assert.equal(counter.repeated, 2500);
      assert.equal(counter.count('k7'), 2);
      assert.equal(counter.count('never'), 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the summary counts flaky tests, in the log and the Markdown', () => {
    const summary = new SummaryCollector();
    summary.add({ title: 'a', fullName: 'S.a', outcome: 'Passed', flaky: true });
    summary.add({ title: 'b', fullName: 'S.b', outcome: 'Passed' });
    assert.ok(summaryTable(summary).includes('1 flaky test: failed, then passed on a rerun (counted as passed):'));
    assert.match(
      summaryMarkdown(summary, { title: 'T' }),
      /### Flaky tests\n\n1 flaky test: failed, then passed on a rerun \(counted as passed\)\n\n\| Test \|\n\| --- \|\n\| S\.a \|/,
    );
  });
});
