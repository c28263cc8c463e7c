// Hostile result files are decided quickly and in bounded memory: a start tag with a 10 MB attribute arriving in
// 64 KiB chunks is parsed once (not rescanned per chunk), and a NUL byte — a sparse or zero-filled file — ends the
// file as not well-formed XML at once. `npx tsx bench/bounded/index.ts` times both.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readResultFile, ResultFileError } from '../../shared/src/testresults/parse';
import { XmlTokenizer, type XmlAttributes } from '../../shared/src/testresults/xml';

describe('testresults: bounded work on hostile files', () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bounded-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a 10 MB attribute that arrives in 64 KiB chunks, quotes holding `>` included', () => {
    const value = 'a>b"'.replace('"', '').repeat(2_500_000);
    const xml = Buffer.from(`<testsuite name="${value}" tests="1"><testcase name="t"/></testsuite>`);
    const seen: { name: string; attrs: XmlAttributes }[] = [];
    const tokenizer = new XmlTokenizer({ open: (name, attrs) => void seen.push({ name, attrs }), close() {} });
    for (let at = 0; at < xml.length; at += 65_536) tokenizer.write(xml.subarray(at, at + 65_536));
    tokenizer.end();
    assert.deepEqual(
      seen.map((e) => e.name),
      ['testsuite', 'testcase'],
    );
    assert.equal(seen[0].attrs.name.length, value.length);
    assert.equal(seen[0].attrs.tests, '1');
  });

  it('refuses a tag longer than the markup limit while it is still arriving', () => {
    const tokenizer = new XmlTokenizer({ open() {}, close() {} }, { maxDepth: 16, maxMarkupBytes: 1024 * 1024 });
    tokenizer.write(Buffer.from('<testsuite name="'));
    const chunk = Buffer.alloc(65_536, 0x61);
    assert.throws(() => {
      for (let i = 0; i < 32; i++) tokenizer.write(chunk);
    }, /has a tag longer than 1048576 bytes/);
  });

  it('ends a file at its first NUL byte, as not well-formed', () => {
    const tokenizer = new XmlTokenizer({ open() {}, close() {} });
    tokenizer.write(Buffer.from('<testsuite name="s">'));
    assert.throws(() => tokenizer.write(Buffer.from('<testcase name="t"/>\u0000')), /not well-formed XML: it has a NUL byte at byte 40/);
  });

  it('refuses a 1 GB sparse file after its first chunk, naming the file and the NUL byte', async () => {
    const file = path.join(dir, 'sparse.xml');
    fs.writeFileSync(file, '<?xml version="1.0"?>\n<testsuite name="s" tests="1">\n');
    fs.truncateSync(file, 1024 ** 3);
    let batches = 0;
    await assert.rejects(
      readResultFile(file, () => void batches++),
      (error: unknown) => error instanceof ResultFileError && /sparse\.xml/.test(error.message) && /NUL byte/.test(error.message),
    );
    assert.equal(batches, 0);
  });
});
