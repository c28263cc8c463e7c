import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { extractArchive, UnsafeArchiveError } from '../../shared/src/docker/archive';
import { memoryLog } from '../../shared/src/log';

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo'; body?: string; linkname?: string };

async function tarOf(entries: Entry[]): Promise<Readable> {
  const pack = tar.pack();
  for (const e of entries) {
    if ((e.type ?? 'file') === 'file') pack.entry({ name: e.name, mode: 0o644 }, e.body ?? '');
    else pack.entry({ name: e.name, type: e.type, linkname: e.linkname, mode: 0o755 });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('archive extraction (results copied out of a container)', () => {
  let work: string;
  let dest: string;
  let outside: string;
  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-archive-'));
    dest = path.join(work, 'results');
    outside = path.join(work, 'outside');
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

  const extract = async (entries: Entry[], stripRoot?: string) => extractArchive(await tarOf(entries), dest, memoryLog(), { stripRoot });

  it('writes files and folders below the destination, without the copied folder name', async () => {
    const { files } = await extract(
      [
        { name: 'TestResults/', type: 'directory' },
        { name: 'TestResults/junit.xml', body: '<testsuites/>' },
        { name: 'TestResults/sub/', type: 'directory' },
        { name: 'TestResults/sub/results.trx', body: '<TestRun/>' },
        { name: 'TestResults/sub/same.trx', type: 'link', linkname: 'TestResults/sub/results.trx' },
        { name: 'TestResults/latest', type: 'symlink', linkname: 'sub/results.trx' },
      ],
      'TestResults',
    );
    assert.deepEqual(files, ['junit.xml', 'sub/results.trx', 'sub/same.trx']);
    assert.equal(fs.readFileSync(path.join(dest, 'junit.xml'), 'utf8'), '<testsuites/>');
    assert.equal(fs.readFileSync(path.join(dest, 'sub', 'same.trx'), 'utf8'), '<TestRun/>');
    assert.equal(fs.readlinkSync(path.join(dest, 'latest')), 'sub/results.trx');
    assert.deepEqual(
      fs.readdirSync(dest).sort(),
      ['junit.xml', 'latest', 'sub'],
      'the copied folder itself leaves no empty TestResults/ behind',
    );
  });

  it('keeps a single copied file under its own name', async () => {
    const { files } = await extract([{ name: 'report.xml', body: 'x' }], 'report.xml');
    assert.deepEqual(files, ['report.xml']);
  });

  const hostile: Array<[string, Entry[], RegExp]> = [
    ['a .. component', [{ name: 'TestResults/../../outside/pwned', body: 'x' }], /'\.\.' is not allowed/],
    ['an absolute path', [{ name: '/etc/pwned', body: 'x' }], /absolute/],
    ['a symlink to an absolute path', [{ name: 'r/link', type: 'symlink', linkname: '/etc' }], /absolute path/],
    ['a symlink that climbs out', [{ name: 'r/link', type: 'symlink', linkname: '../outside' }], /outside the destination/],
    [
      'a symlink that looks inside lexically but leaves through an earlier link',
      [
        { name: 'r/a/', type: 'directory' },
        // a/b is the destination itself (allowed); a/b/../outside is a/outside to path.resolve, work/outside on disk.
        { name: 'r/a/b', type: 'symlink', linkname: '..' },
        { name: 'r/escape', type: 'symlink', linkname: 'a/b/../outside' },
      ],
      /outside the destination/,
    ],
    ['a hard link to a file outside', [{ name: 'r/hl', type: 'link', linkname: '../outside/secret' }], /'\.\.' is not allowed/],
    ['a hard link to an absolute path', [{ name: 'r/hl', type: 'link', linkname: '/etc/passwd' }], /absolute/],
  ];
  for (const [what, entries, message] of hostile) {
    it(`refuses ${what} and writes nothing outside`, async () => {
      await assert.rejects(extract(entries, 'r'), (e: unknown) => e instanceof UnsafeArchiveError && message.test(e.message));
      assert.deepEqual(fs.readdirSync(outside), []);
      assert.ok(!fs.existsSync(path.join(work, 'pwned')));
    });
  }

  it('never writes through links already in the destination folder', async () => {
    fs.mkdirSync(dest);
    fs.writeFileSync(path.join(outside, 'target'), 'original');
    fs.symlinkSync(path.join(outside, 'target'), path.join(dest, 'f'));
    fs.symlinkSync(outside, path.join(dest, 'dir'));
    await assert.rejects(extract([{ name: 'r/dir/pwned', body: 'x' }], 'r'), /through a link that leaves the destination/);
    const { files } = await extract([{ name: 'r/f', body: 'replaced' }], 'r');
    assert.deepEqual(files, ['f']);
    assert.equal(fs.readFileSync(path.join(outside, 'target'), 'utf8'), 'original');
    assert.equal(fs.readFileSync(path.join(dest, 'f'), 'utf8'), 'replaced');
    assert.deepEqual(fs.readdirSync(outside), ['target']);
  });

  it('replaces an inside link by a later file instead of writing through it', async () => {
    const { files } = await extract(
      [
        { name: 'r/real.xml', body: 'real' },
        { name: 'r/alias.xml', type: 'symlink', linkname: 'real.xml' },
        { name: 'r/alias.xml', body: 'alias' },
      ],
      'r',
    );
    assert.deepEqual(files, ['real.xml', 'alias.xml']);
    assert.equal(fs.readFileSync(path.join(dest, 'real.xml'), 'utf8'), 'real');
    assert.equal(fs.readFileSync(path.join(dest, 'alias.xml'), 'utf8'), 'alias');
  });

  it('skips devices and FIFOs', async () => {
    const { files } = await extract(
      [
        { name: 'r/pipe', type: 'fifo' },
        { name: 'r/a.xml', body: 'a' },
      ],
      'r',
    );
    assert.deepEqual(files, ['a.xml']);
    assert.ok(!fs.existsSync(path.join(dest, 'pipe')));
  });
});
