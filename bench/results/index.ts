// bench/results: a generated 32 MB JUnit file with 100,000 test cases (passes, failures with stack traces in text
// and CDATA, skips, system-out), parsed in the same run by:
//   1. our streaming reader (shared/src/testresults: tokenizer + JUnit reader, full TestResult objects out);
//   2. fast-xml-parser (XMLParser with attributes), the file read whole first;
//   3. xml2js (parseStringPromise), the file read whole first;
//   4. saxes (events only, no objects built) as a reference for a streaming tokenizer.
// Each parser runs in its own process (so each peak RSS is its own), three times; the best time counts. Every
// parser must find all 100,000 test cases, so none is measured doing less. Goal: ours ≥ 40 MB/s and ≥ 2× fast-xml-parser.
// Then the publish part (publish.ts): the 300 MB / 1M-case file through the contract server, time and peak RSS.
// Nothing here asserts a time. Run: npx tsx bench/results/index.ts  (only one part: add `parse` or `publish`)
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { benchPublish } from './publish';

const CASES = 100_000;
const RUNS = 5;

type Parser = 'ours' | 'fast-xml-parser' | 'xml2js' | 'saxes';

/** Deterministic content (xorshift32), about TARGET_BYTES in total. */
function generate(file: string): void {
  let x = 0x2545f491;
  const rand = (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const out = fs.openSync(file, 'w');
  let chunk = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench" tests="100000">\n';
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu'];
  const sentence = (n: number) => Array.from({ length: n }, () => words[rand(words.length)]).join(' ');
  // Padding per case, tuned so the file lands near 32 MB.
  const pad = 'x'.repeat(210);
  for (let i = 0; i < CASES; i++) {
    if (i % 200 === 0) {
      if (i) chunk += '  </testsuite>\n';
      chunk += `  <testsuite name="com.example.bench.Suite${i / 200}" tests="200" time="12.5" timestamp="2024-05-01T10:00:00">\n`;
      chunk += '    <properties><property name="java.version" value="21"/></properties>\n';
    }
    const head = `    <testcase classname="com.example.bench.Suite${Math.floor(i / 200)}" name="${sentence(3)} ${i} ${pad.slice(rand(60))}" time="${rand(5)}.${rand(1000)}"`;
    const kind = rand(100);
    if (kind < 4) {
      const frames = Array.from({ length: 6 + rand(10) }, (_, k) => `\tat com.example.bench.Code.method${k}(Code.java:${rand(900)})`).join(
        '\n',
      );
      chunk += `${head}>\n      <failure message="expected &lt;${rand(99)}&gt; but was &lt;${rand(99)}&gt;" type="org.opentest4j.AssertionFailedError">org.opentest4j.AssertionFailedError: ${sentence(6)}\n${frames}\n</failure>\n      <system-out><![CDATA[${sentence(20)}\n${sentence(12)}]]></system-out>\n    </testcase>\n`;
    } else if (kind < 6) {
      chunk += `${head}>\n      <error message="${sentence(4)}" type="java.lang.IllegalStateException"><![CDATA[java.lang.IllegalStateException: ${sentence(5)}\n\tat com.example.bench.Code.run(Code.java:${rand(900)})]]></error>\n    </testcase>\n`;
    } else if (kind < 9) {
      chunk += `${head}>\n      <skipped message="${sentence(3)}"/>\n    </testcase>\n`;
    } else if (kind < 20) {
      chunk += `${head}>\n      <system-out>${sentence(15)}</system-out>\n    </testcase>\n`;
    } else {
      chunk += `${head}/>\n`;
    }
    if (chunk.length > 1 << 20) {
      fs.writeSync(out, chunk);
      chunk = '';
    }
  }
  chunk += '  </testsuite>\n</testsuites>\n';
  fs.writeSync(out, chunk);
  fs.closeSync(out);
}

/** One parse; returns the number of test cases found. */
async function parseOnce(parser: Parser, file: string): Promise<number> {
  switch (parser) {
    case 'ours': {
      const { readResultFile } = await import('../../shared/src/testresults/parse');
      let n = 0;
      await readResultFile(file, (batch) => {
        n += batch.length;
      });
      return n;
    }
    case 'fast-xml-parser': {
      const { XMLParser } = await import('fast-xml-parser');
      const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(
        fs.readFileSync(file, 'utf8'),
      );
      return doc.testsuites.testsuite.reduce((n: number, s: { testcase: unknown[] }) => n + s.testcase.length, 0);
    }
    case 'xml2js': {
      // xml2js ships no types; this is the one call used.
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an untyped CommonJS module, loaded only for this anchor
      const xml2js = require('xml2js') as { parseStringPromise(xml: string): Promise<any> };
      const doc = await xml2js.parseStringPromise(fs.readFileSync(file, 'utf8'));
      return doc.testsuites.testsuite.reduce((n: number, s: { testcase: unknown[] }) => n + s.testcase.length, 0);
    }
    case 'saxes': {
      const { SaxesParser } = await import('saxes');
      const p = new SaxesParser();
      let n = 0;
      p.on('opentag', (tag) => {
        if (tag.name === 'testcase') n++;
      });
      for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 })) p.write(chunk as string);
      p.close();
      return n;
    }
  }
}

