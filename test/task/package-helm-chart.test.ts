// PackageHelmChart@1 run from its bundle exactly as the agent runs it: no helm on the task's PATH; real helm
// (test tool only) reads what it wrote; real distribution registries on loopback receive the pushes.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import type Dockerode from 'dockerode';
import { parseLock } from '../../shared/src/release';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { repoRoot, testdataAvailable, testdataRoot, needOrSkip } from '../support/env';
import { startFaultProxy } from '../support/fault-proxy';
import {
  bundleOnce,
  describeRun,
  escapeRegExp,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  type TaskRun,
  assertFailedCleanly,
  assertNoSecrets,
  uploadedSummary,
} from '../support/harness';
import { requireHelm, runHelm } from '../support/helm';
import { fetchManifest, listTags } from '../support/images';
import { freeLoopbackPort } from '../support/loopback';
import { makeImmutable, undoReadOnly } from '../support/readonly';
import { requireRegistry, sharedRegistry, userOf, type TestRegistry } from '../support/registries';

const TASK = 'PackageHelmChart';
const SAMPLE = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
const STOREFRONT = path.join(repoRoot, 'test', 'fixtures', 'charts', 'storefront');
const RELEASE_BRANCH = 'refs/heads/release/sample-service/1.4.0';
const IMAGE_DIGEST = `sha256:${crypto.createHash('sha256').update('outer-loop sample-service image').digest('hex')}`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-task-helm-'));
/** An empty folder as the task's whole PATH: whatever it does, it cannot be running helm. */
const PATH_WITHOUT_HELM = fs.mkdtempSync(path.join(work, 'path-'));
const runs: TaskRun[] = [];

/** Runs the bundled task with PATH_WITHOUT_HELM and a private HOME (checked to stay empty). */
async function run(options: RunOptions & { home?: string } = {}): Promise<TaskRun> {
  const home = options.home ?? fs.mkdtempSync(path.join(work, 'home-'));
  const result = await runBundledTask(TASK, { ...options, env: { PATH: PATH_WITHOUT_HELM, HOME: home, ...options.env } });
  runs.push(result);
  return result;
}

/** Where the task puts the package by default: `$(Build.ArtifactStagingDirectory)` of the harness. */
function staging(taskRun: TaskRun): string {
  return path.join(taskRun.tempDirectory, 'a');
}

/** Every file below `dir` (relative), hidden and partial ones included. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

function assertFailedWithNothingLeft(taskRun: TaskRun, pattern: RegExp): void {
  assertFailedCleanly(taskRun, pattern);
  assert.deepEqual(filesUnder(staging(taskRun)), [], 'no package (partial or whole) is left behind');
  assert.deepEqual(Object.keys(taskRun.outputs), [], 'no output variable is set');
}

function assertNoSecretsOrHomeFiles(taskRun: TaskRun, secrets: string[], home: string): void {
  assertNoSecrets(taskRun, secrets);
  assert.deepEqual(filesUnder(home), [], 'nothing written to HOME (no ~/.docker, no helm registry config)');
}

/** A writable copy of a chart with every file time moved a day ahead, as a fresh checkout on another day. */
function freshCopy(from: string, name: string): string {
  const to = path.join(work, name);
  fs.cpSync(from, to, { recursive: true });
  const later = new Date(Date.now() + 86_400_000);
  for (const file of [...filesUnder(to).map((f) => path.join(to, f)), to]) fs.utimesSync(file, later, later);
  return to;
}

