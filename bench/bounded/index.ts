// Times how quickly hostile result files are decided (issue "Every bad input …"): a 10 MB attribute arriving in
// 64 KiB chunks, and a 1 GB sparse file (NUL bytes after a valid start). Each is decided in well under 1 s.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readResultFile } from '../../shared/src/testresults/parse';

async function timed(what: string, file: string): Promise<void> {
  const started = process.hrtime.bigint();
  const outcome = await readResultFile(file, () => {}).then(
    (parsed) => `read, ${parsed.counts.total} results`,
    (error: Error) => `refused: ${error.message}`,
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`${what}: ${ms.toFixed(0)} ms (${outcome.replace(path.dirname(file), '…')})`);
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-bounded-'));
  try {
    const attribute = path.join(dir, 'attribute.xml');
    fs.writeFileSync(attribute, `<testsuite name="${'x'.repeat(10 * 1024 * 1024)}" tests="1"><testcase name="t"/></testsuite>`);
    await timed('10 MB attribute (over the 8 MiB tag limit)', attribute);
    fs.writeFileSync(attribute, `<testsuite name="${'x'.repeat(6 * 1024 * 1024)}" tests="1"><testcase name="t"/></testsuite>`);
    await timed('6 MB attribute (read)', attribute);
    const sparse = path.join(dir, 'sparse.xml');
    fs.writeFileSync(sparse, '<?xml version="1.0"?>\n<testsuite name="s" tests="1">\n');
    fs.truncateSync(sparse, 1024 ** 3);
    await timed('1 GB sparse file', sparse);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
