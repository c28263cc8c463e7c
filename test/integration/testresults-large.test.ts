import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { startAdoContractServer, type AdoContractServer } from '../support/ado-contract-server';
import { repoRoot } from '../support/env';
import { LARGE_CASES, writeLargeJUnit } from '../fixtures/test-results/large-junit';

/**
 * A 300 MB JUnit file with a million test cases, published through the contract server by a separate process
 * running the bundled core (as the task runs it), so its peak RSS is its own: results must leave in batches, the
 * file never held in memory, and the result file itself skipped as an attachment (over the cap) with a warning.
 */

const CASES = LARGE_CASES;
// 150 MB read strictly (10^6 bytes), the smaller of the two readings.
const RSS_LIMIT_BYTES = 150_000_000;

const CHILD = `
import { publishTestResults, createApiPublisher, connectWithAccessToken } from './shared/src/testresults';
import { memoryLog } from './shared/src/log';
(async () => {
  const a = JSON.parse(process.env.OUTERLOOP_LARGE_ARGS!);
  const log = memoryLog();
  const publisher = createApiPublisher({ connect: () => connectWithAccessToken(a.url, a.token), project: a.project, buildId: 7 });
  const result = await publishTestResults({ files: [a.file], searchFolder: a.dir, runTitle: 'Large' }, publisher, log);
  const warnings = log.lines.filter((l) => l.startsWith('warning: '));
  process.stdout.write(JSON.stringify({ counts: result.counts, runIds: result.runIds, issues: result.issues, warnings, maxRssKb: process.resourceUsage().maxRSS }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

describe('testresults: a 300 MB JUnit file through the contract server', function () {
  let dir: string;
  let server: AdoContractServer;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-testresults-large-'));
  });
  after(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("contract server: 1M cases published in batches of ≤ 1000 with the publisher's peak RSS under 150 MB", async () => {
    const file = path.join(dir, 'TEST-large.xml');
    const expected = await writeLargeJUnit(file);
    const size = fs.statSync(file).size;
    assert.ok(size >= 290 * 1024 * 1024 && size <= 320 * 1024 * 1024, `generated ${size} bytes`);

    const bundle = path.join(dir, 'publish-large.js');
    buildSync({
      stdin: { contents: CHILD, resolveDir: repoRoot, loader: 'ts', sourcefile: 'publish-large.ts' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      outfile: bundle,
      logLevel: 'error',
    });

    server = await startAdoContractServer({ keepResults: 50, keepBodies: false });
    const child = spawn(process.execPath, [bundle], {
      env: {
        ...process.env,
        OUTERLOOP_LARGE_ARGS: JSON.stringify({ url: server.url, token: server.token, project: server.project, file, dir }),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as {
      counts: { total: number; passed: number; failed: number; skipped: number };
      runIds: number[];
      issues: string[];
      warnings: string[];
      maxRssKb: number;
    };

    assert.deepEqual(server.violations, []);
    assert.deepEqual(report.counts, { total: CASES, ...expected, other: 0 });
    assert.deepEqual(report.issues, []);
    const run = server.runs.get(report.runIds[0])!;
    assert.equal(run.state, 'Completed');
    assert.equal(run.resultCount, CASES);
    assert.ok(run.batches.length >= CASES / 1000 && run.batches.length <= CASES / 100, `${run.batches.length} batches`);
    assert.ok(
      run.batches.every((n) => n >= 1 && n <= 1000),
      'every "Results - Add" within the limit',
    );
    assert.deepEqual(run.outcomes, { Passed: expected.passed, Failed: expected.failed, NotExecuted: expected.skipped });
    assert.deepEqual(report.warnings, [
      `warning: attachment 'TEST-large.xml' of 'TEST-large.xml' was not attached: it is ${(size / (1024 * 1024)).toFixed(1)} MiB, over the 8 MiB attachment cap`,
      'warning: the console output of 19000 more failed tests was not attached (at most 1000 logs and 50 MiB per run)',
    ]);
    const peak = report.maxRssKb * 1024;
    console.log(
      `      peak RSS of the publishing process: ${(peak / (1024 * 1024)).toFixed(1)} MiB for ${(size / (1024 * 1024)).toFixed(0)} MiB of JUnit`,
    );
    assert.ok(peak < RSS_LIMIT_BYTES, `peak RSS ${peak} bytes`);
  });
});
