// bench/startup: how fast each task bundle starts, as ratios to `node -e ''` timed in the same run, interleaved:
//   (a) the start with no inputs (task.json defaults only, as the agent fills them): process start to exit;
//   (b) with valid inputs, process start to the task's first outbound request, noted where it lands by a relay in
//       front of a loopback registry, the Azure DevOps contract server, or the Docker engine's socket (a unix-socket
//       relay named by DOCKER_HOST).
// Each task runs as the agent runs it (INPUT_*, ENDPOINT_*, variables in the environment; stdout and stderr pipes
// read as they come) under the Node of the chosen handler. Prints each bundle's size too. Nothing here asserts a time.
//
//   npx tsx bench/startup/index.ts [--runs 21] [--runs-b 7] [--only a|b] [--tasks PromoteImage,…]
//                                  [--handler Node20_1|Node24] [--dist <folder holding <Task>/index.js>]…
// Several --dist folders (say, a copy of dist/tasks from before a change, and dist/tasks) are timed in the same
// rounds against the same anchor.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildBusyboxImage,
  BUSYBOX_PATH,
  connectEngine,
  removeTestImages,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../../test/support/engine';
import { startAdoContractServer, type AdoContractServer } from '../../test/support/ado-contract-server';
import { handlerNode, type Handler } from '../../test/support/handlers';
import { bundledTaskDir, bundleOnce, parseCommands, variableEnvName } from '../../test/support/harness';
import { pushRandomImage } from '../../test/support/images';
import { registryAvailable, startRegistry, type TestRegistry } from '../../test/support/registries';
import { repoRoot } from '../../test/support/env';
import { median } from '../support';
import { startRelay, type Relay } from './relay';

const TASKS = [
  'BuildTestRunner',
  'PackageHelmChart',
  'PromoteImage',
  'PublishContainerTestResults',
  'PushImageByDigest',
  'RunContainerTests',
];
const SAMPLE_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '21' },
    'runs-b': { type: 'string', default: '7' },
    only: { type: 'string' },
    tasks: { type: 'string' },
    handler: { type: 'string', default: 'Node20_1' },
    dist: { type: 'string', multiple: true },
  },
});
const runsA = Number(args.runs);
const runsB = Number(args['runs-b']);
const tasks = args.tasks ? args.tasks.split(',') : TASKS;
const node = handlerNode(args.handler as Handler).execPath;
const dists = args.dist?.length ? args.dist.map((d) => path.resolve(d)) : [path.dirname(bundledTaskDir(TASKS[0]))];

interface Run {
  inputs?: Record<string, string>;
  variables?: Record<string, string>;
  endpoints?: { id: string; url: string; scheme: string; parameters: Record<string, string> }[];
  env?: Record<string, string>;
}

/** The environment the agent gives a task: variables, every input (task.json default unless given), endpoints. */
function agentEnvironment(dist: string, task: string, run: Run, tempDirectory: string): Record<string, string> {
  const taskJson = JSON.parse(fs.readFileSync(path.join(dist, task, 'task.json'), 'utf8'));
  const variables: Record<string, string> = {
    'Agent.TempDirectory': tempDirectory,
    'Agent.WorkFolder': tempDirectory,
    'Build.BuildId': '4711',
    'Build.Repository.Name': 'bench',
    'Build.ArtifactStagingDirectory': path.join(tempDirectory, 'a'),
    'Common.TestResultsDirectory': path.join(tempDirectory, 'TestResults'),
    'System.DefaultWorkingDirectory': tempDirectory,
    ...run.variables,
  };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !/^(INPUT|ENDPOINT|SECRET)_/.test(key)) env[key] = value;
  for (const [name, value] of Object.entries(variables)) env[variableEnvName(name)] = value;
  const expand = (value: string) => value.replace(/\$\(([^)]+)\)/g, (whole, name: string) => variables[name.trim()] ?? whole);
  for (const input of taskJson.inputs ?? []) {
    env[`INPUT_${variableEnvName(input.name)}`] = expand(run.inputs?.[input.name] ?? String(input.defaultValue ?? ''));
  }
  for (const endpoint of run.endpoints ?? []) {
    env[`ENDPOINT_URL_${endpoint.id}`] = endpoint.url;
    env[`ENDPOINT_AUTH_${endpoint.id}`] = JSON.stringify({ scheme: endpoint.scheme, parameters: endpoint.parameters });
    env[`ENDPOINT_AUTH_SCHEME_${endpoint.id}`] = endpoint.scheme;
    for (const [key, value] of Object.entries(endpoint.parameters))
      env[`ENDPOINT_AUTH_PARAMETER_${endpoint.id}_${key.toUpperCase()}`] = value;
  }
  return { ...env, ...run.env };
}

