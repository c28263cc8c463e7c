import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestResult } from '../../shared/src/testresults/model';
import { formatOfRoot, readResultFile, ResultFileError } from '../../shared/src/testresults/parse';

const JUNIT =
  '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="s"><testcase classname="Ünï.Cödé" name="naïve ✓" time="1,5"/></testsuite>\n';

async function read(file: string, options: Parameters<typeof readResultFile>[2] = {}) {
  const results: TestResult[] = [];
  const batches: number[] = [];
  const parsed = await readResultFile(
    file,
    (b) => {
      batches.push(b.length);
      results.push(...b);
    },
    options,
  );
  return { parsed, results, batches };
}

describe('testresults: reading files', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-testresults-parse-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, content: string | Buffer) => {
    fs.writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };

  it('detects the format from the root element only', () => {
    assert.equal(formatOfRoot('testsuites'), 'junit');
    assert.equal(formatOfRoot('TestRun'), 'trx');
    assert.equal(formatOfRoot('test-run'), 'nunit3');
    assert.equal(formatOfRoot('test-results'), 'nunit2');
    assert.equal(formatOfRoot('assemblies'), 'xunit2');
    assert.equal(formatOfRoot('Site'), 'ctest');
    assert.equal(formatOfRoot('project'), undefined);
    assert.equal(formatOfRoot('constructor'), undefined);
  });

  it('reads UTF-16 (either byte order, with BOM) and declared single-byte encodings', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JUNIT.replace('UTF-8', 'UTF-16'), 'utf16le')]);
    const beBody = Buffer.from(JUNIT.replace('UTF-8', 'UTF-16'), 'utf16le').swap16();
    const be = Buffer.concat([Buffer.from([0xfe, 0xff]), beBody]);
    const latin1 = Buffer.from(JUNIT.replace('UTF-8', 'ISO-8859-1').replace(' ✓', ''), 'latin1');
    for (const [name, bytes, title] of [
      ['le.xml', le, 'naïve ✓'],
      ['be.xml', be, 'naïve ✓'],
      ['latin1.xml', latin1, 'naïve'],
    ] as const) {
      for (const chunkBytes of [1, 3, 65536]) {
        const { results } = await read(put(name, bytes), { chunkBytes });
        assert.equal(results.length, 1, name);
        assert.equal(results[0].title, title, `${name} in ${chunkBytes}-byte chunks`);
        assert.equal(results[0].fullName, `Ünï.Cödé.${title}`);
        assert.equal(results[0].durationMs, 1500, 'a decimal comma');
      }
    }
  });

  it('refuses a directory or a FIFO as a result file without blocking on it', async () => {
    fs.mkdirSync(path.join(dir, 'folder.xml'));
    await assert.rejects(read(path.join(dir, 'folder.xml')), (e: ResultFileError) => e.problem === 'is not a regular file');
    const fifo = path.join(dir, 'pipe.xml');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(read(fifo), (e: ResultFileError) => e.problem === 'is not a regular file');
    await assert.rejects(read(path.join(dir, 'absent.xml')), (e: ResultFileError) => e.problem === 'cannot be read (ENOENT)');
  });

  it('cuts batches by size as well as by count', async () => {
    const big = 'y'.repeat(60_000);
    const cases = Array.from({ length: 40 }, (_, i) => `<testcase name="t${i}"><failure>${big}</failure></testcase>`).join('');
    const { batches } = await read(put('wordy.xml', `<testsuite>${cases}</testsuite>`));
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      40,
    );
    assert.ok(batches.length >= 3 && Math.max(...batches) < 40, `batches ${batches.join(', ')}`);
    const many = Array.from({ length: 1200 }, (_, i) => `<testcase name="t${i}"/>`).join('');
    assert.deepEqual(
      (await read(put('many.xml', `<testsuite>${many}</testsuite>`), { batchSize: 5000 })).batches,
      [1000, 200],
      'never over 1000',
    );
  });

  it('an empty JUnit suite is a result file with no results', async () => {
    const { parsed, results } = await read(put('none.xml', '<testsuites/>'));
    assert.equal(parsed.format, 'junit');
    assert.equal(results.length, 0);
  });
});
