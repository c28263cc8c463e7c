import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { packageChart, type ChartPackage } from '../../shared/src/helm/package';
import {
  buildChartArtifact,
  HELM_CHART_LAYER_MEDIA_TYPE,
  HELM_CONFIG_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  pushChart,
  type ChartPushTarget,
} from '../../shared/src/helm/push';
import { pushChartToRegistry, registryChartTarget, resolveChartRepository } from '../../shared/src/helm/registry-target';
import { memoryLog, silentLog } from '../../shared/src/log';
import { readLockFile } from '../../shared/src/release';
import { RegistryClient } from '../../shared/src/registry/transport';
import { repoRoot } from '../support/env';
import { HELM_VERSION, requireHelm, runHelm } from '../support/helm';
import { sha256Digest } from '../support/images';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';

const SAMPLE_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');

/** The product's push target (shared/src/helm/registry-target.ts over the registry layer), recording its calls. */
function productTarget(registry: TestRegistry): ChartPushTarget & { calls: string[] } {
  const target = registryChartTarget(new RegistryClient({ registry: registry.host }));
  const calls: string[] = [];
  return {
    calls,
    pushBlob(repository, bytes, mediaType) {
      calls.push(`blob ${repository} ${mediaType}`);
      return target.pushBlob(repository, bytes, mediaType);
    },
    putManifest(repository, tag, bytes, mediaType) {
      calls.push(`manifest ${repository}:${tag} ${mediaType}`);
      return target.putManifest(repository, tag, bytes, mediaType);
    },
  };
}