/** Names and mtimes of a .tgz's entries. */
async function archiveEntries(file: string): Promise<{ name: string; mtime: number }[]> {
  const extract = tar.extract();
  const entries: { name: string; mtime: number }[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      entries.push({ name: header.name, mtime: (header.mtime?.getTime() ?? 0) / 1000 });
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(zlib.gunzipSync(fs.readFileSync(file)));
  await done;
  return entries;
}

function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

describe('PackageHelmChart@1 task (bundle run as the agent runs it, no helm on its PATH)', function () {
  before(async () => {
    await bundleOnce();
  });
  after(() => {
    for (const taskRun of runs) fs.rmSync(taskRun.tempDirectory, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  describe('packaging', () => {
    it('packages the sample chart from a release/<service>/<semver> branch, with no helm on PATH', async () => {
      assert.ok(
        PATH_WITHOUT_HELM.split(path.delimiter).every((dir) => !fs.existsSync(path.join(dir, 'helm'))),
        'the PATH given to the task holds no helm',
      );
      const taskRun = await run({ reader: 'late', inputs: { chartPath: SAMPLE }, variables: { 'Build.SourceBranch': RELEASE_BRANCH } });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      const expected = path.join(staging(taskRun), 'sample-service-1.4.0.tgz');
      assert.deepEqual(taskRun.outputs, { chartPackage: expected, chartVersion: '1.4.0' });
      assert.deepEqual(filesUnder(staging(taskRun)), ['sample-service-1.4.0.tgz']);
      assert.match(taskRun.lines.join('\n'), /packaged sample-service 1\.4\.0 \(version from branch\)/);
      const names = (await archiveEntries(expected)).map((e) => e.name);
      assert.equal(names[0], 'sample-service/Chart.yaml', "Chart.yaml first, as helm's loader expects");
      assert.ok(names.includes('sample-service/templates/job.yaml'));
    });

    it('real helm reads the package: helm show chart gives the branch version, helm lint passes', async function () {
      requireHelm(this);
      const taskRun = await run({
        inputs: { chartPath: SAMPLE, appVersion: '2024.06.1' },
        variables: { 'Build.SourceBranch': 'refs/heads/release/v1.5.0-rc.2' },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.chartVersion, '1.5.0-rc.2');
      const show = await runHelm(['show', 'chart', taskRun.outputs.chartPackage]);
      assert.equal(show.code, 0, show.stderr);
      assert.match(show.stdout, /^version: 1\.5\.0-rc\.2$/m);
      assert.match(show.stdout, /^appVersion: 2024\.06\.1$/m);
      const lint = await runHelm(['lint', taskRun.outputs.chartPackage]);
      assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    });

    it('gives the same sha256 twice, the second time from a fresh copy with new file times', async () => {
      const inputs = { chartPath: SAMPLE };
      const variables = { 'Build.SourceBranch': RELEASE_BRANCH };
      const first = await run({ inputs, variables });
      const second = await run({ inputs: { chartPath: freshCopy(SAMPLE, 'fresh-sample') }, variables });
      assert.equal(first.result, 'Succeeded', describeRun(first));
      assert.equal(second.result, 'Succeeded', describeRun(second));
      assert.equal(sha256File(second.outputs.chartPackage), sha256File(first.outputs.chartPackage));
    });

    it('takes file times from SOURCE_DATE_EPOCH, else a fixed epoch', async () => {
      const epoch = 1_717_171_717;
      const pinned = await run({ inputs: { chartPath: SAMPLE }, variables: { SOURCE_DATE_EPOCH: String(epoch) } });
      const fallback = await run({ inputs: { chartPath: SAMPLE } });
      assert.equal(pinned.result, 'Succeeded', describeRun(pinned));
      assert.equal(fallback.result, 'Succeeded', describeRun(fallback));
      assert.deepEqual(new Set((await archiveEntries(pinned.outputs.chartPackage)).map((e) => e.mtime)), new Set([epoch]));
      assert.deepEqual(new Set((await archiveEntries(fallback.outputs.chartPackage)).map((e) => e.mtime)), new Set([315532800]));
    });

    it('outside release/ keeps the Chart.yaml version and says so; chartVersion wins over the branch', async () => {
      const feature = await run({ inputs: { chartPath: SAMPLE }, variables: { 'Build.SourceBranch': 'refs/heads/feature/greeting' } });
      assert.equal(feature.result, 'Succeeded', describeRun(feature));
      assert.equal(feature.outputs.chartVersion, '0.1.0');
      assert.match(
        feature.lines.join('\n'),
        /refs\/heads\/feature\/greeting' is not a release branch.*keeping the Chart\.yaml version 0\.1\.0/,
      );
      const explicit = await run({
        inputs: { chartPath: SAMPLE, chartVersion: '3.0.0+build.7' },
        variables: { 'Build.SourceBranch': RELEASE_BRANCH },
      });
      assert.equal(explicit.result, 'Succeeded', describeRun(explicit));
      assert.equal(explicit.outputs.chartVersion, '3.0.0+build.7');
      const ignored = await run({
        inputs: { chartPath: SAMPLE, versionFromBranch: 'false' },
        variables: { 'Build.SourceBranch': RELEASE_BRANCH },
      });
      assert.equal(ignored.outputs.chartVersion, '0.1.0', describeRun(ignored));
    });

    it('writes to destination, taking a path to Chart.yaml itself as its folder', async () => {
      const destination = path.join(work, 'dest', 'nested');
      const taskRun = await run({ inputs: { chartPath: path.join(SAMPLE, 'Chart.yaml'), destination } });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.chartPackage, path.join(destination, 'sample-service-0.1.0.tgz'));
      assert.ok(fs.existsSync(taskRun.outputs.chartPackage));
    });

    it('roots a relative chartPath at System.DefaultWorkingDirectory, as the agent roots filePath inputs', async () => {
      const taskRun = await run({
        inputs: { chartPath: path.relative(repoRoot, SAMPLE) },
        variables: { 'System.DefaultWorkingDirectory': repoRoot },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.match(taskRun.lines.join('\n'), /packaged sample-service 0\.1\.0/);
    });

    it('with imageRepository + imageDigest, real helm template renders the image by digest (chart with a digest field)', async function () {
      requireHelm(this);
      const taskRun = await run({
        inputs: { chartPath: SAMPLE, imageRepository: 'myacr.azurecr.io/sample-service', imageDigest: IMAGE_DIGEST },
        variables: { 'Build.SourceBranch': RELEASE_BRANCH },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      const rendered = await runHelm(['template', 'rel', taskRun.outputs.chartPackage]);
      assert.equal(rendered.code, 0, rendered.stderr);
      assert.match(rendered.stdout, new RegExp(`image: "myacr\\.azurecr\\.io/sample-service@${IMAGE_DIGEST}"`));
    });

    it('pins a repository:tag chart (corpus podinfo) as tag@digest, which helm template renders', async function () {
      requireHelm(this);
      needOrSkip(this, testdataAvailable(), `the chart corpus at ${testdataRoot}`);
      const taskRun = await run({
        inputs: {
          chartPath: path.join(testdataRoot, 'charts', 'podinfo'),
          imageRepository: 'myacr.azurecr.io/podinfo',
          imageDigest: IMAGE_DIGEST,
        },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      const rendered = await runHelm(['template', 'rel', taskRun.outputs.chartPackage]);
      assert.equal(rendered.code, 0, rendered.stderr);
      assert.match(rendered.stdout, new RegExp(`image: "myacr\\.azurecr\\.io/podinfo:6\\.14\\.1@${IMAGE_DIGEST}"`));
    });

    it('pins the image of a subchart reached by its alias, its own registry overridden, and helm template renders it by digest', async function () {
      requireHelm(this);
      const taskRun = await run({
        inputs: {
          chartPath: STOREFRONT,
          imageRepository: 'myacr.azurecr.io/sessions',
          imageDigest: IMAGE_DIGEST,
          imageValuesKey: 'sessions.image',
        },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.match(taskRun.lines.join('\n'), /pinned the image by digest in values\.yaml for the image of subchart 'sessions' \(redis, /);
      const rendered = await runHelm(['template', 'rel', taskRun.outputs.chartPackage]);
      assert.equal(rendered.code, 0, rendered.stderr);
      const images = rendered.stdout
        .split('\n')
        .filter((l) => /^\s+image: /.test(l))
        .map((l) => l.trim());
      assert.ok(images.includes(`image: myacr.azurecr.io/sessions@${IMAGE_DIGEST}`), images.join('\n'));
      assert.ok(images.includes('image: docker.io/bitnami/redis:7.4.1-debian-12-r2'), 'the same subchart by its name keeps its image');
      assert.equal(images.filter((l) => l.includes(IMAGE_DIGEST)).length, 1, images.join('\n'));
    });

    it('packs the file:// dependency of the corpus delivery chart from release/delivery/v1.4.0 with updateDependencies', async function () {
      needOrSkip(this, testdataAvailable(), `the chart corpus at ${testdataRoot}`);
      const chartPath = path.join(testdataRoot, 'charts', 'delivery');
      const before = filesUnder(chartPath);
      const taskRun = await run({
        inputs: { chartPath, updateDependencies: 'true' },
        variables: { 'Build.SourceBranch': 'refs/heads/release/delivery/v1.4.0' },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.chartVersion, '1.4.0');
      const names = (await archiveEntries(taskRun.outputs.chartPackage)).map((e) => e.name);
      assert.ok(names.includes('delivery/charts/delivery-dev/Chart.yaml'), names.join('\n'));
      assert.deepEqual(filesUnder(chartPath), before, 'the chart folder is only read');
    });
  });

  describe('bad input: one clear Failed line naming the input or cause, and no package left', () => {
    /** A chart folder built for one failure. */
    function chart(name: string, files: Record<string, string>): string {
      const dir = path.join(work, 'bad', name);
      for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
      }
      return dir;
    }
    const chartYaml = (extra = '') => `apiVersion: v2\nname: bad\nversion: 0.1.0\n${extra}`;

    it('a folder without Chart.yaml', async () => {
      const dir = chart('no-chart-yaml', { 'values.yaml': 'a: 1\n' });
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: dir } }),
        /^input 'chartPath' is '.*no-chart-yaml', which holds no Chart\.yaml: name the folder that holds Chart\.yaml$/,
      );
    });

    it('a chartPath that does not exist', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: path.join(work, 'nowhere') } }),
        /^input 'chartPath' is '.*nowhere', which does not exist$/,
      );
    });

    it('an invalid chartVersion', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, chartVersion: '1.4' } }),
        /^input 'chartVersion' is not a SemVer 2 version: '1\.4'/,
      );
    });

    it('a release branch whose last segment is not SemVer (release/delivery/latest)', async () => {
      const taskRun = await run({
        inputs: { chartPath: SAMPLE },
        variables: { 'Build.SourceBranch': 'refs/heads/release/delivery/latest' },
      });
      assertFailedWithNothingLeft(
        taskRun,
        /^input 'versionFromBranch' is true, and the source branch \(Build\.SourceBranch\) is 'refs\/heads\/release\/delivery\/latest', a release branch whose last segment 'latest' is not a SemVer version.*chartVersion/,
      );
    });

    it('a symbolic link out of the chart', async () => {
      const outside = path.join(work, 'outside-secret.txt');
      fs.writeFileSync(outside, 'not part of any chart\n');
      const dir = chart('symlink-out', { 'Chart.yaml': chartYaml(), 'templates/cm.yaml': 'kind: ConfigMap\n' });
      fs.symlinkSync(outside, path.join(dir, 'templates', 'leak.txt'));
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: dir } }),
        /^input 'chartPath' holds a chart that cannot be packaged: .*templates\/leak\.txt is a symbolic link to .*outside-secret\.txt, outside the chart/,
      );
    });

    it('a dependency that charts/ does not hold (updateDependencies off)', async () => {
      const dir = chart('missing-dep', {
        'Chart.yaml': chartYaml('dependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n'),
      });
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: dir } }),
        /^input 'chartPath' .*declares dependency 'lib' \(file:\/\/\.\.\/lib\) but charts\/ does not hold it; set updateDependencies/,
      );
    });

    it('an imageValuesKey path that is not a map', async () => {
      const taskRun = await run({ inputs: { chartPath: SAMPLE, imageDigest: IMAGE_DIGEST, imageValuesKey: 'greeting.name' } });
      assertFailedWithNothingLeft(
        taskRun,
        /^input 'imageValuesKey' is 'greeting\.name', but 'greeting\.name' in .*values\.yaml holds the string 'world', not a map/,
      );
    });

    it('an imageValuesKey mistyped below a subchart (it used to succeed, pinning a map nothing renders)', async () => {
      const taskRun = await run({ inputs: { chartPath: STOREFRONT, imageDigest: IMAGE_DIGEST, imageValuesKey: 'sessions.imgae' } });
      assertFailedWithNothingLeft(
        taskRun,
        /^input 'imageValuesKey' is 'sessions\.imgae', but the merged values of subchart 'sessions' \(.*\) have no 'sessions\.imgae' \(under 'sessions', its keys: architecture, image, global, auth\)/,
      );
    });

    it('an imageDigest that is not a digest, and an imageRepository without a digest', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, imageDigest: 'latest' } }),
        /^input 'imageDigest' is not a digest: 'latest'/,
      );
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, imageRepository: 'myacr.azurecr.io/app' } }),
        /^input 'imageRepository' is set but imageDigest is not/,
      );
    });

    it('push without chartRepository, before anything is packaged', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, push: 'true' } }),
        /^input 'chartRepository' is required when push is true/,
      );
    });

    it('a chartRepository without a host and no service connection, or not a repository', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, push: 'true', chartRepository: 'helm' } }),
        /^input 'chartRepository' is 'helm', which names no registry host.*containerRegistry/,
      );
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, push: 'true', chartRepository: 'myacr.azurecr.io/Helm' } }),
        /^input 'chartRepository' is 'myacr\.azurecr\.io\/Helm', which is not a registry repository \(repository names are lower case\)/,
      );
    });

    it('a boolean that is not true or false', async () => {
      assertFailedWithNothingLeft(
        await run({ inputs: { chartPath: SAMPLE, push: 'yes' } }),
        /^input 'push' must be true or false, got 'yes'$/,
      );
    });

    it('a destination inside the chart', async () => {
      const dir = freshCopy(SAMPLE, 'dest-inside');
      const taskRun = await run({ inputs: { chartPath: dir, destination: path.join(dir, 'out') } });
      assertFailedWithNothingLeft(taskRun, /^input 'destination' is '.*out', inside the chart folder/);
      assert.ok(!fs.existsSync(path.join(dir, 'out')), 'nothing written into the chart');
    });

    it('a registry that is down: the push fails naming it, and the package is removed', async () => {
      const port = await freeLoopbackPort();
      const taskRun = await run({ inputs: { chartPath: SAMPLE, push: 'true', chartRepository: `127.0.0.1:${port}/charts` } });
      assertFailedWithNothingLeft(
        taskRun,
        new RegExp(
          `^input 'chartRepository' is '127\\.0\\.0\\.1:${port}/charts', where the chart could not be pushed: push chart oci://127\\.0\\.0\\.1:${port}/charts/sample-service:0\\.1\\.0: .*ECONNREFUSED.*; the package written to .* was removed$`,
        ),
      );
    });
  });

  describe('push (real registries)', function () {
    let anonymous: TestRegistry;
    before(async function () {
      requireRegistry(this);
      anonymous = await sharedRegistry('anonymous');
    });

    it('pushes to an anonymous registry: chartReference oci://…@sha256 and chartDigest, same digest on a re-run and from a fresh copy', async () => {
      const inputs = { chartPath: SAMPLE, push: 'true', chartRepository: `oci://${anonymous.host}/task-charts` };
      const variables = { 'Build.SourceBranch': RELEASE_BRANCH };
      const first = await run({ inputs, variables });
      assert.equal(first.result, 'Succeeded', describeRun(first));
      assert.match(first.outputs.chartDigest, /^sha256:[a-f0-9]{64}$/);
      assert.equal(first.outputs.chartReference, `oci://${anonymous.host}/task-charts/sample-service@${first.outputs.chartDigest}`);
      assert.equal(first.outputs.chartVersion, '1.4.0');
      const stored = await fetchManifest(anonymous, 'task-charts/sample-service', '1.4.0', null);
      assert.equal(stored.digest, first.outputs.chartDigest);
      assert.equal(JSON.parse(stored.bytes.toString('utf8')).layers[0].digest, `sha256:${sha256File(first.outputs.chartPackage)}`);

      const again = await run({ inputs, variables });
      const fresh = await run({ inputs: { ...inputs, chartPath: freshCopy(SAMPLE, 'fresh-push') }, variables });
      assert.equal(again.outputs.chartDigest, first.outputs.chartDigest, describeRun(again));
      assert.equal(fresh.outputs.chartDigest, first.outputs.chartDigest, describeRun(fresh));
      assert.deepEqual(await listTags(anonymous, 'task-charts/sample-service', null), ['1.4.0']);
    });

    it('real helm pull of the pushed chart returns exactly our bytes (tag with + becomes _)', async function () {
      requireHelm(this);
      const taskRun = await run({
        inputs: { chartPath: SAMPLE, chartVersion: '1.4.1+build.9', push: 'true', chartRepository: `${anonymous.host}/task-pull` },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.deepEqual(await listTags(anonymous, 'task-pull/sample-service', null), ['1.4.1_build.9']);
      for (const [ref, args] of [
        [`oci://${anonymous.host}/task-pull/sample-service`, ['--version', '1.4.1+build.9']],
        [taskRun.outputs.chartReference, []],
      ] as const) {
        const into = fs.mkdtempSync(path.join(work, 'pulled-'));
        const pull = await runHelm(['pull', ref, ...args, '--plain-http', '--destination', into]);
        assert.equal(pull.code, 0, pull.stdout + pull.stderr);
        assert.match(pull.stdout + pull.stderr, new RegExp(`Digest: ${taskRun.outputs.chartDigest}`));
        const [file, ...more] = fs.readdirSync(into);
        assert.deepEqual(more, [], 'helm pull wrote one file');
        assert.ok(
          fs.readFileSync(path.join(into, file)).equals(fs.readFileSync(taskRun.outputs.chartPackage)),
          `helm pull ${ref} returns the bytes we packaged`,
        );
      }
    });

    it('retries registry faults on a seeded schedule and still pushes the same digest', async () => {
      const direct = await run({
        inputs: { chartPath: SAMPLE, chartVersion: '1.6.0', push: 'true', chartRepository: `${anonymous.host}/task-direct` },
      });
      assert.equal(direct.result, 'Succeeded', describeRun(direct));
      const proxy = await startFaultProxy({ target: anonymous.url, seed: 20240611, faultRate: 0.5, retryAfter: 0, maxConsecutive: 2 });
      try {
        const taskRun = await run({
          inputs: { chartPath: SAMPLE, chartVersion: '1.6.0', push: 'true', chartRepository: `${proxy.host}/task-faults` },
        });
        assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
        assert.ok(proxy.counts().faults >= 2, `the schedule injected faults (${JSON.stringify(proxy.counts().byKind)})`);
        assert.equal(taskRun.outputs.chartDigest, direct.outputs.chartDigest);
        assert.equal((await fetchManifest(anonymous, 'task-faults/sample-service', '1.6.0', null)).digest, direct.outputs.chartDigest);
      } finally {
        await proxy.stop();
      }
    });

    describe('with a service connection', () => {
      it('htpasswd: pushes with the connection, takes the host from it, and leaks no secret', async () => {
        const registry = await sharedRegistry('htpasswd');
        const user = userOf(registry, 'promoter');
        const home = fs.mkdtempSync(path.join(work, 'home-'));
        const taskRun = await run({
          inputs: { chartPath: SAMPLE, push: 'true', containerRegistry: 'reg', chartRepository: 'team/charts' },
          endpoints: [registryEndpoint('reg', registry.url, user)],
          variables: { 'Build.SourceBranch': RELEASE_BRANCH },
          home,
        });
        assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
        assert.equal(taskRun.outputs.chartReference, `oci://${registry.host}/team/charts/sample-service@${taskRun.outputs.chartDigest}`);
        assert.equal((await fetchManifest(registry, 'team/charts/sample-service', '1.4.0')).digest, taskRun.outputs.chartDigest);
        assertNoSecretsOrHomeFiles(taskRun, registry.secrets(), home);
      });

      it('htpasswd: a wrong password fails naming containerRegistry, writes no tag and leaves no package', async () => {
        const registry = await sharedRegistry('htpasswd');
        const wrong = { username: 'promoter', password: 'wr0ng-Outer-Loop-chart-pass' };
        const home = fs.mkdtempSync(path.join(work, 'home-'));
        const taskRun = await run({
          inputs: { chartPath: SAMPLE, push: 'true', containerRegistry: 'reg', chartRepository: `${registry.host}/wrong/charts` },
          endpoints: [registryEndpoint('reg', registry.url, wrong)],
          home,
        });
        assertFailedWithNothingLeft(
          taskRun,
          /^input 'containerRegistry' holds credentials that .* refused: push chart oci:\/\/.*\/wrong\/charts\/sample-service:0\.1\.0: 401 /,
        );
        assert.deepEqual(await listTags(registry, 'wrong/charts/sample-service'), []);
        assertNoSecretsOrHomeFiles(
          taskRun,
          [...registry.secrets(), wrong.password, Buffer.from(`promoter:${wrong.password}`).toString('base64')],
          home,
        );
      });

      it('token: pushes with Bearer tokens and leaks none of them', async () => {
        const registry = await sharedRegistry('token');
        const user = userOf(registry, 'promoter');
        const home = fs.mkdtempSync(path.join(work, 'home-'));
        const taskRun = await run({
          inputs: { chartPath: SAMPLE, push: 'true', containerRegistry: 'reg', chartRepository: `${registry.host}/team/charts` },
          endpoints: [registryEndpoint('reg', registry.url, user)],
          home,
        });
        assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
        assert.equal((await fetchManifest(registry, 'team/charts/sample-service', '0.1.0')).digest, taskRun.outputs.chartDigest);
        assert.ok((registry.tokenIssuer?.issued.length ?? 0) > 0, 'tokens were issued');
        assertNoSecretsOrHomeFiles(taskRun, registry.secrets(), home);
      });

      it('token: a user without push access to the repository fails naming containerRegistry, and nothing is written', async () => {
        const registry = await sharedRegistry('token');
        const scoped = userOf(registry, 'scoped');
        const home = fs.mkdtempSync(path.join(work, 'home-'));
        const taskRun = await run({
          inputs: { chartPath: SAMPLE, push: 'true', containerRegistry: 'reg', chartRepository: `${registry.host}/elsewhere/charts` },
          endpoints: [registryEndpoint('reg', registry.url, scoped)],
          home,
        });
        assertFailedWithNothingLeft(
          taskRun,
          /^input 'containerRegistry' holds credentials that .* refused: push chart oci:\/\/.*\/elsewhere\/charts\/sample-service:0\.1\.0: .*user 'scoped' \(input 'containerRegistry'\)/,
        );
        assert.deepEqual(await listTags(registry, 'elsewhere/charts/sample-service'), []);
        assertNoSecretsOrHomeFiles(taskRun, registry.secrets(), home);
      });
    });
  });
});

