import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as yaml from 'yaml';
import { readTarGz } from '../../shared/src/helm/archive';
import { packageChart, type ChartPackage } from '../../shared/src/helm/package';
import { silentLog } from '../../shared/src/log';
import { repoRoot } from '../support/env';
import { HELM_VERSION, requireHelm, runHelm } from '../support/helm';

/**
 * Pinning against the real helm: for an image in the chart's own values and in vendored subcharts reached by name and
 * by alias, in each layout pinning fills, `helm template` of the pinned package renders every container of that image
 * as `…@sha256:<digest>` — the same manifests helm renders from the unpinned package with the written values given as
 * `--set-string` — and every other container exactly as before. The fixture (test/fixtures/charts/storefront) models
 * its subcharts on public charts; its README.md says which.
 */

const STOREFRONT = path.join(repoRoot, 'test', 'fixtures', 'charts', 'storefront');
const DIGEST = `sha256:${'7d'.repeat(32)}`;
const REPOSITORY = 'myacr.azurecr.io/team/pinned';

/** Every container image `helm template rel` renders from the unpinned fixture, by `<workload>/<container>`. */
const RENDERED: Record<string, string> = {
  'rel-storefront/migrations': 'ghcr.io/example/storefront-migrations:2.1.0',
  'rel-storefront/storefront': 'ghcr.io/example/storefront:2.1.0',
  'rel-storefront/exporter': 'quay.io/prometheus/statsd-exporter:v0.27.1',
  'rel-storefront/agent': 'gsoci.azurecr.io/giantswarm/audit-agent:1.4.2',
  'rel-redis-master/redis': 'docker.io/bitnami/redis:7.4.1-debian-12-r2',
  'rel-sessions-master/redis': 'docker.io/bitnami/redis:7.4.1-debian-12-r3',
  'rel-promtail/promtail': 'docker.io/grafana/promtail:3.0.0',
  'rel-logs/promtail': 'docker.io/grafana/promtail:3.0.0',
  'rel-grafana/grafana': 'docker.io/grafana/grafana:11.3.0',
  'rel-web/web': 'nginx:1.16.0',
  'rel-api/api': 'nginx:1.16.0',
  'rel-ingress-controller/controller': `registry.k8s.io/ingress-nginx/controller:v1.12.0@sha256:${'11'.repeat(32)}`,
};

interface PinCase {
  valuesKey: string;
  where: 'the chart' | 'a subchart by name' | 'a subchart by alias';
  layout: string;
  /** The container that runs the image (a key of RENDERED). */
  container: string;
  /** What it renders once pinned, without and with imageRepository. */
  pinned: string;
  moved: string;
}

