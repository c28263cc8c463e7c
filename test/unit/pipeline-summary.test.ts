// The summary file as azure-pipelines-agent takes it (src/Agent.Worker/TaskCommandExtension.cs): the attachment is
// named Path.GetFileName(path), refused if that name holds a character .NET calls invalid in a file name, and the
// file must exist when the command is read; it is uploaded later, from the job's queue.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerSecret } from '../../shared/src/pipeline/secrets';
import { summaryFileTitle, writeSummaryFile } from '../../shared/src/pipeline/summary';

/** .NET's Path.GetInvalidFileNameChars() on Windows: the strictest agent. */
const DOTNET_WINDOWS_INVALID = [
  '"',
  '<',
  '>',
  '|',
  ':',
  '*',
  '?',
  '\\',
  '/',
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
];

describe('pipeline summary: the file task.uploadsummary names', () => {
  let temp: string;
  beforeEach(() => (temp = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-summary-test-'))));
  afterEach(() => fs.rmSync(temp, { recursive: true, force: true }));

  it('is written in the temp folder given, named for its title, and stays there', () => {
    const file = writeSummaryFile(temp, 'Push image', '| a |\n| --- |\n| b |');
    assert.equal(path.basename(file), 'Push image.md', 'the Extensions tab shows the name less .md as the title');
    assert.equal(path.dirname(path.dirname(file)), temp);
    assert.match(path.basename(path.dirname(file)), /^outerloop-summary-[0-9a-f-]{36}$/);
    assert.equal(fs.readFileSync(file, 'utf8'), '| a |\n| --- |\n| b |\n');
  });

  it('gives each summary a folder of its own, so two with one title do not overwrite each other', () => {
    const first = writeSummaryFile(temp, 'Same', 'one');
    const second = writeSummaryFile(temp, 'Same', 'two');
    assert.notEqual(first, second);
    assert.equal(fs.readFileSync(first, 'utf8'), 'one\n');
    assert.equal(fs.readFileSync(second, 'utf8'), 'two\n');
  });

  it('masks every secret registered before it was written, in every encoding', () => {
    const password = 'summary-s3cret-pässword';
    registerSecret(password);
    const markdown = `plain ${password}, base64 ${Buffer.from(password).toString('base64')}, url ${encodeURIComponent(password)}`;
    const text = fs.readFileSync(writeSummaryFile(temp, 'Secrets', markdown), 'utf8');
    assert.ok(!text.includes(password) && !text.includes(Buffer.from(password).toString('base64')), text);
    assert.ok(!text.includes(encodeURIComponent(password)), text);
    assert.match(text, /plain \*\*\*, base64 \*\*\*, url \*\*\*/);
  });

  it('turns a title with characters no file name may hold into a name every agent accepts', () => {
    const title = 'Results: a/b\\c *now*? "x" <y> | z\r\nnext\ttab\u0007';
    const file = writeSummaryFile(temp, title, 'x');
    const name = path.basename(file);
    assert.equal(name, 'Results a b c now x y z next tab.md');
    for (const c of DOTNET_WINDOWS_INVALID) assert.ok(!name.includes(c), JSON.stringify(c));
    assert.ok(fs.existsSync(file));
  });

  it('never gives an empty, dotted, over-long or Windows device name', () => {
    assert.equal(summaryFileTitle(''), 'Summary');
    assert.equal(summaryFileTitle('/// ::'), 'Summary');
    assert.equal(summaryFileTitle('...'), 'Summary');
    assert.equal(summaryFileTitle('Version 1.4.'), 'Version 1.4');
    assert.equal(summaryFileTitle('nul'), 'nul summary');
    assert.equal(summaryFileTitle('COM1'), 'COM1 summary');
    assert.equal(summaryFileTitle('Console'), 'Console');
    const long = summaryFileTitle('é'.repeat(1000));
    assert.equal(long, 'é'.repeat(80));
    assert.ok(Buffer.byteLength(`${long}.md`) < 255);
    assert.equal(summaryFileTitle('😀'.repeat(100)), '😀'.repeat(80), 'never cuts a character in half');
    const file = writeSummaryFile(temp, 'x'.repeat(1000), 'long');
    assert.ok(fs.existsSync(file));
  });

  it('falls back to the system temp folder when the agent gave none', () => {
    const file = writeSummaryFile(undefined, 'No agent temp', 'x');
    try {
      assert.equal(path.dirname(path.dirname(file)), os.tmpdir());
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });
});