describe(`helm: pushChart to a real registry (needs docker-registry), read back by real helm ${HELM_VERSION}`, function () {
  let registry: TestRegistry;
  let work: string;
  let pkg: ChartPackage;

  before(async function () {
    requireHelm(this);
    requireRegistry(this);
    registry = await sharedRegistry('anonymous');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-push-'));
    pkg = await packageChart(
      { chartPath: SAMPLE_CHART, destination: path.join(work, 'out'), branch: 'refs/heads/release/sample-service/1.2.3+build.4' },
      silentLog,
    );
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("pushes config, layer and manifest with helm's media types and annotations, tagged with the version", async () => {
    const target = productTarget(registry);
    const log = memoryLog();
    const result = await pushChart(target, pkg, { chartRepository: `oci://${registry.host}/charts/` }, log);
    assert.equal(result.tag, '1.2.3_build.4');
    assert.equal(result.repository, 'charts/sample-service');
    assert.equal(result.chartReference, `oci://${registry.host}/charts/sample-service@${result.chartDigest}`);
    assert.deepEqual(target.calls, [
      `blob charts/sample-service ${HELM_CONFIG_MEDIA_TYPE}`,
      `blob charts/sample-service ${HELM_CHART_LAYER_MEDIA_TYPE}`,
      `manifest charts/sample-service:1.2.3_build.4 ${OCI_MANIFEST_MEDIA_TYPE}`,
    ]);
    const res = await fetch(`${registry.url}/v2/charts/sample-service/manifests/1.2.3_build.4`, {
      headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), result.chartDigest);
    const manifest = JSON.parse(await res.text());
    assert.equal(manifest.config.mediaType, HELM_CONFIG_MEDIA_TYPE);
    assert.deepEqual(manifest.layers, [{ mediaType: HELM_CHART_LAYER_MEDIA_TYPE, digest: `sha256:${pkg.sha256}`, size: pkg.bytes.length }]);
    assert.deepEqual(manifest.annotations, {
      'example.com/owner': 'outer-loop',
      'org.opencontainers.image.authors': 'Outer Loop (outer-loop@example.com)',
      'org.opencontainers.image.created': '1980-01-01T00:00:00Z',
      'org.opencontainers.image.description': 'Greets whoever it is asked to, once, as a Kubernetes Job.',
      'org.opencontainers.image.source': 'https://example.com/outer-loop/sample-service.git',
      'org.opencontainers.image.title': 'sample-service',
      'org.opencontainers.image.url': 'https://example.com/outer-loop/sample-service',
      'org.opencontainers.image.version': '1.2.3+build.4',
    });
    const config = JSON.parse(
      Buffer.from(await (await fetch(`${registry.url}/v2/charts/sample-service/blobs/${manifest.config.digest}`)).arrayBuffer()).toString(),
    );
    assert.equal(config.name, 'sample-service');
    assert.equal(config.version, '1.2.3+build.4');
    assert.match(log.lines.join('\n'), /pushed oci:\/\/127\.0\.0\.1:\d+\/charts\/sample-service@sha256:[a-f0-9]{64}/);
  });

  it('helm pull returns our exact bytes, and helm show chart shows our version (by tag and by digest)', async () => {
    const result = await pushChart(productTarget(registry), pkg, { chartRepository: `${registry.host}/charts` }, silentLog);
    const pulled = path.join(work, 'pulled');
    fs.mkdirSync(pulled, { recursive: true });
    const pull = await runHelm([
      'pull',
      `oci://${registry.host}/charts/sample-service`,
      '--version',
      '1.2.3+build.4',
      '--plain-http',
      '--destination',
      pulled,
    ]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout + pull.stderr, new RegExp(`Digest: ${result.chartDigest}`));
    const file = path.join(pulled, 'sample-service-1.2.3+build.4.tgz');
    assert.ok(fs.readFileSync(file).equals(pkg.bytes), 'helm pull returns the bytes we packaged');
    for (const ref of [['--version', '1.2.3+build.4'], []]) {
      const at = ref.length > 0 ? `oci://${registry.host}/charts/sample-service` : result.chartReference;
      const show = await runHelm(['show', 'chart', at, ...ref, '--plain-http']);
      assert.equal(show.code, 0, show.stderr);
      const chart = yaml.parse(show.stdout) as Record<string, string>;
      assert.equal(chart.version, '1.2.3+build.4');
      assert.equal(chart.name, 'sample-service');
    }
  });

  it('pushing twice, and pushing a fresh package of the same chart, gives the same digest', async () => {
    const first = await pushChart(productTarget(registry), pkg, { chartRepository: `${registry.host}/twice` }, silentLog);
    const second = await pushChart(productTarget(registry), pkg, { chartRepository: `${registry.host}/twice` }, silentLog);
    const copy = path.join(work, 'copy');
    fs.cpSync(SAMPLE_CHART, copy, { recursive: true });
    const repackaged = await packageChart(
      { chartPath: copy, destination: path.join(work, 'again'), chartVersion: '1.2.3+build.4' },
      silentLog,
    );
    const third = await pushChart(productTarget(registry), repackaged, { chartRepository: `${registry.host}/twice` }, silentLog);
    assert.equal(second.chartDigest, first.chartDigest);
    assert.equal(third.chartDigest, first.chartDigest);
  });

  it('builds the manifest helm push builds for the same package (same digest)', async () => {
    // helm push takes "created" from the package file's mtime, formatted in the local time zone; give it ours, in UTC.
    const file = path.join(work, 'for-helm', path.basename(pkg.packagePath));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, pkg.bytes);
    fs.utimesSync(file, pkg.sourceDateEpoch, pkg.sourceDateEpoch);
    const push = await runHelm(['push', file, `oci://${registry.host}/by-helm`, '--plain-http'], { env: { TZ: 'UTC' } });
    assert.equal(push.code, 0, push.stderr);
    const helmDigest = /Digest: (sha256:[a-f0-9]{64})/.exec(push.stdout + push.stderr)?.[1];
    const artifact = buildChartArtifact(pkg);
    assert.equal(helmDigest, artifact.manifestDigest, push.stdout + push.stderr);
    assert.equal(sha256Digest(artifact.manifest), artifact.manifestDigest);
  });

  it('refuses a chartRepository that is not host/path', async () => {
    await assert.rejects(
      pushChart(productTarget(registry), pkg, { chartRepository: registry.host }, silentLog),
      /chartRepository '127\.0\.0\.1:\d+' must be host\/path/,
    );
  });
});

describe('helm: pushChartToRegistry records the pushed chart in the lock file (needs docker-registry)', function () {
  let registry: TestRegistry;
  let work: string;

  before(async function () {
    requireRegistry(this);
    registry = await sharedRegistry('anonymous');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-record-'));
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it("records kind chart: oci:// repository, version, OCI tag, the registry's digest and the image it pins; a re-push merges", async () => {
    const imageDigest = `sha256:${'5'.repeat(64)}`;
    const pkg = await packageChart(
      {
        chartPath: SAMPLE_CHART,
        destination: path.join(work, 'out'),
        chartVersion: '2.0.0+build.3',
        imageRepository: `${registry.host}/team/sample-service`,
        imageDigest,
      },
      silentLog,
    );
    const lockFile = path.join(work, 'locks', 'image-lock.json');
    const options = { chartRepository: `${registry.host}/recorded`, lockFile, record: { buildId: '7', sourceVersion: 'abc' } };
    const log = memoryLog();
    const pushed = await pushChartToRegistry(pkg, options, log);
    await pushChartToRegistry(pkg, options, silentLog);
    const res = await fetch(`${registry.url}/v2/recorded/sample-service/manifests/2.0.0_build.3`, {
      method: 'HEAD',
      headers: { accept: OCI_MANIFEST_MEDIA_TYPE },
    });
    assert.equal(res.headers.get('docker-content-digest'), pushed.chartDigest);
    const lock = readLockFile(lockFile);
    assert.equal(lock.entries.length, 1, 'the same chart pushed twice is one entry');
    assert.deepEqual(
      { ...lock.entries[0], pushedAt: undefined },
      {
        kind: 'chart',
        repository: `oci://${registry.host}/recorded/sample-service`,
        name: 'sample-service',
        version: '2.0.0+build.3',
        tags: ['2.0.0_build.3'],
        digest: pushed.chartDigest,
        pinnedReference: `oci://${registry.host}/recorded/sample-service@${pushed.chartDigest}`,
        mediaType: OCI_MANIFEST_MEDIA_TYPE,
        images: [{ repository: `${registry.host}/team/sample-service`, digest: imageDigest }],
        buildId: '7',
        sourceVersion: 'abc',
        pushedAt: undefined,
      },
    );
    assert.ok(
      log.lines.some((line) => line === `Recorded ${pushed.chartReference} in ${lockFile}`),
      log.lines.join('\n'),
    );
  });
});

describe('helm: resolveChartRepository (the chartRepository input; pure)', () => {
  it('keeps host/path, drops oci:// and a trailing /, and takes the host from the connection when the text names none', () => {
    assert.equal(resolveChartRepository('oci://myacr.azurecr.io/helm/'), 'myacr.azurecr.io/helm');
    assert.equal(resolveChartRepository('localhost:5000/charts'), 'localhost:5000/charts');
    assert.equal(resolveChartRepository('team/charts', 'myacr.azurecr.io'), 'myacr.azurecr.io/team/charts');
    assert.equal(resolveChartRepository('other.example.com/charts', 'myacr.azurecr.io'), 'other.example.com/charts');
  });

  it('refuses what cannot be pushed to, naming chartRepository', () => {
    assert.throws(() => resolveChartRepository('  '), /chartRepository is required/);
    assert.throws(() => resolveChartRepository('charts'), /chartRepository is 'charts', which names no registry host: write host\/path/);
    assert.throws(() => resolveChartRepository('myacr.azurecr.io'), /chartRepository is 'myacr\.azurecr\.io', which is not host\/path/);
    assert.throws(
      () => resolveChartRepository('myacr.azurecr.io/Team'),
      /chartRepository is 'myacr\.azurecr\.io\/Team', which is not a registry repository \(repository names are lower case\)/,
    );
    assert.throws(
      () => resolveChartRepository('myacr.azurecr.io/helm:1.0'),
      /chartRepository is 'myacr\.azurecr\.io\/helm:1\.0', which is not a registry repository/,
    );
  });
});
