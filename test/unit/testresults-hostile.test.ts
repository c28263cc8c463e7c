import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { memoryLog } from '../../shared/src/log';
import { createAgentPublisher, type LoggingCommand } from '../../shared/src/testresults/agent';
import { publishTestResults } from '../../shared/src/testresults/publish';
import { readResultFile } from '../../shared/src/testresults/parse';

/**
 * Result files come out of a container. Each hostile file must end as one warning naming it (an issue, so the task
 * is SucceededWithIssues) while the good files are still published; nothing may hang, blow up or echo a local
 * file's content.
 */

const SECRET = `outerloop-secret-${crypto.randomBytes(12).toString('hex')}`;
const STACK_BYTES = 50 * 1024 * 1024;

/** Deterministic "random" bytes (xorshift32) so a failure reproduces. */
function junk(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const GOOD = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="good">
    <testcase classname="good.Suite" name="passes" time="0.5"/>
    <testcase classname="good.Suite" name="fails" time="0.25"><failure message="boom">trace line 1
trace line 2</failure></testcase>
    <testcase classname="good.Suite" name="skips"><skipped/></testcase>
  </testsuite>
</testsuites>
`;

async function writeBigStackTrace(file: string): Promise<void> {
  const out = fs.createWriteStream(file);
  const write = (text: string | Buffer) => new Promise<void>((resolve, reject) => out.write(text, (e) => (e ? reject(e) : resolve())));
  await write('<testsuite name="big"><testcase classname="big.Suite" name="huge trace"><failure message="it broke">');
  const block = Buffer.from(`    at frame.${'x'.repeat(48)}\n`.repeat(1024));
  for (let written = 0; written < STACK_BYTES; written += block.length) await write(block);
  await write('</failure></testcase><testcase classname="big.Suite" name="fine"/></testsuite>\n');
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

describe('testresults: hostile result files', () => {
  let dir: string;
  let secretFile: string;
  const files: Record<string, string> = {};

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-testresults-hostile-'));
    secretFile = path.join(dir, 'agent-secret.txt');
    fs.writeFileSync(secretFile, `${SECRET}\n`);
    const put = (name: string, content: string | Buffer) => {
      files[name] = path.join(dir, 'results', name);
      fs.mkdirSync(path.dirname(files[name]), { recursive: true });
      fs.writeFileSync(files[name], content);
    };
    put('good.xml', GOOD);
    put(
      'xxe.xml',
      `<?xml version="1.0"?>\n<!DOCTYPE testsuite [<!ENTITY xxe SYSTEM "file://${secretFile}">]>\n` +
        `<testsuite name="xxe"><testcase classname="x" name="&xxe;"><failure message="&xxe;">&xxe;</failure></testcase></testsuite>\n`,
    );
    const lols = ['<!ENTITY lol "lol">'];
    for (let i = 1; i <= 9; i++) lols.push(`<!ENTITY lol${i} "${`&lol${i === 1 ? '' : i - 1};`.repeat(10)}">`);
    put(
      'laughs.xml',
      `<?xml version="1.0"?>\n<!DOCTYPE lolz [\n${lols.join('\n')}\n]>\n<testsuite><testcase name="&lol9;"/></testsuite>\n`,
    );
    put('truncated.xml', GOOD.slice(0, Math.floor(GOOD.length * 0.6)));
    put('junk.xml', junk(256 * 1024, 0x5eed));
    put('empty.xml', '');
    put('not-results.xml', '<project><modelVersion>4.0.0</modelVersion></project>');
    put('entity.xml', '<testsuite><testcase name="&ext;"/></testsuite>');
    files['bigstack.xml'] = path.join(dir, 'results', 'bigstack.xml');
    await writeBigStackTrace(files['bigstack.xml']);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each hostile file is one warning naming it; the good files are still published; nothing leaks', async () => {
    const log = memoryLog();
    const commands: LoggingCommand[] = [];
    const order = [
      'good.xml',
      'xxe.xml',
      'laughs.xml',
      'truncated.xml',
      'junk.xml',
      'empty.xml',
      'not-results.xml',
      'entity.xml',
      'bigstack.xml',
    ];
    const result = await publishTestResults(
      { files: order.map((n) => files[n]), searchFolder: path.join(dir, 'results'), runTitle: 'hostile' },
      createAgentPublisher((c) => commands.push(c)),
      log,
    );

    const refused = ['xxe.xml', 'laughs.xml', 'truncated.xml', 'junk.xml', 'empty.xml', 'not-results.xml', 'entity.xml'];
    for (const name of refused) {
      const lines = result.issues.filter((i) => i.includes(`'${name}'`));
      assert.equal(lines.length, 1, `one issue for ${name}: ${JSON.stringify(result.issues)}`);
      assert.match(lines[0], /it was not published$/);
      assert.ok(log.lines.includes(`warning: ${lines[0]}`), `${name}'s issue is also a warning in the log`);
    }
    const why = (name: string) => result.issues.find((i) => i.includes(`'${name}'`))!;
    assert.match(why('xxe.xml'), /DOCTYPE/);
    assert.match(why('laughs.xml'), /DOCTYPE/);
    assert.match(why('truncated.xml'), /truncated/);
    assert.match(why('junk.xml'), /not an XML document/);
    assert.match(why('empty.xml'), /is empty/);
    assert.match(why('not-results.xml'), /not a test result file \(its root element is <project>\)/);
    assert.match(why('entity.xml'), /undefined entity/);

    // The 50 MB stack trace is cut, the file published with a warning saying so.
    const cut = result.issues.filter((i) => i.includes(`'bigstack.xml'`));
    assert.equal(cut.length, 1);
    assert.match(cut[0], /1 stack trace longer than the caps .* were cut/);
    assert.equal(result.issues.length, refused.length + 1);

    assert.deepEqual(result.counts, { total: 5, passed: 2, failed: 2, skipped: 1, other: 0 });
    assert.equal(commands.length, 1);
    assert.deepEqual(commands[0].properties.resultFiles.split(','), [files['good.xml'], files['bigstack.xml']]);

    const everything = [...log.lines, ...result.issues, result.summaryMarkdown, JSON.stringify(commands)].join('\n');
    assert.ok(!everything.includes(SECRET), 'the local file named by the XXE entity never appears');
    assert.ok(!everything.includes('lollol'), 'no entity was expanded');
    assert.match(result.summaryMarkdown, /not published: has a DOCTYPE/);
  });

  it('a 50 MB stack trace reaches the publisher cut to the cap, with the rest of the file intact', async () => {
    const seen: { title: string; stack?: number; message?: string }[] = [];
    const parsed = await readResultFile(files['bigstack.xml'], (batch) => {
      for (const r of batch) seen.push({ title: r.title, stack: r.stackTrace?.length, message: r.errorMessage });
    });
    assert.deepEqual(parsed.truncated, { 'stack trace': 1 });
    assert.equal(seen.length, 2);
    assert.equal(seen[0].message, 'it broke');
    assert.ok(seen[0].stack! <= 64 * 1024 && seen[0].stack! > 60 * 1024, `stack trace kept: ${seen[0].stack} chars`);
    assert.equal(seen[1].title, 'fine');
  });

  it('with no file at all: a warning, or the failure failTaskOnMissingResultsFile asks for', async () => {
    const log = memoryLog();
    const quiet = await publishTestResults(
      { files: [], patterns: ['**/*.trx'], searchFolder: dir },
      createAgentPublisher(() => {}),
      log,
    );
    assert.equal(quiet.failure, undefined);
    assert.deepEqual(log.lines, [`warning: no test result files matched '**/*.trx' in '${dir}'`]);
    const strict = await publishTestResults(
      { files: [], patterns: ['**/*.trx'], searchFolder: dir, failOnMissingFiles: true },
      createAgentPublisher(() => {}),
      memoryLog(),
    );
    assert.equal(strict.failure, `no test result files matched '**/*.trx' in '${dir}' (failTaskOnMissingResultsFile is true)`);
    assert.deepEqual(strict.counts, { total: 0, passed: 0, failed: 0, skipped: 0, other: 0 });
  });

  it('failTaskOnFailedTests turns failed tests into a failure, outputs still counted', async () => {
    const commands: LoggingCommand[] = [];
    const result = await publishTestResults(
      { files: [files['good.xml']], failOnFailedTests: true },
      createAgentPublisher((c) => commands.push(c)),
      memoryLog(),
    );
    assert.equal(result.failure, '1 of 3 tests failed (failTaskOnFailedTests is true)');
    assert.equal(commands.length, 1, 'the results are published before the task fails');
  });

  it('a format asked for explicitly refuses files of another format', async () => {
    const result = await publishTestResults(
      { files: [files['good.xml']], format: 'vstest' },
      createAgentPublisher(() => {}),
      memoryLog(),
    );
    assert.equal(result.counts.total, 0);
    assert.match(result.issues[0], /is a JUnit file \(root <testsuites>\), not VSTest; it was not published$/);
  });
});
