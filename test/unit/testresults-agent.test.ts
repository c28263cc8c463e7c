import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandFromString, TaskCommand } from 'azure-pipelines-task-lib/taskcommand';
import { memoryLog } from '../../shared/src/log';
import { createAgentPublisher, resultsPublishCommand, type LoggingCommand } from '../../shared/src/testresults/agent';
import { publishTestResults } from '../../shared/src/testresults/publish';

/** What the agent would read: the command printed by task-lib, parsed back by task-lib's own parser. */
function roundTrip(command: LoggingCommand): { command: string; properties: Record<string, string>; message: string } {
  const line = new TaskCommand(command.name, command.properties, command.message).toString();
  assert.ok(!line.includes('\n') && !line.includes('\r'), 'one line');
  const parsed = commandFromString(line);
  return { command: parsed.command, properties: parsed.properties, message: parsed.message };
}

const junit = (name: string) => `<testsuite><testcase classname="c" name="${name}"/></testsuite>`;
const trx = `<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010"><Results>
<UnitTestResult testId="1" testName="t" outcome="Passed" duration="00:00:01"/></Results>
<TestDefinitions><UnitTest name="t" id="1"><TestMethod className="Ns.C, Asm" name="t"/></UnitTest></TestDefinitions></TestRun>`;

describe('testresults: agent mode (results.publish)', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-testresults-agent-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("round-trips through task-lib's command parser with hostile characters in every property", () => {
    const spec = {
      title: 'run; ]title\nwith %AZP25 and 100%',
      formats: ['junit' as const],
      files: [path.join(dir, 'a;b]c.xml'), path.join(dir, 'd%e\rf.xml')],
      merged: true,
      buildPlatform: 'x64;]',
      buildConfiguration: 'Release\n##vso[task.complete result=Failed]',
      publishAttachments: false,
    };
    const command = resultsPublishCommand(spec);
    const back = roundTrip(command);
    assert.equal(back.command, 'results.publish');
    assert.deepEqual(back.properties, {
      type: 'JUnit',
      mergeResults: 'true',
      runTitle: spec.title,
      publishRunAttachments: 'false',
      resultFiles: spec.files.join(','),
      testRunSystem: 'PublishContainerTestResults',
      platform: spec.buildPlatform,
      config: spec.buildConfiguration,
    });
    assert.equal(back.message, '');
  });

  it('sends one command per format when merging, one per file otherwise; outputs count every result', async () => {
    const files = [path.join(dir, 'one.xml'), path.join(dir, 'two.xml'), path.join(dir, 'three.trx')];
    fs.writeFileSync(files[0], junit('a'));
    fs.writeFileSync(files[1], junit('b'));
    fs.writeFileSync(files[2], trx);

    const merged: LoggingCommand[] = [];
    const result = await publishTestResults(
      { files, runTitle: 'Nightly' },
      createAgentPublisher((c) => merged.push(c)),
      memoryLog(),
    );
    assert.deepEqual(
      merged.map((c) => [c.properties.type, c.properties.mergeResults, c.properties.runTitle, c.properties.resultFiles]),
      [
        ['JUnit', 'true', 'Nightly', `${files[0]},${files[1]}`],
        ['VSTest', 'true', 'Nightly', files[2]],
      ],
    );
    assert.deepEqual(result.counts, { total: 3, passed: 3, failed: 0, skipped: 0, other: 0 });
    assert.deepEqual(result.runIds, [], 'the agent creates the runs; their ids are not known to the task');

    const separate: LoggingCommand[] = [];
    await publishTestResults(
      { files, mergeResults: false },
      createAgentPublisher((c) => separate.push(c)),
      memoryLog(),
    );
    assert.deepEqual(
      separate.map((c) => [c.properties.mergeResults, c.properties.resultFiles]),
      files.map((f) => ['false', f]),
    );
  });

  it('outputs say what the agent publishes: a TRX result whose test has no definition is not counted', async () => {
    const file = path.join(dir, 'undefined-test.trx');
    fs.writeFileSync(file, trx.replace(/<TestDefinitions>.*<\/TestDefinitions>/, ''));
    const sent: LoggingCommand[] = [];
    const result = await publishTestResults(
      { files: [file] },
      createAgentPublisher((c) => sent.push(c)),
      memoryLog(),
    );
    assert.equal(result.counts.total, 0, 'TrxResultReader drops a result without an automated test name');
    assert.equal(sent.length, 1, 'the file is still well-formed and handed over');
  });

  it('a path with a comma cannot be handed to the agent: warned about, not published', async () => {
    const odd = path.join(dir, 'a,b.xml');
    fs.writeFileSync(odd, junit('x'));
    const fine = path.join(dir, 'fine.xml');
    fs.writeFileSync(fine, junit('y'));
    const sent: LoggingCommand[] = [];
    const result = await publishTestResults(
      { files: [odd, fine] },
      createAgentPublisher((c) => sent.push(c)),
      memoryLog(),
    );
    assert.equal(result.issues.length, 1);
    assert.match(result.issues[0], /a,b\.xml' has a comma in its path/);
    assert.equal(sent[0].properties.resultFiles, fine);
    assert.equal(result.counts.total, 1);
  });
});