const CASES: PinCase[] = [
  {
    valuesKey: 'image',
    where: 'the chart',
    layout: 'repository + tag',
    container: 'rel-storefront/storefront',
    pinned: `ghcr.io/example/storefront:2.1.0@${DIGEST}`,
    moved: `${REPOSITORY}:2.1.0@${DIGEST}`,
  },
  {
    valuesKey: 'migrations.image',
    where: 'the chart',
    layout: 'registry + repository + tag + digest',
    container: 'rel-storefront/migrations',
    pinned: `ghcr.io/example/storefront-migrations@${DIGEST}`,
    moved: `${REPOSITORY}@${DIGEST}`,
  },
  {
    valuesKey: 'exporter.image',
    where: 'the chart',
    layout: 'registry + repository + tag',
    container: 'rel-storefront/exporter',
    pinned: `quay.io/prometheus/statsd-exporter:v0.27.1@${DIGEST}`,
    moved: `${REPOSITORY}:v0.27.1@${DIGEST}`,
  },
  {
    valuesKey: 'agent.image',
    where: 'the chart',
    layout: 'registry + name + tag',
    container: 'rel-storefront/agent',
    pinned: `gsoci.azurecr.io/giantswarm/audit-agent:1.4.2@${DIGEST}`,
    moved: `${REPOSITORY}:1.4.2@${DIGEST}`,
  },
  {
    valuesKey: 'redis.image',
    where: 'a subchart by name',
    layout: 'registry + repository + tag + digest',
    container: 'rel-redis-master/redis',
    pinned: `docker.io/bitnami/redis@${DIGEST}`,
    moved: `${REPOSITORY}@${DIGEST}`,
  },
  {
    valuesKey: 'sessions.image',
    where: 'a subchart by alias',
    layout: 'registry + repository + tag + digest, the tag set in the parent',
    container: 'rel-sessions-master/redis',
    pinned: `docker.io/bitnami/redis@${DIGEST}`,
    moved: `${REPOSITORY}@${DIGEST}`,
  },
  {
    valuesKey: 'promtail.image',
    where: 'a subchart by name',
    layout: 'registry + repository + tag (null: its appVersion)',
    container: 'rel-promtail/promtail',
    pinned: `docker.io/grafana/promtail:3.0.0@${DIGEST}`,
    moved: `${REPOSITORY}:3.0.0@${DIGEST}`,
  },
  {
    valuesKey: 'logs.image',
    where: 'a subchart by alias',
    layout: 'registry + repository + tag (null: its appVersion)',
    container: 'rel-logs/promtail',
    pinned: `docker.io/grafana/promtail:3.0.0@${DIGEST}`,
    moved: `${REPOSITORY}:3.0.0@${DIGEST}`,
  },
  {
    valuesKey: 'grafana.image',
    where: 'a subchart by name',
    layout: 'registry + repository + tag + sha',
    container: 'rel-grafana/grafana',
    pinned: `docker.io/grafana/grafana:11.3.0@${DIGEST}`,
    moved: `${REPOSITORY}:11.3.0@${DIGEST}`,
  },
  {
    valuesKey: 'web.image',
    where: 'a subchart by name',
    layout: 'repository + tag',
    container: 'rel-web/web',
    pinned: `nginx:1.16.0@${DIGEST}`,
    moved: `${REPOSITORY}:1.16.0@${DIGEST}`,
  },
  {
    valuesKey: 'api.image',
    where: 'a subchart by alias',
    layout: 'repository + tag',
    container: 'rel-api/api',
    pinned: `nginx:1.16.0@${DIGEST}`,
    moved: `${REPOSITORY}:1.16.0@${DIGEST}`,
  },
  {
    valuesKey: 'ingress.controller.image',
    where: 'a subchart by alias',
    layout: 'registry + image + tag + digest',
    container: 'rel-ingress-controller/controller',
    pinned: `registry.k8s.io/ingress-nginx/controller:v1.12.0@${DIGEST}`,
    moved: `${REPOSITORY}:v1.12.0@${DIGEST}`,
  },
];

interface Container {
  name: string;
  image: string;
}

/** `<workload>/<container>` → image, for every container and init container `helm template rel <chart>` renders. */
async function renderedImages(chart: string, extra: string[] = []): Promise<{ images: Record<string, string>; manifests: string }> {
  const run = await runHelm(['template', 'rel', chart, ...extra]);
  assert.equal(run.code, 0, run.stderr);
  const images: Record<string, string> = {};
  for (const doc of yaml.parseAllDocuments(run.stdout)) {
    const manifest = doc.toJS() as { metadata?: { name: string }; spec?: { template?: { spec?: Record<string, Container[]> } } } | null;
    const pod = manifest?.spec?.template?.spec;
    if (!manifest?.metadata || !pod) continue;
    for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      images[`${manifest.metadata.name}/${container.name}`] = container.image;
    }
  }
  return { images, manifests: run.stdout };
}

