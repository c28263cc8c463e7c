import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as yaml from 'yaml';
import { readTarGz } from '../../shared/src/helm/archive';
import { ChartError } from '../../shared/src/helm/errors';
import { DEFAULT_SOURCE_DATE_EPOCH, packageChart, type PackageChartOptions } from '../../shared/src/helm/package';
import { memoryLog, silentLog } from '../../shared/src/log';
import { repoRoot } from '../support/env';
import { escapeRegExp } from '../support/harness';

const SAMPLE_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
const STOREFRONT_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'storefront');
const DIGEST = `sha256:${'c0'.repeat(32)}`;

let work: string;

function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(work, `${name}-`));
}

/** Writes `files` (path → text) under a new folder and returns it. */
function makeChart(files: Record<string, string>, name = 'chart'): string {
  const dir = tempDir(name);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

function copyChart(from: string): string {
  const dir = tempDir('copy');
  fs.cpSync(from, dir, { recursive: true });
  return dir;
}

function pack(chartPath: string, extra: Partial<PackageChartOptions> = {}, log = silentLog) {
  return packageChart({ chartPath, destination: tempDir('out'), ...extra }, log);
}

function entries(bytes: Uint8Array) {
  return readTarGz(bytes, 'test package');
}

function text(bytes: Uint8Array, name: string): string {
  const entry = entries(bytes).find((e) => e.name === name);
  assert.ok(entry, `${name} is in the package`);
  return entry.data.toString('utf8');
}

/** Every file under `dir` with its mode, mtime and content hash: proof that packaging left it alone. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else
        out.push(
          `${path.relative(dir, p)} ${st.mode} ${st.mtimeMs} ${st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') : ''}`,
        );
    }
  };
  walk(dir);
  return out;
}

const MINIMAL = {
  'Chart.yaml': 'apiVersion: v2\nname: mini\nversion: 1.0.0\nappVersion: "1.0"\n',
  'values.yaml': 'image:\n  repository: mini\n  tag: ""\n',
  'templates/cm.yaml': 'kind: ConfigMap\n',
};

/** A parent without values.yaml and a subchart in charts/ that no dependency declares (so it goes by its name). */
const WITH_SUBCHART = {
  'Chart.yaml': 'apiVersion: v2\nname: parent\nversion: 1.0.0\nappVersion: "9.9.9"\n',
  'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: "1.16.0"\n',
  'charts/web/values.yaml': 'image:\n  repository: nginx\n  tag: ""\n',
};

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: Error) => {
    assert.ok(e instanceof ChartError, `a ChartError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/, 'one line');
    return true;
  });
}

describe('helm: packageChart', function () {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-unit-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('layout', () => {
    it('lays the package out as helm does: <name>/Chart.yaml first, then values, schema, templates, other files', async () => {
      const result = await pack(SAMPLE_CHART);
      assert.equal(path.basename(result.packagePath), 'sample-service-0.1.0.tgz');
      assert.deepEqual(
        entries(result.bytes).map((e) => e.name),
        [
          'sample-service/Chart.yaml',
          'sample-service/values.yaml',
          'sample-service/values.schema.json',
          'sample-service/templates/NOTES.txt',
          'sample-service/templates/_helpers.tpl',
          'sample-service/templates/job.yaml',
          'sample-service/templates/serviceaccount.yaml',
          'sample-service/templates/tests/greet-test.yaml',
          'sample-service/.helmignore',
          'sample-service/README.md',
        ],
        'ci/ is left out by .helmignore',
      );
      assert.deepEqual(fs.readFileSync(result.packagePath), result.bytes);
      assert.equal(result.sha256, crypto.createHash('sha256').update(result.bytes).digest('hex'));
    });

    it("writes fixed tar headers (mode 0644, owner 0:0, no names, the epoch) and helm's gzip header", async () => {
      const result = await pack(SAMPLE_CHART, { sourceDateEpoch: 1700000000 });
      assert.deepEqual([...result.bytes.subarray(0, 10)], [0x1f, 0x8b, 8, 0x14, 0, 0, 0, 0, 0, 0xff]);
      assert.equal(result.bytes.subarray(12, 53).toString('ascii'), '+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=');
      assert.equal(result.bytes.subarray(53, 58).toString('latin1'), 'Helm\u0000');
      const tar = zlib.gunzipSync(result.bytes);
      const header = tar.subarray(0, 512);
      assert.equal(header.subarray(100, 108).toString('ascii'), '0000644\u0000');
      assert.equal(header.subarray(108, 124).toString('ascii'), '0000000\u00000000000\u0000');
      assert.equal(parseInt(header.subarray(136, 147).toString('ascii'), 8), 1700000000);
      assert.equal(header.subarray(257, 265).toString('latin1'), 'ustar\u000000');
      assert.equal(header.subarray(265, 329).toString('latin1'), '\u0000'.repeat(64));
      assert.equal(tar.length % 512, 0);
      assert.deepEqual(tar.subarray(tar.length - 1024), Buffer.alloc(1024));
    });

    it('rewrites Chart.yaml with the chosen version and appVersion, as helm does (known fields, keys sorted)', async () => {
      const log = memoryLog();
      const result = await pack(SAMPLE_CHART, { branch: 'refs/heads/release/sample-service/2.3.4-rc.1+b.9', appVersion: '2.3.4' }, log);
      assert.equal(result.version, '2.3.4-rc.1+b.9');
      assert.equal(result.tag, '2.3.4-rc.1_b.9');
      assert.equal(path.basename(result.packagePath), 'sample-service-2.3.4-rc.1+b.9.tgz');
      const chartYaml = text(result.bytes, 'sample-service/Chart.yaml');
      const md = yaml.parse(chartYaml) as Record<string, unknown>;
      assert.equal(md.version, '2.3.4-rc.1+b.9');
      assert.equal(md.appVersion, '2.3.4');
      assert.deepEqual(Object.keys(md), [...Object.keys(md)].sort());
      assert.equal(md.apiVersion, 'v2');
      assert.deepEqual(md.maintainers, [{ email: 'outer-loop@example.com', name: 'Outer Loop' }]);
      assert.match(log.lines.join('\n'), /packaged sample-service 2\.3\.4-rc\.1\+b\.9 \(version from branch\)/);
    });

    it('packs subcharts from charts/ (folders and .tgz) unpacked under charts/<name>/, and keeps crds/', async () => {
      const lib = makeChart(
        { 'Chart.yaml': 'apiVersion: v2\nname: lib\nversion: 0.2.0\ntype: library\n', 'templates/_l.tpl': '{{- define "l" }}x{{ end }}\n' },
        'lib',
      );
      const libPackage = await pack(lib);
      const parent = makeChart(
        {
          'Chart.yaml':
            'apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n  - name: lib\n    version: ^0.2.0\n    repository: file://../lib\n  - name: child\n    version: "*"\n    repository: ""\n',
          'crds/crd.yaml': 'kind: CustomResourceDefinition\n',
          'charts/child/Chart.yaml': 'apiVersion: v2\nname: child\nversion: 0.0.1\n',
          'charts/child/templates/c.yaml': 'kind: Secret\n',
          'charts/child/.hidden/x': 'not ignored: the parent .helmignore rules apply to subchart folders\n',
          'charts/.cache/junk': 'charts/ entries starting with . are skipped',
        },
        'parent',
      );
      fs.copyFileSync(libPackage.packagePath, path.join(parent, 'charts', 'lib-0.2.0.tgz'));
      const result = await pack(parent);
      assert.deepEqual(
        entries(result.bytes).map((e) => e.name),
        [
          'parent/Chart.yaml',
          'parent/crds/crd.yaml',
          'parent/charts/child/Chart.yaml',
          'parent/charts/child/templates/c.yaml',
          'parent/charts/child/.hidden/x',
          'parent/charts/lib/Chart.yaml',
          'parent/charts/lib/templates/_l.tpl',
        ],
      );
    });

    it('follows a symbolic link inside the chart, strips a UTF-8 BOM and drops dot files in templates/', async () => {
      const dir = makeChart({ ...MINIMAL, 'files/real.txt': 'real\n', 'templates/.editorconfig': 'x', 'templates/sub/.kept': 'kept' });
      fs.writeFileSync(path.join(dir, 'files', 'bom.txt'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('bom\n')]));
      fs.symlinkSync('real.txt', path.join(dir, 'files', 'link.txt'));
      fs.symlinkSync('files', path.join(dir, 'linked-dir'));
      const result = await pack(dir);
      const names = entries(result.bytes).map((e) => e.name);
      assert.ok(!names.includes('mini/templates/.editorconfig'));
      assert.ok(names.includes('mini/templates/sub/.kept'));
      assert.equal(text(result.bytes, 'mini/files/link.txt'), 'real\n');
      assert.equal(text(result.bytes, 'mini/linked-dir/real.txt'), 'real\n');
      assert.equal(text(result.bytes, 'mini/files/bom.txt'), 'bom\n');
    });

    it('packages a helm 2 chart (no apiVersion) as v1 with its requirements.yaml, and says so', async () => {
      const dir = makeChart({
        'Chart.yaml': 'name: old\nversion: v0.1.0\n',
        'requirements.yaml': 'dependencies:\n  - name: sub\n    version: ">= 0.0.1"\n    repository: "file://charts/sub"\n',
        'Chart.lock': 'dependencies: []\ndigest: sha256:x\ngenerated: "2019-10-22T07:45:01Z"\n',
        'charts/sub/Chart.yaml': 'name: sub\nversion: v0.1.0\n',
      });
      const log = memoryLog();
      const result = await pack(dir, {}, log);
      assert.deepEqual(
        entries(result.bytes).map((e) => e.name),
        ['old/Chart.yaml', 'old/requirements.yaml', 'old/charts/sub/Chart.yaml'],
      );
      assert.deepEqual(yaml.parse(text(result.bytes, 'old/Chart.yaml')), { apiVersion: 'v1', name: 'old', version: 'v0.1.0' });
      assert.deepEqual(yaml.parse(text(result.bytes, 'old/charts/sub/Chart.yaml')), { apiVersion: 'v1', name: 'sub', version: 'v0.1.0' });
      assert.match(log.lines.join('\n'), /warning: .*Chart.yaml has no apiVersion \(a helm 2 chart\); it is packaged as apiVersion v1/);
    });
  });

  describe('reproducibility', () => {
    it('gives the same sha256 a second later and from a fresh copy with new file times and modes', async () => {
      const first = await pack(SAMPLE_CHART);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const copy = copyChart(SAMPLE_CHART);
      const later = new Date(Date.now() + 86_400_000);
      const touch = (d: string) => {
        for (const name of fs.readdirSync(d)) {
          const p = path.join(d, name);
          if (fs.statSync(p).isDirectory()) touch(p);
          else fs.chmodSync(p, 0o755);
          fs.utimesSync(p, later, later);
        }
      };
      touch(copy);
      const second = await pack(copy);
      assert.equal(second.sha256, first.sha256);
      assert.deepEqual(second.bytes, first.bytes);
    });

    it('takes file times from sourceDateEpoch, else SOURCE_DATE_EPOCH, else the fixed epoch', async () => {
      const saved = process.env.SOURCE_DATE_EPOCH;
      try {
        delete process.env.SOURCE_DATE_EPOCH;
        const fixed = await pack(SAMPLE_CHART);
        assert.equal(fixed.sourceDateEpoch, DEFAULT_SOURCE_DATE_EPOCH);
        process.env.SOURCE_DATE_EPOCH = '1700000000';
        const fromEnv = await pack(SAMPLE_CHART);
        assert.equal(fromEnv.sourceDateEpoch, 1700000000);
        assert.notEqual(fromEnv.sha256, fixed.sha256);
        const fromOption = await pack(SAMPLE_CHART, { sourceDateEpoch: 1700000000 });
        assert.equal(fromOption.sha256, fromEnv.sha256);
        process.env.SOURCE_DATE_EPOCH = 'yesterday';
        await rejects(pack(SAMPLE_CHART), /SOURCE_DATE_EPOCH must be whole seconds since 1970, got 'yesterday'/);
      } finally {
        if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
        else process.env.SOURCE_DATE_EPOCH = saved;
      }
    });

    it('gives the sha256 recorded for the sample chart, on any machine and Node version', async () => {
      // Recorded once from this packager; it changes only when the fixture chart or the packaging changes on purpose.
      const result = await pack(SAMPLE_CHART, { sourceDateEpoch: DEFAULT_SOURCE_DATE_EPOCH, chartVersion: '0.1.0' });
      assert.equal(result.sha256, SAMPLE_CHART_SHA256);
    });

    it('never writes into the chart folder, even when packing dependencies', async () => {
      const dep = makeChart({ 'Chart.yaml': 'apiVersion: v2\nname: dep\nversion: 0.1.0\n' }, 'dep');
      const dir = makeChart({
        ...MINIMAL,
        'Chart.yaml': `apiVersion: v2\nname: mini\nversion: 1.0.0\ndependencies:\n  - name: dep\n    version: 0.1.0\n    repository: file://${dep}\n`,
      });
      const before = snapshot(dir);
      const beforeDep = snapshot(dep);
      await pack(dir, { updateDependencies: true, imageDigest: DIGEST, appVersion: '1.0' });
      assert.deepEqual(snapshot(dir), before);
      assert.deepEqual(snapshot(dep), beforeDep);
    });
  });

  describe('dependencies', () => {
    it('packs file:// dependencies as helm dependency update does, with their own .helmignore and a fresh Chart.lock', async () => {
      const dir = makeChart({
        'Chart.yaml':
          'apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: env\n    version: ">= 0.1.0"\n    repository: file://envs/env\n    tags: [dev]\n',
        'Chart.lock':
          'dependencies:\n- name: gone\n  repository: file://envs/gone\n  version: 0.0.1\ndigest: sha256:stale\ngenerated: "2019-10-22T07:45:01.368035081-06:00"\n',
        'envs/env/Chart.yaml': 'name: env\nversion: v0.1.0\n',
        'envs/env/values.yaml': 'a: 1\n',
        'envs/env/.helmignore': 'secret.txt\n',
        'envs/env/secret.txt': 'left out',
      });
      const log = memoryLog();
      const result = await pack(dir, { updateDependencies: true }, log);
      const names = entries(result.bytes).map((e) => e.name);
      assert.deepEqual(
        names.filter((n) => n.startsWith('app/charts/')),
        ['app/charts/env/Chart.yaml', 'app/charts/env/values.yaml', 'app/charts/env/.helmignore'],
      );
      const lock = yaml.parse(text(result.bytes, 'app/Chart.lock')) as Record<string, unknown>;
      assert.deepEqual(lock.dependencies, [{ name: 'env', repository: 'file://envs/env', version: 'v0.1.0' }]);
      assert.equal(lock.generated, '1980-01-01T00:00:00Z');
      assert.match(String(lock.digest), /^sha256:[a-f0-9]{64}$/);
      assert.match(log.lines.join('\n'), /packed dependency env v0\.1\.0 from file:\/\/envs\/env/);
    });

    it('names a dependency missing from charts/ and says how to fix it', async () => {
      const dir = makeChart({
        ...MINIMAL,
        'Chart.yaml':
          'apiVersion: v2\nname: mini\nversion: 1.0.0\ndependencies:\n  - name: env\n    version: 0.1.0\n    repository: file://envs/env\n',
      });
      await rejects(
        pack(dir),
        /Chart\.yaml declares dependency 'env' \(file:\/\/envs\/env\) but charts\/ does not hold it; set updateDependencies/,
      );
    });

    it('refuses to update a dependency from a chart repository or registry, naming it', async () => {
      const dir = makeChart({
        ...MINIMAL,
        'Chart.yaml':
          'apiVersion: v2\nname: mini\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 17.x\n    repository: https://charts.bitnami.com/bitnami\n',
      });
      await rejects(
        pack(dir, { updateDependencies: true }),
        /cannot update 'redis' from https:\/\/charts\.bitnami\.com\/bitnami: only file:\/\/ dependencies can be packed/,
      );
    });

    it('checks a packed dependency against its version constraint', async () => {
      const dir = makeChart({
        'Chart.yaml':
          'apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n  - name: env\n    version: ~2.0.0\n    repository: file://env\n',
        'env/Chart.yaml': 'apiVersion: v2\nname: env\nversion: 1.0.0\n',
      });
      await rejects(
        pack(dir, { updateDependencies: true }),
        /dependency 'env' \(file:\/\/env\) is version 1\.0\.0, which does not satisfy '~2\.0\.0'/,
      );
    });
  });

  describe('bad inputs: one clear line each, nothing written', () => {
    it('a folder without Chart.yaml', async () => {
      const dir = makeChart({ 'values.yaml': 'a: 1\n' });
      const destination = tempDir('out');
      await rejects(
        packageChart({ chartPath: dir, destination }, silentLog),
        /^chartPath is '.*', which holds no Chart\.yaml: name the folder that holds Chart\.yaml$/,
      );
      assert.deepEqual(fs.readdirSync(destination), []);
      await rejects(pack(path.join(dir, 'missing')), /^chartPath is '.*missing', which does not exist$/);
      await rejects(pack(path.join(dir, 'values.yaml')), /is a file, not a folder/);
    });

    it('an invalid chart name', async () => {
      await rejects(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: My_Service\nversion: 1.0.0\n' })),
        /name 'My_Service' is not a valid chart name/,
      );
      await rejects(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: ../evil\nversion: 1.0.0\n' })),
        /name '\.\.\/evil' is invalid/,
      );
      await rejects(pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nversion: 1.0.0\n' })), /Chart\.yaml: name is required/);
    });

    it('an invalid version', async () => {
      await rejects(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: mini\nversion: latest\n' })),
        /version 'latest' is not a SemVer version/,
      );
      await rejects(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: mini\nversion: 1.2\n' })),
        /Chart\.yaml version '1\.2' is not a SemVer 2 version/,
      );
      await rejects(pack(makeChart(MINIMAL), { chartVersion: '1.0' }), /^chartVersion is not a SemVer 2 version: '1\.0'/);
      await rejects(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v3\nname: mini\nversion: 1.0.0\n' })),
        /apiVersion 'v3' is not v1 or v2/,
      );
    });

    it('a release branch without a SemVer last segment', async () => {
      await rejects(
        pack(makeChart(MINIMAL), { branch: 'refs/heads/release/delivery/latest' }),
        /^branch is 'refs\/heads\/release\/delivery\/latest', a release branch whose last segment 'latest' is not a SemVer version/,
      );
    });

    it('a symbolic link out of the chart, a broken link and a named pipe', async () => {
      const outside = makeChart({ 'secret.txt': 'do not pack' }, 'outside');
      const dir = makeChart(MINIMAL);
      fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'templates', 'secret.txt'));
      await rejects(pack(dir), /templates\/secret\.txt is a symbolic link to .*outside-.*secret\.txt, outside the chart/);
      const dirLink = makeChart(MINIMAL);
      fs.symlinkSync(outside, path.join(dirLink, 'files'));
      await rejects(pack(dirLink), /files is a symbolic link to .*, outside the chart/);
      const broken = makeChart(MINIMAL);
      fs.symlinkSync('nowhere', path.join(broken, 'dangling'));
      await rejects(pack(broken), /dangling is a broken symbolic link/);
      const fifo = makeChart(MINIMAL);
      execFileSync('mkfifo', [path.join(fifo, 'pipe')]);
      await rejects(pack(fifo), /pipe is not a regular file \(a named pipe\)/);
      const ignored = makeChart({ ...MINIMAL, '.helmignore': 'pipe\n' });
      execFileSync('mkfifo', [path.join(ignored, 'pipe')]);
      await pack(ignored);
    });

    it('a values key path that is not a map, and malformed pinning inputs', async () => {
      const dir = makeChart({ ...MINIMAL, 'values.yaml': 'image: mini:1.0\n' });
      const destination = tempDir('out');
      await rejects(
        packageChart({ chartPath: dir, destination, imageDigest: DIGEST }, silentLog),
        /^imageValuesKey is 'image', but 'image' in .*values\.yaml holds the string 'mini:1\.0', not a map/,
      );
      assert.deepEqual(fs.readdirSync(destination), []);
      await rejects(pack(makeChart(MINIMAL), { imageRepository: 'registry.local/mini' }), /^imageRepository is set but imageDigest is not/);
      await rejects(pack(makeChart(MINIMAL), { imageDigest: 'sha256:1234' }), /^imageDigest is not a digest: 'sha256:1234'/);
      await rejects(
        pack(makeChart(MINIMAL), { imageDigest: DIGEST, imageValuesKey: 'app..image' }),
        /^imageValuesKey is 'app\.\.image', which is not a dotted key path/,
      );
    });

    it("imageValuesKey through JavaScript's own keys (__proto__, constructor, prototype), before the chart is read", async () => {
      const keys = ['__proto__', 'app.constructor', 'prototype.image'];
      assert.equal(keys.length, 3);
      for (const imageValuesKey of keys) {
        const destination = tempDir('out');
        await rejects(
          packageChart({ chartPath: path.join(work, 'no-such-chart'), destination, imageDigest: DIGEST, imageValuesKey }, silentLog),
          new RegExp(`^imageValuesKey is '${escapeRegExp(imageValuesKey)}', which uses the reserved key`),
        );
        assert.deepEqual(fs.readdirSync(destination), []);
      }
    });

    it('a YAML alias bomb in any chart file, quickly and naming the file', async () => {
      let bomb = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
      for (let i = 1; i < 10; i++)
        bomb += `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(', ')}]\n`;
      const files: Record<string, string> = {
        'Chart.yaml': `${MINIMAL['Chart.yaml']}${bomb}`,
        'Chart.lock': `generated: "2024-01-01T00:00:00Z"\ndigest: x\ndependencies: []\n${bomb}`,
        'values.yaml': `${MINIMAL['values.yaml']}${bomb}`,
        'requirements.yaml': `dependencies: []\n${bomb}`,
      };
      assert.equal(Object.keys(files).length, 4);
      for (const [file, text] of Object.entries(files)) {
        await rejects(
          pack(makeChart({ ...MINIMAL, [file]: text })),
          new RegExp(`/${file.replace('.', '\\.')} expands YAML aliases more than \\d+ times`),
        );
      }
    });

    it('a destination inside the chart folder', async () => {
      const dir = makeChart(MINIMAL);
      await rejects(
        packageChart({ chartPath: dir, destination: path.join(dir, 'dist') }, silentLog),
        /^destination is '.*dist', inside the chart folder/,
      );
      assert.ok(!fs.existsSync(path.join(dir, 'dist')));
    });

    it("blames each problem on the option at fault, and the chart's own files on chartPath", async () => {
      const blames = async (promise: Promise<unknown>, option: string, pattern: RegExp) =>
        assert.rejects(promise, (e: Error) => {
          assert.ok(e instanceof ChartError, `a ChartError, got ${e.name}: ${e.message}`);
          assert.equal(e.blame?.option, option, e.message);
          assert.match(e.message, pattern);
          assert.equal(e.message, `${option} ${e.blame?.problem}`);
          return true;
        });
      const folderChart = makeChart({ 'values.yaml': 'a: 1\n' });
      fs.mkdirSync(path.join(folderChart, 'Chart.yaml'));
      const loop = path.join(tempDir('loop'), 'self');
      fs.symlinkSync(loop, loop);
      const file = path.join(tempDir('file'), 'a-file');
      fs.writeFileSync(file, 'x');
      await blames(pack(folderChart), 'chartPath', /holds a Chart\.yaml that is a folder, not a file$/);
      await blames(pack(loop), 'chartPath', /runs through a loop of symbolic links \(ELOOP\)$/);
      await blames(
        pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: Mini\nversion: 1.0.0\n' })),
        'chartPath',
        /holds a chart that cannot be packaged: .*name 'Mini' is not a valid chart name/,
      );
      await blames(pack(makeChart(MINIMAL), { destination: file }), 'destination', /a-file' is a file, not a folder$/);
      await blames(
        pack(makeChart(MINIMAL), { destination: path.join(file, 'out') }),
        'destination',
        /a-file' is a file, so the folder .* cannot be made$/,
      );
      await blames(
        pack(makeChart(MINIMAL), { imageDigest: DIGEST, imageValuesKey: 'app.image' }),
        'imageValuesKey',
        /has no 'app' \(at the top, its keys: image\)/,
      );
      await blames(
        pack(makeChart({ 'Chart.yaml': MINIMAL['Chart.yaml'] }), { imageDigest: DIGEST }),
        'imageDigest',
        /has no values\.yaml to pin the image in$/,
      );
      await blames(
        pack(STOREFRONT_CHART, { imageDigest: DIGEST, imageValuesKey: 'sessions.imgae' }),
        'imageValuesKey',
        /^imageValuesKey is 'sessions\.imgae', but the merged values of subchart 'sessions' \(.*storefront\/values\.yaml over .*storefront\/charts\/redis\/values\.yaml\) have no 'sessions\.imgae' \(under 'sessions', its keys: architecture, image, global, auth\)/,
      );
      await blames(
        pack(makeChart({ ...MINIMAL, 'values.yaml': 'image:\n  pullPolicy: Always\n' }), { imageDigest: DIGEST }),
        'imageValuesKey',
        /'image' in .*values\.yaml is not an image layout pinning can fill \(its keys: pullPolicy\)/,
      );
      await blames(
        pack(STOREFRONT_CHART, { imageDigest: DIGEST, imageValuesKey: 'redis.image', imageRepository: 'team/redis' }),
        'imageRepository',
        /^imageRepository is 'team\/redis', without a registry host, but 'redis\.image' in the merged values of subchart 'redis'/,
      );
      await blames(
        pack(makeChart({ ...WITH_SUBCHART, 'values.yaml': 'web: enabled\n' }), { imageDigest: DIGEST, imageValuesKey: 'web.image' }),
        'chartPath',
        /holds a chart that cannot be packaged: 'web' in .*values\.yaml holds the string 'enabled', but helm merges the values of subchart .* there/,
      );
    });

    it("a destination under /proc fails at once (Node's recursive mkdir never returns there)", async () => {
      await rejects(
        pack(makeChart(MINIMAL), { destination: '/proc/outerloop-unit/charts' }),
        /^destination is '\/proc\/outerloop-unit\/charts', where the package cannot be written: cannot make the folder '\/proc\/outerloop-unit'/,
      );
    });

    it('malformed chart files', async () => {
      await rejects(pack(makeChart({ ...MINIMAL, 'Chart.yaml': 'apiVersion: v2\nname: [mini\n' })), /Chart\.yaml is not valid YAML/);
      await rejects(pack(makeChart({ ...MINIMAL, 'values.yaml': 'a: [1\n' })), /values\.yaml is not valid YAML/);
      await rejects(pack(makeChart({ ...MINIMAL, 'values.schema.json': '{' })), /values\.schema\.json is not valid JSON/);
      await rejects(pack(makeChart({ ...MINIMAL, '.helmignore': 'docs/**\n' })), /\.helmignore: pattern 'docs\/\*\*': double-star/);
      await rejects(pack(makeChart({ ...MINIMAL, '.helmignore': '!*.txt\n' })), /\.helmignore leaves out Chart\.yaml/);
      await rejects(pack(makeChart({ ...MINIMAL, 'charts/README.md': 'not a chart' })), /charts\/README\.md is not a chart/);
    });
  });

  describe('pinning', () => {
    it("pins a subchart's image through its alias in the parent's values.yaml, its registry overridden, and says so", async () => {
      const log = memoryLog();
      const result = await pack(
        STOREFRONT_CHART,
        { imageRepository: 'registry.local:5000/team/sessions', imageDigest: DIGEST, imageValuesKey: 'sessions.image' },
        log,
      );
      const original = fs.readFileSync(path.join(STOREFRONT_CHART, 'values.yaml'), 'utf8');
      assert.equal(
        text(result.bytes, 'storefront/values.yaml'),
        original.replace(
          '    tag: 7.4.1-debian-12-r3\n',
          `    tag: 7.4.1-debian-12-r3\n    registry: "registry.local:5000"\n    repository: "team/sessions"\n    digest: "${DIGEST}"\n`,
        ),
      );
      const redisValues = fs.readFileSync(path.join(STOREFRONT_CHART, 'charts', 'redis', 'values.yaml'), 'utf8');
      assert.equal(text(result.bytes, 'storefront/charts/redis/values.yaml'), redisValues, "the subchart's own values stay as written");
      assert.ok(
        log.lines.some(
          (l) =>
            l.includes(
              `pinned the image by digest in values.yaml for the image of subchart 'sessions' (redis, ${STOREFRONT_CHART}/charts/redis): `,
            ) && l.includes('sessions.image.registry=registry.local:5000, sessions.image.repository=team/sessions'),
        ),
        log.lines.join('\n'),
      );
    });

    it("makes the parent's values.yaml for a subchart's pin when it has none, in helm's place in the archive", async () => {
      const log = memoryLog();
      const result = await pack(makeChart(WITH_SUBCHART), { imageDigest: DIGEST, imageValuesKey: 'web.image' }, log);
      assert.deepEqual(
        entries(result.bytes).map((e) => e.name),
        ['parent/Chart.yaml', 'parent/values.yaml', 'parent/charts/web/Chart.yaml', 'parent/charts/web/values.yaml'],
      );
      assert.equal(text(result.bytes, 'parent/values.yaml'), `web:\n  image:\n    tag: "1.16.0@${DIGEST}"\n`);
      assert.ok(log.lines.some((l) => l.includes('pinned the image by digest in values.yaml (made for it) for the image of subchart')));
    });

    it('pins the image in the packaged values.yaml and leaves the rest of the file as written', async () => {
      const result = await pack(SAMPLE_CHART, { imageRepository: 'registry.local:5000/team/sample-service', imageDigest: DIGEST });
      const values = text(result.bytes, 'sample-service/values.yaml');
      const original = fs.readFileSync(path.join(SAMPLE_CHART, 'values.yaml'), 'utf8');
      assert.equal(
        values,
        original
          .replace('  repository: sample-service', '  repository: "registry.local:5000/team/sample-service"')
          .replace('  digest: ""', `  digest: "${DIGEST}"`),
      );
    });
  });
});

const SAMPLE_CHART_SHA256 = '7ecf0a33c410ba2778361de6fea5f8faa9971b5117d70aa3a56b11a5d968543f';