describe('PackageHelmChart@1 records a pushed chart in the release lock file, and writes its run summary (bundle)', function () {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-task-helm-lock-'));
  const agentFolders: string[] = [];
  let docker: Dockerode | undefined;

  async function runTask(task: string, options: RunOptions): Promise<TaskRun> {
    const result = await runBundledTask(task, options);
    agentFolders.push(result.tempDirectory);
    return result;
  }
  const uploads = (taskRun: TaskRun) =>
    taskRun.commands.filter((c) => c.command === 'artifact.upload').map((c) => [c.properties.artifactname, c.message]);
  const readLock = (file: string) => parseLock(fs.readFileSync(file, 'utf8'));

  before(async () => {
    await bundleOnce();
  });
  after(async () => {
    undoReadOnly();
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
    for (const dir of [folder, ...agentFolders]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('PushImageByDigest then PackageHelmChart with one lockFile: the file holds the image and the chart that pins it, both publish it as image-lock', async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    const registry = await sharedRegistry('anonymous');
    const source = `outerloop-test/helm-lock-source:${TEST_RUN_ID}`;
    await buildBusyboxImage(docker, { tag: source, layers: 1, bytesPerLayer: 16 * 1024, seed: `helm-lock-${TEST_RUN_ID}` });
    const lockFile = path.join(folder, 'release', 'image-lock.json');
    const variables = { 'Build.SourceBranch': RELEASE_BRANCH, 'Build.SourceVersion': 'c0ffee' };

    const image = await runTask('PushImageByDigest', {
      inputs: { repository: `${registry.host}/release-lock/app`, sourceImage: source, lockFile },
      variables,
    });
    assert.equal(image.result, 'Succeeded', describeRun(image));
    const chart = await runTask(TASK, {
      reader: 'late',
      inputs: {
        chartPath: SAMPLE,
        imageRepository: `${registry.host}/release-lock/app`,
        imageDigest: image.outputs.digest,
        push: 'true',
        chartRepository: `${registry.host}/release-lock/charts`,
        lockFile,
      },
      variables,
    });
    assert.equal(chart.result, 'Succeeded', describeRun(chart));

    const stored = await fetchManifest(registry, 'release-lock/charts/sample-service', '1.4.0', null);
    assert.equal(chart.outputs.chartDigest, stored.digest, "the chart's digest is the registry's");
    const lock = readLock(lockFile);
    assert.deepEqual(
      lock.entries.map((e) => [e.kind, e.repository, e.digest]),
      [
        ['image', `${registry.host}/release-lock/app`, image.outputs.digest],
        ['chart', `oci://${registry.host}/release-lock/charts/sample-service`, stored.digest],
      ],
    );
    assert.deepEqual(
      { ...lock.entries[1], pushedAt: undefined },
      {
        kind: 'chart',
        repository: `oci://${registry.host}/release-lock/charts/sample-service`,
        name: 'sample-service',
        version: '1.4.0',
        tags: ['1.4.0'],
        digest: stored.digest,
        pinnedReference: chart.outputs.chartReference,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        images: [{ repository: `${registry.host}/release-lock/app`, digest: image.outputs.digest }],
        buildId: '4711',
        sourceVersion: 'c0ffee',
        pushedAt: undefined,
      },
    );
    assert.deepEqual(uploads(image), [['image-lock', lockFile]]);
    assert.deepEqual(uploads(chart), [['image-lock', lockFile]], 'the same artifact name: one lock file per job');

    const { title, markdown } = uploadedSummary(chart);
    assert.equal(title, 'Helm chart sample-service 1.4.0');
    for (const shown of ['| Chart | sample-service |', '`1.4.0`', `\`${stored.digest}\``, `\`${chart.outputs.chartReference}\``])
      assert.ok(markdown.includes(shown), `the summary shows ${shown}\n${markdown}`);
    assert.ok(markdown.includes(`image.digest=${image.outputs.digest}`), markdown);
    assert.ok(markdown.includes(`helm pull oci://${registry.host}/release-lock/charts/sample-service --version 1.4.0`), markdown);
  });

  it('reads a version 1 lock file and writes it back as version 2, the chart beside its images; the values name the image when imageRepository is empty', async function () {
    requireRegistry(this);
    const registry = await sharedRegistry('anonymous');
    const lockFile = path.join(folder, 'v1', 'image-lock.json');
    const imageDigest = `sha256:${'1'.repeat(64)}`;
    const v1Image = {
      repository: `${registry.host}/old/app`,
      tags: ['41'],
      digest: imageDigest,
      pinnedReference: `${registry.host}/old/app@${imageDigest}`,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      pushedAt: '2026-01-01T00:00:00.000Z',
    };
    fs.mkdirSync(path.dirname(lockFile));
    fs.writeFileSync(lockFile, JSON.stringify({ version: 1, images: [v1Image] }));
    const taskRun = await runTask(TASK, {
      inputs: {
        chartPath: SAMPLE,
        imageDigest: IMAGE_DIGEST,
        push: 'true',
        chartRepository: `${registry.host}/release-v1/charts`,
        lockFile,
        publishLockArtifact: 'false',
      },
    });
    assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
    const text = fs.readFileSync(lockFile, 'utf8');
    assert.equal(JSON.parse(text).version, 2);
    const lock = readLock(lockFile);
    assert.deepEqual(lock.entries[0], { kind: 'image', ...v1Image });
    assert.equal(lock.entries[1].kind, 'chart');
    assert.deepEqual(lock.entries[1].kind === 'chart' && lock.entries[1].images, [{ repository: 'sample-service', digest: IMAGE_DIGEST }]);
    assert.deepEqual(uploads(taskRun), [], 'publishLockArtifact false: written, not uploaded');
    assert.deepEqual(fs.readdirSync(path.dirname(lockFile)), ['image-lock.json'], 'no temporary file left');
  });

  it('without push: no lock file and no upload (an explicit lockFile is said to be unused); the summary names the package', async () => {
    const lockFile = path.join(folder, 'unused', 'image-lock.json');
    const taskRun = await runTask(TASK, { inputs: { chartPath: SAMPLE, lockFile } });
    assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
    assert.ok(!fs.existsSync(path.dirname(lockFile)), 'nothing written for the lock file');
    assert.deepEqual(uploads(taskRun), []);
    assert.ok(
      taskRun.lines.some((line) => line.includes(`push is false: nothing is recorded in lockFile '${lockFile}'`)),
      describeRun(taskRun),
    );
    const { markdown } = uploadedSummary(taskRun);
    assert.ok(markdown.includes(`\`${taskRun.outputs.chartPackage}\``), markdown);
    assert.match(markdown, /Not pushed \(push is false\)/);
  });

  it('a lock file that becomes unwritable after the check: the line says exactly what was pushed, and the package is removed', async function () {
    requireRegistry(this);
    const registry = await sharedRegistry('anonymous');
    const repo = 'release-record/sample-service';
    const sealed = path.join(folder, 'record-fails');
    fs.mkdirSync(sealed);
    // A gate in front of the registry seals the folder when the manifest is put: the check before the package passed,
    // the push happens, and the record is what fails.
    let sealedAt: string | undefined;
    const gate = await startFaultProxy({
      target: registry.url,
      onRequest: (method, url) => {
        if (method === 'PUT' && url === `/v2/${repo}/manifests/0.1.0` && !sealedAt) {
          sealedAt = url;
          makeImmutable(this, sealed);
        }
      },
    });
    const host = gate.host;
    try {
      const taskRun = await runTask(TASK, {
        inputs: {
          chartPath: SAMPLE,
          push: 'true',
          chartRepository: `${host}/release-record`,
          lockFile: path.join(sealed, 'image-lock.json'),
        },
      });
      assert.ok(sealedAt, 'the gate saw the manifest and sealed the folder');
      const at = escapeRegExp(host);
      assertFailedCleanly(
        taskRun,
        new RegExp(
          `^pushed oci://${at}/${repo}@sha256:[a-f0-9]{64} as oci://${at}/${repo}:0\\.1\\.0 but could not record it in lockFile '.*image-lock\\.json': EPERM.*; the package written to .* was removed$`,
        ),
      );
      assert.deepEqual(await listTags(registry, repo, null), ['0.1.0'], 'the push happened, as the line says');
      assert.deepEqual(fs.readdirSync(sealed), [], 'no lock file and no temporary file');
      assert.deepEqual(fs.readdirSync(path.join(taskRun.tempDirectory, 'a')), [], 'no package left');
      assert.deepEqual(uploads(taskRun), []);
      assert.equal(taskRun.commands.filter((c) => c.command === 'task.uploadsummary').length, 0, 'a failed run attaches no summary');
    } finally {
      undoReadOnly();
      await gate.stop();
    }
  });
});