/** The parent values.yaml in a package, as `key.path` → scalar. */
function packagedValues(pkg: ChartPackage): Map<string, unknown> {
  const entry = readTarGz(pkg.bytes, 'package').find((e) => e.name === `${pkg.name}/values.yaml`);
  assert.ok(entry, 'the package holds values.yaml');
  const leaves = new Map<string, unknown>();
  const walk = (value: unknown, at: string[]) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, [...at, k]);
    } else leaves.set(at.join('.'), value);
  };
  walk(yaml.parse(entry.data.toString('utf8'), { version: '1.1' }), []);
  return leaves;
}

describe(`helm: pinned packages rendered by real helm ${HELM_VERSION}: the image in the chart and in subcharts by name and by alias`, function () {
  let work: string;
  let unpinned: ChartPackage;

  const pack = (valuesKey: string, imageRepository?: string, chartPath = STOREFRONT) =>
    packageChart(
      { chartPath, destination: fs.mkdtempSync(path.join(work, 'out-')), imageDigest: DIGEST, imageValuesKey: valuesKey, imageRepository },
      silentLog,
    );

  before(async function () {
    requireHelm(this);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-pin-render-'));
    unpinned = await packageChart({ chartPath: STOREFRONT, destination: path.join(work, 'unpinned') }, silentLog);
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('renders the fixture unpinned with every image as its values name it (the baseline the cases compare with)', async () => {
    assert.deepEqual((await renderedImages(unpinned.packagePath)).images, RENDERED);
  });

  for (const c of CASES) {
    describe(`${c.valuesKey}: in ${c.where}, ${c.layout}`, () => {
      for (const imageRepository of [undefined, REPOSITORY]) {
        const expected = imageRepository ? c.moved : c.pinned;
        const label = imageRepository ? 'with imageRepository' : "keeping the chart's repository";
        it(`${label}: ${c.container} renders ${expected.replace(DIGEST, 'sha256:<digest>')}, every other container as before`, async () => {
          const pinned = await pack(c.valuesKey, imageRepository);
          const { images } = await renderedImages(pinned.packagePath);
          assert.ok(images[c.container].endsWith(`@${DIGEST}`), images[c.container]);
          assert.deepEqual(images, { ...RENDERED, [c.container]: expected });
        });
      }

      it('renders the same manifests as helm does from the unpinned package with the written values as --set-string', async () => {
        const pinned = await pack(c.valuesKey, REPOSITORY);
        const before = packagedValues(unpinned);
        const written = [...packagedValues(pinned)].filter(([key, value]) => !isDeepStrictEqual(before.get(key), value));
        assert.ok(written.length > 0 && written.every(([key]) => key.startsWith(`${c.valuesKey}.`)), JSON.stringify(written));
        const mine = await renderedImages(pinned.packagePath);
        const helms = await renderedImages(
          unpinned.packagePath,
          written.flatMap(([key, value]) => ['--set-string', `${key}=${String(value as string)}`]),
        );
        assert.equal(mine.manifests, helms.manifests);
      });
    });
  }

  it('pins through an alias of a subchart vendored as a .tgz the same as through its folder', async () => {
    const copy = path.join(work, 'storefront-tgz');
    fs.cpSync(STOREFRONT, copy, { recursive: true });
    const redis = await packageChart({ chartPath: path.join(copy, 'charts', 'redis'), destination: path.join(copy, 'charts') }, silentLog);
    fs.rmSync(path.join(copy, 'charts', 'redis'), { recursive: true });
    assert.equal(path.basename(redis.packagePath), 'redis-20.2.1.tgz');
    const fromArchive = await pack('sessions.image', REPOSITORY, copy);
    const fromFolder = await pack('sessions.image', REPOSITORY);
    const archived = await renderedImages(fromArchive.packagePath);
    assert.deepEqual(archived.images, { ...RENDERED, 'rel-sessions-master/redis': `${REPOSITORY}@${DIGEST}` });
    assert.equal(archived.manifests, (await renderedImages(fromFolder.packagePath)).manifests);
  });
});
