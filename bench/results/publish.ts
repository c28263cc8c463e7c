// bench/results, publish part: the 300 MB / 1M-case JUnit file (test/fixtures/test-results/large-junit.ts) published
// through the local contract server by the bundled core in its own process, as test/integration/testresults-large
// does; wall time of publishTestResults and the process's peak RSS, best of RUNS. Once as the local server answers
// (parsing and serialising dominate), once with SERVICE_LATENCY_MS added to each "Results - Add", as a remote
// service answers (round trips dominate; concurrent batches matter there). Nothing here asserts a time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { startAdoContractServer } from '../../test/support/ado-contract-server';
import { LARGE_CASES, writeLargeJUnit } from '../../test/fixtures/test-results/large-junit';

const RUNS = 3;
/** A remote Azure DevOps answers "Results - Add" in tens to hundreds of milliseconds; 20 ms keeps the bench short. */
const SERVICE_LATENCY_MS = 20;
/**
 * The checkout whose core is bundled: this one, or OUTERLOOP_BENCH_TREE (another checkout, e.g. `git archive` of the
 * previous commit with node_modules linked in) to time before and after on the same machine at the same moment.
 */
const repoRoot = process.env.OUTERLOOP_BENCH_TREE ?? path.resolve(__dirname, '..', '..');

const CHILD = `
import { publishTestResults, createApiPublisher, connectWithAccessToken } from './shared/src/testresults';
import { memoryLog } from './shared/src/log';
(async () => {
  const a = JSON.parse(process.env.OUTERLOOP_BENCH_ARGS!);
  const publisher = createApiPublisher({ connect: () => connectWithAccessToken(a.url, a.token), project: a.project, buildId: 7 });
  const start = process.hrtime.bigint();
  const result = await publishTestResults({ files: [a.file], searchFolder: a.dir, runTitle: 'Large' }, publisher, memoryLog());
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ total: result.counts.total, seconds, maxRssKb: process.resourceUsage().maxRSS }));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

export async function benchPublish(dir: string): Promise<void> {
  const file = path.join(dir, 'TEST-large.xml');
  await writeLargeJUnit(file);
  const bytes = fs.statSync(file).size;
  const bundle = path.join(dir, 'publish-large.js');
  buildSync({
    stdin: { contents: CHILD, resolveDir: repoRoot, loader: 'ts', sourcefile: 'publish-large.ts' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile: bundle,
    logLevel: 'error',
  });
  console.log(
    `\npublish: ${LARGE_CASES.toLocaleString('en')} JUnit cases, ${(bytes / 2 ** 20).toFixed(0)} MiB, through the contract server; best of ${RUNS}, each in its own process`,
  );
  for (const latency of [0, SERVICE_LATENCY_MS]) await publishRuns(bundle, file, dir, bytes, latency);
}

async function publishRuns(bundle: string, file: string, dir: string, bytes: number, latency: number): Promise<void> {
  const runs: { seconds: number; maxRssKb: number }[] = [];
  for (let r = 0; r < RUNS; r++) {
    const server = await startAdoContractServer({ keepResults: 50, keepBodies: false, resultsLatencyMs: latency });
    try {
      const child = spawn(process.execPath, [bundle], {
        env: {
          ...process.env,
          OUTERLOOP_BENCH_ARGS: JSON.stringify({ url: server.url, token: server.token, project: server.project, file, dir }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      if (code !== 0) throw new Error(`publishing failed: ${stderr}`);
      const result = JSON.parse(stdout) as { total: number; seconds: number; maxRssKb: number };
      if (result.total !== LARGE_CASES) throw new Error(`published ${result.total} results, not ${LARGE_CASES}`);
      if (server.violations.length > 0) throw new Error(`contract violations: ${server.violations.slice(0, 3).join('; ')}`);
      runs.push(result);
    } finally {
      await server.close();
    }
  }
  const best = Math.min(...runs.map((r) => r.seconds));
  const rss = Math.max(...runs.map((r) => r.maxRssKb)) / 1024;
  const label = latency ? `+${latency} ms a call` : 'local';
  console.log(
    `publish ${label.padEnd(15)} best ${best.toFixed(2)} s   (${(bytes / 1e6 / best).toFixed(1)} MB/s)   peak RSS ${rss.toFixed(1)} MiB (highest of the runs; budget 150 MB)   runs (s) ${runs.map((r) => r.seconds.toFixed(2)).join(' ')}`,
  );
}