interface Timed {
  startedAt: bigint;
  exitedAt: bigint;
  stdout: string;
}

/** Spawns `node <args>` with pipes read as they come; times process start to exit. */
function timedNode(nodeArgs: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const startedAt = process.hrtime.bigint();
    const child = spawn(node, nodeArgs, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.resume();
    let exitedAt = 0n;
    child.once('error', reject);
    child.once('exit', () => (exitedAt = process.hrtime.bigint()));
    // 'close' comes after 'exit' and the last of its output.
    child.once('close', () => resolve({ startedAt, exitedAt, stdout: Buffer.concat(out).toString('utf8') }));
  });
}

const ms = (ns: bigint) => Number(ns) / 1e6;

function anchor(): Promise<number> {
  return timedNode(['-e', ''], process.env, os.tmpdir()).then((t) => ms(t.exitedAt - t.startedAt));
}

function result(stdout: string): string {
  const complete = parseCommands(stdout)
    .commands.filter((c) => c.command === 'task.complete')
    .pop();
  return complete ? `${complete.properties.result}: ${complete.message}` : '(no task.complete)';
}

async function runTask(dist: string, task: string, run: Run): Promise<Timed> {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-startup-'));
  try {
    return await timedNode([path.join(dist, task, 'index.js')], agentEnvironment(dist, task, run, temp), temp);
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

function folderBytes(dir: string): number {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + fs.statSync(path.join(e.parentPath, e.name)).size, 0);
}

interface Measured {
  anchor: number[];
  /** By `<dist>\0<task>`. */
  times: Map<string, number[]>;
  outcomes: Map<string, string>;
}

const at = (dist: string, task: string) => `${dist}\0${task}`;

function record(measured: Measured, key: string, value: number): void {
  if (!measured.times.has(key)) measured.times.set(key, []);
  measured.times.get(key)!.push(value);
}

/** (a): every task with task.json's defaults only, interleaved with the anchor. */
async function measureStart(): Promise<Measured> {
  const measured: Measured = { anchor: [], times: new Map(), outcomes: new Map() };
  for (let round = 0; round < runsA; round++) {
    measured.anchor.push(await anchor());
    for (const dist of dists) {
      for (const task of tasks) {
        const timed = await runTask(dist, task, {});
        record(measured, at(dist, task), ms(timed.exitedAt - timed.startedAt));
        measured.outcomes.set(at(dist, task), result(timed.stdout));
      }
    }
  }
  return measured;
}

interface Fixtures {
  runs: Map<string, Run>;
  relays: Relay[];
  stop(): Promise<void>;
}

/** Loopback services behind relays, and valid inputs for every task that can run here. */
async function startFixtures(): Promise<Fixtures> {
  const runs = new Map<string, Run>();
  const relays: Relay[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-startup-fixtures-'));
  stops.push(() => Promise.resolve(fs.rmSync(work, { recursive: true, force: true })));
  const relay = async (target: Parameters<typeof startRelay>[0], listen?: { path: string }) => {
    const r = await startRelay(target, listen);
    relays.push(r);
    stops.push(() => r.close());
    return r;
  };

  let registryRelay: Relay | undefined;
  if (registryAvailable()) {
    const registry: TestRegistry = await startRegistry('anonymous');
    stops.push(() => registry.stop());
    registryRelay = await relay({ port: Number(new URL(registry.url).port) });
    await pushRandomImage(registry, 'bench/app', 'v1', { auth: null });
    runs.set('PromoteImage', { inputs: { sourceImage: `${registryRelay.address}/bench/app:v1`, targetNamespace: 'prod' } });
    const chart = path.join(work, 'chart');
    fs.cpSync(SAMPLE_CHART, chart, { recursive: true });
    runs.set('PackageHelmChart', {
      inputs: {
        chartPath: chart,
        chartVersion: '1.0.0',
        versionFromBranch: 'false',
        push: 'true',
        chartRepository: `${registryRelay.address}/charts`,
        destination: path.join(work, 'packages'),
      },
    });
  } else {
    console.log(`(b) PromoteImage, PackageHelmChart, PushImageByDigest: skipped, no registry (/usr/bin/docker-registry)`);
  }

  const server: AdoContractServer = await startAdoContractServer();
  stops.push(() => server.close());
  const serverUrl = new URL(server.url);
  const adoRelay = await relay({ port: Number(serverUrl.port) });
  const results = path.join(work, 'results');
  fs.mkdirSync(results);
  fs.writeFileSync(
    path.join(results, 'TEST-bench.xml'),
    '<testsuite name="bench" tests="2" failures="0"><testcase name="a"/><testcase name="b"/></testsuite>\n',
  );
  const collection = `http://${adoRelay.address}${serverUrl.pathname}`;
  runs.set('PublishContainerTestResults', {
    inputs: { testResultsFiles: '*.xml', searchFolder: results, publishMode: 'api' },
    variables: { 'System.TeamFoundationCollectionUri': collection, 'System.TeamProject': server.project },
    endpoints: [{ id: 'SystemVssConnection', url: collection, scheme: 'OAuth', parameters: { AccessToken: server.token } }],
  });

  const docker = await connectEngine();
  if (docker && fs.existsSync('/var/run/docker.sock')) {
    const engineRelay = await relay({ path: '/var/run/docker.sock' }, { path: path.join(work, 'engine.sock') });
    const env = { DOCKER_HOST: `unix://${engineRelay.address}` };
    const image = `outerloop-bench/startup:${TEST_RUN_ID}`;
    await buildBusyboxImage(docker, { tag: image, layers: 0, bytesPerLayer: 0, seed: 'bench-startup' });
    stops.push(() => removeTestImages(docker, { onlyThisRun: true }));
    const context = path.join(work, 'context');
    fs.mkdirSync(context);
    fs.copyFileSync(BUSYBOX_PATH, path.join(context, 'busybox'));
    fs.writeFileSync(path.join(context, 'Dockerfile'), 'FROM scratch AS testrunner\nCOPY busybox /bin/busybox\n');
    const labels = `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`;
    runs.set('BuildTestRunner', {
      inputs: {
        dockerfile: path.join(context, 'Dockerfile'),
        imageName: `outerloop-bench/startup-built:${TEST_RUN_ID}`,
        labels,
        network: 'none',
      },
      env,
    });
    const report = `<testsuite name="bench" tests="1"><testcase name="a"/></testsuite>`;
    const script = `/bin/busybox mkdir -p /tests/TestResults && echo '${report}' > /tests/TestResults/TEST-bench.xml`;
    runs.set('RunContainerTests', {
      inputs: { image, command: `/bin/busybox sh -c "${script.replace(/"/g, '\\"')}"`, network: 'none' },
      env,
    });
    if (registryRelay)
      runs.set('PushImageByDigest', {
        inputs: { sourceImage: image, repository: `${registryRelay.address}/bench/pushed`, tags: '1', publishLockArtifact: 'false' },
        env,
      });
  } else {
    console.log('(b) BuildTestRunner, PushImageByDigest, RunContainerTests: skipped, no Docker engine at /var/run/docker.sock');
  }
  return {
    runs,
    relays,
    stop: async () => {
      for (const stop of stops.reverse())
        await stop().catch((error: unknown) => console.log(`cleanup: ${error instanceof Error ? error.message : String(error)}`));
    },
  };
}

/** (b): each task with valid inputs; the first byte any relay sees ends the measure. */
async function measureFirstRequest(fixtures: Fixtures): Promise<Measured> {
  const measured: Measured = { anchor: [], times: new Map(), outcomes: new Map() };
  for (let round = 0; round < runsB; round++) {
    measured.anchor.push(await anchor());
    for (const dist of dists) {
      for (const task of tasks) {
        const run = fixtures.runs.get(task);
        if (!run) continue;
        for (const relay of fixtures.relays) relay.reset();
        const timed = await runTask(dist, task, run);
        const firsts = fixtures.relays.map((r) => r.firstByteAt()).filter((t): t is bigint => t !== undefined);
        measured.outcomes.set(at(dist, task), result(timed.stdout));
        if (firsts.length === 0) {
          measured.outcomes.set(at(dist, task), `no request reached a relay; ${result(timed.stdout)}`);
          continue;
        }
        record(measured, at(dist, task), ms(firsts.reduce((a, b) => (a < b ? a : b)) - timed.startedAt));
      }
    }
  }
  return measured;
}

/**
 * Medians and their ratio (the measure), and the fastest run of each and their ratio: on a busy machine the medians
 * carry the wait for a CPU, and the minimums come closest to what an idle agent sees.
 */
function printTable(title: string, measured: Measured): void {
  const base = median(measured.anchor);
  const fastestBase = Math.min(...measured.anchor);
  console.log(
    `\n${title}: ${measured.anchor.length} rounds; node -e '' median ${base.toFixed(1)} ms, fastest ${fastestBase.toFixed(1)} ms`,
  );
  for (const dist of dists) {
    if (dists.length > 1) console.log(`\n${path.relative(process.cwd(), dist) || '.'}`);
    console.log('| task | median ms | ratio | fastest ms | ratio | result |');
    console.log('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const task of tasks) {
      const times = measured.times.get(at(dist, task));
      const outcome = measured.outcomes.get(at(dist, task))?.slice(0, 90) ?? 'not run here';
      if (!times?.length) {
        console.log(`| ${task} | - | - | - | - | ${outcome} |`);
        continue;
      }
      const [typical, fastest] = [median(times), Math.min(...times)];
      console.log(
        `| ${task} | ${typical.toFixed(1)} | ${(typical / base).toFixed(2)}x | ${fastest.toFixed(1)} | ${(fastest / fastestBase).toFixed(2)}x | ${outcome} |`,
      );
    }
  }
}

async function main(): Promise<void> {
  if (!args.dist?.length) await bundleOnce();
  console.log(
    `node ${node} (${args.handler}); ${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (const dist of dists) {
    console.log(`\n${path.relative(process.cwd(), dist) || '.'}`);
    console.log('| task | task.js KB | task folder KB |');
    console.log('| --- | ---: | ---: |');
    for (const task of tasks) {
      console.log(
        `| ${task} | ${(fs.statSync(path.join(dist, task, 'task.js')).size / 1024).toFixed(1)} | ${(folderBytes(path.join(dist, task)) / 1024).toFixed(1)} |`,
      );
    }
  }
  if (args.only !== 'b') printTable('(a) start with no inputs, process start to exit (goal: each <= 1.5x)', await measureStart());
  if (args.only !== 'a') {
    const fixtures = await startFixtures();
    try {
      printTable('(b) process start to first outbound request, valid inputs', await measureFirstRequest(fixtures));
    } finally {
      await fixtures.stop();
    }
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