async function child(parser: Parser, file: string): Promise<void> {
  const times: number[] = [];
  let found = 0;
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    found = await parseOnce(parser, file);
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  process.stdout.write(JSON.stringify({ parser, found, best: Math.min(...times), times, maxRssKb: process.resourceUsage().maxRSS }));
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-results-'));
  const file = path.join(dir, 'TEST-bench.xml');
  const only = process.argv[2];
  try {
    if (only !== 'publish') await benchParse(file);
    if (only !== 'parse') await benchPublish(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function benchParse(file: string): Promise<void> {
  generate(file);
  const bytes = fs.statSync(file).size;
  const mb = bytes / 1e6;
  console.log(
    `bench/results: ${CASES.toLocaleString('en')} JUnit test cases, ${mb.toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB); best of ${RUNS} runs per parser, each in its own process\n`,
  );
  const run = promisify(execFile);
  const results: { parser: Parser; found: number; best: number; times: number[]; maxRssKb: number }[] = [];
  for (const parser of ['ours', 'fast-xml-parser', 'xml2js', 'saxes'] as Parser[]) {
    const { stdout } = await run(process.execPath, [...process.execArgv, __filename, '--child', parser, file], { maxBuffer: 1 << 20 });
    const result = JSON.parse(stdout);
    if (result.found !== CASES) throw new Error(`${parser} found ${result.found} test cases, not ${CASES}`);
    results.push(result);
  }
  const rate = (p: Parser) => mb / results.find((r) => r.parser === p)!.best;
  console.log('parser            MB/s   best s   peak RSS   runs (s)');
  for (const r of results) {
    console.log(
      `${r.parser.padEnd(16)} ${(mb / r.best).toFixed(1).padStart(6)}   ${r.best.toFixed(3).padStart(6)}   ${(r.maxRssKb / 1024).toFixed(0).padStart(5)} MiB   ${r.times.map((t) => t.toFixed(3)).join(' ')}`,
    );
  }
  const ours = rate('ours');
  console.log(`\nours vs fast-xml-parser: ${(ours / rate('fast-xml-parser')).toFixed(2)}×   (goal ≥ 2×)`);
  console.log(`ours vs xml2js:          ${(ours / rate('xml2js')).toFixed(2)}×`);
  console.log(`ours:                    ${ours.toFixed(1)} MB/s   (goal ≥ 40 MB/s)`);
  console.log('(saxes builds no objects here: it is the cost of tokenizing alone with a general streaming parser)');
}

if (process.argv[2] === '--child') {
  child(process.argv[3] as Parser, process.argv[4]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
