import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { readTarGz } from '../../shared/src/helm/archive';
import { packageChart, type ChartPackage, type PackageChartOptions } from '../../shared/src/helm/package';
import { silentLog } from '../../shared/src/log';
import { needOrSkip, repoRoot, testdataAvailable, testdataRoot } from '../support/env';
import { escapeRegExp } from '../support/harness';
import { HELM_VERSION, helmBinary, requireHelm, runHelm, type HelmRun } from '../support/helm';

/**
 * Our package against helm's own package of the same chart and version (helm v3.17.1 from the CDK kubectl layer):
 * the same files, and `helm lint` / `helm template` / `helm show` give the same verdict and the same output on both.
 * Each chart's own verdict is asserted too, so a chart that stopped rendering would not pass by failing twice.
 */

const CORPUS = path.join(testdataRoot, 'charts');
const SAMPLE_CHART = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
const DIGEST = `sha256:${'5e'.repeat(32)}`;

interface Verdict {
  code: number;
  /** The `[INFO]` / `[WARNING]` / `[ERROR]` lines of `helm lint`, exactly, in order (`<chart>` for the path). */
  messages: string[];
}

interface CorpusCase {
  chart: string;
  dir: string;
  corpus: boolean;
  updateDependencies: boolean;
  /** `--set` values the chart needs to render; the image ones are what pinning supplies. */
  values: string[];
  imageValues: string[];
  sourceLint: Verdict;
  bareLint: Verdict;
  lintWithValues: Verdict;
  bareTemplateCode: number;
  /** How the pinned image appears in the rendered manifest. */
  pinnedImage: string;
  /** How many rendered lines show it: the containers running the image with default values (from the templates). */
  pinnedImageLines: number;
}

const ICON_INFO = '[INFO] Chart.yaml: icon is recommended';

const CASES: CorpusCase[] = [
  {
    chart: 'alertmanager',
    dir: path.join(CORPUS, 'alertmanager'),
    corpus: true,
    updateDependencies: false,
    values: [],
    imageValues: [],
    sourceLint: { code: 0, messages: [] },
    bareLint: { code: 0, messages: [] },
    lintWithValues: { code: 0, messages: [] },
    bareTemplateCode: 0,
    pinnedImage: `image: "registry.local/prom/alertmanager:v0.34.0@${DIGEST}"`,
    pinnedImageLines: 1, // statefulset.yaml
  },
  {
    chart: 'podinfo',
    dir: path.join(CORPUS, 'podinfo'),
    corpus: true,
    updateDependencies: false,
    values: [],
    imageValues: [],
    sourceLint: { code: 0, messages: [ICON_INFO] },
    bareLint: { code: 0, messages: [ICON_INFO] },
    lintWithValues: { code: 0, messages: [ICON_INFO] },
    bareTemplateCode: 0,
    pinnedImage: `image: "registry.local/podinfo:6.14.1@${DIGEST}"`,
    pinnedImageLines: 1, // deployment.yaml (hooks/job.yaml renders only for hooks set in values)
  },
  {
    chart: 'delivery',
    dir: path.join(CORPUS, 'delivery'),
    corpus: true,
    updateDependencies: true,
    values: ['tags.dev=true'],
    imageValues: ['image.repository=delivery', 'image.tag=v0.1.0'],
    sourceLint: {
      code: 1,
      messages: [
        ICON_INFO,
        '[ERROR] templates/: template: delivery/templates/delivery-internal-ingress.yaml:24:67: executing "delivery/templates/delivery-internal-ingress.yaml" at <.Values.ingress.class>: nil pointer evaluating interface {}.class',
        '[WARNING] <chart>: chart directory is missing these dependencies: delivery-dev',
      ],
    },
    bareLint: {
      code: 1,
      messages: [
        ICON_INFO,
        '[ERROR] templates/: template: delivery/templates/delivery-internal-ingress.yaml:24:67: executing "delivery/templates/delivery-internal-ingress.yaml" at <.Values.ingress.class>: nil pointer evaluating interface {}.class',
      ],
    },
    lintWithValues: {
      code: 0,
      messages: [
        ICON_INFO,
        "[WARNING] templates/delivery-service-account.yaml: object name does not conform to Kubernetes naming requirements: \"\": metadata.name: Invalid value: \"\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ],
    },
    bareTemplateCode: 1,
    // The chart prefixes {{ .Values.dockerregistry }}{{ .Values.dockerregistrynamespace }}/ itself.
    pinnedImage: `image: /delivery:v0.1.0@${DIGEST}`,
    pinnedImageLines: 1, // delivery-deploy.yaml
  },
  {
    chart: 'delivery-helm2',
    dir: path.join(CORPUS, 'delivery-helm2'),
    corpus: true,
    updateDependencies: false,
    values: ['ingress.tls=false'],
    imageValues: ['image.repository=delivery', 'image.tag=v0.1.0'],
    // helm's own rules: a chart without apiVersion fails lint; packaging (helm's and ours) writes apiVersion v1.
    sourceLint: {
      code: 1,
      messages: [
        '[ERROR] Chart.yaml: apiVersion is required. The value must be either "v1" or "v2"',
        ICON_INFO,
        '[ERROR] templates/: template: delivery/templates/delivery-secret-ingress-tls.yaml:1:14: executing "delivery/templates/delivery-secret-ingress-tls.yaml" at <.Values.ingress.tls>: nil pointer evaluating interface {}.tls',
      ],
    },
    bareLint: {
      code: 1,
      messages: [
        ICON_INFO,
        '[ERROR] templates/: template: delivery/templates/delivery-secret-ingress-tls.yaml:1:14: executing "delivery/templates/delivery-secret-ingress-tls.yaml" at <.Values.ingress.tls>: nil pointer evaluating interface {}.tls',
      ],
    },
    lintWithValues: {
      code: 0,
      messages: [
        ICON_INFO,
        '[WARNING] templates/delivery-deploy.yaml: apps/v1beta2 Deployment is deprecated in v1.9+, unavailable in v1.16+; use apps/v1 Deployment',
        '[WARNING] templates/delivery-ingress.yaml: extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress',
      ],
    },
    bareTemplateCode: 1,
    pinnedImage: `image: /delivery:v0.1.0@${DIGEST}`,
    pinnedImageLines: 1, // delivery-deploy.yaml
  },
  {
    chart: 'sample-service',
    dir: SAMPLE_CHART,
    corpus: false,
    updateDependencies: false,
    values: [],
    imageValues: [],
    sourceLint: { code: 0, messages: [] },
    bareLint: { code: 0, messages: [] },
    lintWithValues: { code: 0, messages: [] },
    bareTemplateCode: 0,
    // This chart has a digest field and renders repository@digest.
    pinnedImage: `image: "registry.local/sample-service@${DIGEST}"`,
    pinnedImageLines: 2, // job.yaml and tests/greet-test.yaml, both through _helpers.tpl
  },
];

const PIN_REPOSITORY: Record<string, string> = {
  alertmanager: 'registry.local/prom/alertmanager',
  podinfo: 'registry.local/podinfo',
  delivery: 'delivery',
  'delivery-helm2': 'delivery',
  'sample-service': 'registry.local/sample-service',
};

function sets(values: string[]): string[] {
  return values.flatMap((v) => ['--set', v]);
}

/** helm's output with the package or chart path (and lint's temporary folder) replaced, so two packages compare. */
function normalize(run: HelmRun, chartPath: string): HelmRun {
  const replace = (s: string) =>
    s
      .split(chartPath)
      .join('<chart>')
      .replace(/\/tmp\/helm-lint\d+\//g, '<lint-dir>/');
  return { code: run.code, stdout: replace(run.stdout), stderr: replace(run.stderr) };
}

/**
 * Runs `helm <args> <package>` on our package once and on helm's twice. Words that differ between helm's own two
 * runs come from the chart's randomness (podinfo names its test pods with randAlphaNum) and are masked in all three.
 */
async function compareOnBoth(
  args: string[],
  ours: string,
  helms: string,
  extra: string[] = [],
): Promise<{ mine: HelmRun; theirs: HelmRun }> {
  const mine = normalize(await runHelm([...args, ours, ...extra]), ours);
  const theirs = normalize(await runHelm([...args, helms, ...extra]), helms);
  const again = normalize(await runHelm([...args, helms, ...extra]), helms);
  const mask = (a: string, b: string, c: string): [string, string] => {
    const la = a.split('\n');
    const lb = b.split('\n');
    const lc = c.split('\n');
    if (la.length !== lb.length || la.length !== lc.length) return [a, c];
    for (let i = 0; i < la.length; i++) {
      if (la[i] === lb[i]) continue;
      const ta = la[i].split(/([A-Za-z0-9]+)/);
      const tb = lb[i].split(/([A-Za-z0-9]+)/);
      const tc = lc[i].split(/([A-Za-z0-9]+)/);
      if (ta.length !== tb.length || ta.length !== tc.length) continue;
      for (let j = 0; j < ta.length; j++) if (ta[j] !== tb[j]) ta[j] = tc[j] = '<random>';
      la[i] = ta.join('');
      lc[i] = tc.join('');
    }
    return [la.join('\n'), lc.join('\n')];
  };
  const [theirsOut, mineOut] = mask(theirs.stdout, again.stdout, mine.stdout);
  const [theirsErr, mineErr] = mask(theirs.stderr, again.stderr, mine.stderr);
  return { mine: { ...mine, stdout: mineOut, stderr: mineErr }, theirs: { ...theirs, stdout: theirsOut, stderr: theirsErr } };
}

function lintMessages(run: HelmRun): string[] {
  return run.stdout.split('\n').filter((l) => /^\[(INFO|WARNING|ERROR)\]/.test(l));
}

/** A writable copy for helm (its dependency update writes charts/ and Chart.lock into the chart folder). */
function writableCopy(from: string, to: string): string {
  fs.cpSync(from, to, { recursive: true });
  const chmod = (p: string) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.mode | 0o200);
    if (st.isDirectory()) for (const name of fs.readdirSync(p)) chmod(path.join(p, name));
  };
  chmod(to);
  return to;
}

async function helmPackage(chartDir: string, destination: string, args: string[] = []): Promise<string> {
  const run = await runHelm(['package', chartDir, '--destination', destination, ...args]);
  assert.equal(run.code, 0, `helm package ${chartDir}: ${run.stderr}`);
  const match = /saved it to: (.+\.tgz)/.exec(run.stdout);
  assert.ok(match, run.stdout);
  return match[1].trim();
}

describe(`helm: our packages against real helm ${HELM_VERSION}'s own (needs helm from the CDK kubectl layer): lint, template, show`, function () {
  let work: string;

  before(function () {
    requireHelm(this);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-helm-equivalence-'));
  });
  after(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it(`uses helm ${HELM_VERSION} from the CDK kubectl layer`, async () => {
    const run = await runHelm(['version', '--short']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, new RegExp(`^${escapeRegExp(HELM_VERSION)}\\+g[0-9a-f]+`));
    assert.ok(helmBinary()?.startsWith(os.tmpdir()));
  });

  for (const c of CASES) {
    describe(`${c.chart}${c.corpus ? ` (needs the corpus at ../shared/testdata/charts/${c.chart})` : ' (sample service fixture)'}`, function () {
      let ours: ChartPackage;
      let helms: string;
      let dir: string;

      before(async function () {
        if (c.corpus) needOrSkip(this, testdataAvailable(), `the chart corpus at ${CORPUS}`);
        dir = fs.mkdtempSync(path.join(work, `${c.chart}-`));
        ours = await packageChart(
          { chartPath: c.dir, destination: path.join(dir, 'ours'), updateDependencies: c.updateDependencies },
          silentLog,
        );
        const source = c.updateDependencies ? writableCopy(c.dir, path.join(dir, 'helm-source', path.basename(c.dir))) : c.dir;
        helms = await helmPackage(source, path.join(dir, 'helm'), c.updateDependencies ? ['--dependency-update'] : []);
      });

      it("has the same name, version and files as helm's package (Chart.yaml and Chart.lock compared as data)", () => {
        assert.equal(path.basename(ours.packagePath), path.basename(helms));
        const mine = new Map(readTarGz(ours.bytes, 'ours').map((e) => [e.name, e.data]));
        const theirs = new Map(readTarGz(fs.readFileSync(helms), 'helm').map((e) => [e.name, e.data]));
        assert.deepEqual([...mine.keys()].sort(), [...theirs.keys()].sort());
        for (const [name, data] of theirs) {
          if (name.endsWith('/Chart.yaml')) {
            assert.deepEqual(yaml.parse(mine.get(name)!.toString()), yaml.parse(data.toString()), name);
          } else if (name.endsWith('/Chart.lock')) {
            const strip = (b: Buffer) => ({ ...(yaml.parse(b.toString()) as object), generated: undefined });
            assert.deepEqual(strip(mine.get(name)!), strip(data), name);
          } else {
            assert.ok(mine.get(name)!.equals(data), `${name} differs`);
          }
        }
        const order = readTarGz(ours.bytes, 'ours').map((e) => e.name);
        assert.equal(order[0], `${ours.name}/Chart.yaml`);
      });

      it("the chart folder itself gets the verdict helm's own rules give it", async () => {
        const run = normalize(await runHelm(['lint', c.dir]), c.dir);
        assert.equal(run.code, c.sourceLint.code, run.stdout + run.stderr);
        assert.deepEqual(lintMessages(run), c.sourceLint.messages);
      });

      const variants = c.values.length + c.imageValues.length > 0 ? [false, true] : [false];
      for (const withValues of variants) {
        const values = withValues ? [...c.values, ...c.imageValues] : [];
        const label = withValues ? `with ${values.join(' ')}` : 'without values';

        it(`helm lint ${label}: same verdict and output as on helm's package`, async () => {
          const { mine, theirs } = await compareOnBoth(['lint'], ours.packagePath, helms, sets(values));
          assert.deepEqual(mine, theirs);
          const expected = withValues ? c.lintWithValues : c.bareLint;
          assert.equal(mine.code, expected.code, mine.stdout + mine.stderr);
          assert.deepEqual(lintMessages(mine), expected.messages);
        });

        it(`helm template ${label}: same manifests (or the same error) as helm's package`, async () => {
          const { mine, theirs } = await compareOnBoth(['template', 'rel'], ours.packagePath, helms, sets(values));
          assert.deepEqual(mine, theirs);
          assert.equal(mine.code, withValues ? 0 : c.bareTemplateCode, mine.stderr);
          if (mine.code === 0) assert.match(mine.stdout, /^kind: /m);
        });
      }

      it('helm show chart and helm show values print the same', async () => {
        for (const what of ['chart', 'values']) {
          const mine = await runHelm(['show', what, ours.packagePath]);
          const theirs = await runHelm(['show', what, helms]);
          assert.equal(mine.code, 0, mine.stderr);
          assert.deepEqual(mine, theirs);
        }
      });

      it('with imageRepository + imageDigest, renders the image by digest exactly as helm does with those values set', async () => {
        const pinned = await packageChart(
          {
            chartPath: c.dir,
            destination: path.join(dir, 'pinned'),
            updateDependencies: c.updateDependencies,
            imageRepository: PIN_REPOSITORY[c.chart],
            imageDigest: DIGEST,
          },
          silentLog,
        );
        const rendered = await runHelm(['template', 'rel', pinned.packagePath, ...sets(c.values)]);
        assert.equal(rendered.code, 0, rendered.stderr);
        const imageLines = rendered.stdout
          .split('\n')
          .filter((l) => l.includes(DIGEST))
          .map((l) => l.trim());
        assert.equal(imageLines.length, c.pinnedImageLines, 'the digest reaches every container the chart runs the image in');
        assert.ok(
          imageLines.every((l) => l === c.pinnedImage),
          imageLines.join('\n'),
        );
        const md = yaml.parse((await runHelm(['show', 'values', pinned.packagePath])).stdout) as { image: Record<string, unknown> };
        const equivalent = Object.entries(md.image)
          .filter(([k]) => k === 'repository' || k === 'tag' || k === 'digest' || k === 'registry')
          .map(([k, v]) => `image.${k}=${v === null || v === undefined ? '' : String(v as string | number | boolean)}`);
        const { mine, theirs } = await compareOnBoth(['template', 'rel'], pinned.packagePath, helms, [
          ...sets(c.values),
          ...sets(equivalent),
        ]);
        assert.equal(theirs.code, 0, theirs.stderr);
        assert.deepEqual(mine, theirs);
      });
    });
  }

  describe('version and appVersion from the pipeline (needs the corpus chart podinfo)', function () {
    before(function () {
      needOrSkip(this, testdataAvailable(), `the chart corpus at ${CORPUS}`);
    });

    it('a release branch version and an appVersion give what helm package --version --app-version gives', async () => {
      const dir = fs.mkdtempSync(path.join(work, 'versioned-'));
      const options: PackageChartOptions = {
        chartPath: path.join(CORPUS, 'podinfo'),
        destination: path.join(dir, 'ours'),
        branch: 'refs/heads/release/podinfo/6.15.0-rc.1+build.5',
        appVersion: '6.15.0',
      };
      const ours = await packageChart(options, silentLog);
      const helms = await helmPackage(options.chartPath, path.join(dir, 'helm'), [
        '--version',
        '6.15.0-rc.1+build.5',
        '--app-version',
        '6.15.0',
      ]);
      assert.equal(path.basename(ours.packagePath), path.basename(helms));
      for (const args of [['show', 'chart'], ['template', 'rel'], ['lint']]) {
        const { mine, theirs } = await compareOnBoth(args, ours.packagePath, helms);
        assert.equal(mine.code, 0, mine.stderr);
        assert.deepEqual(mine, theirs);
      }
      const chart = yaml.parse((await runHelm(['show', 'chart', ours.packagePath])).stdout) as Record<string, string>;
      assert.equal(chart.version, '6.15.0-rc.1+build.5');
      assert.equal(chart.appVersion, '6.15.0');
    });
  });

  describe('.helmignore and chart layouts helm handles in its own way', function () {
    it('leaves out and keeps the same files as helm for a tricky .helmignore, subcharts, crds/ and a BOM', async () => {
      const dir = fs.mkdtempSync(path.join(work, 'tricky-'));
      const chart = path.join(dir, 'tricky');
      const files: Record<string, string | Buffer> = {
        'Chart.yaml':
          '# comment\napiVersion: v2\nname: tricky\nversion: 0.3.0\nappVersion: 1.10\nunknownField: dropped\ndescription: "two\\nlines"\n' +
          'dependencies:\n  - name: child\n    version: 0.0.1\n    repository: ""\n',
        '.helmignore': '# rules\n*.bak\ndocs/*.md\n/rootonly.txt\nbuild/\nsub/deeper\n',
        'values.yaml': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a: 1\n')]),
        'templates/cm.yaml':
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  app: {{ .Chart.AppVersion | quote }}\n',
        'templates/.hidden.yaml': 'ignored by the default rule',
        'templates/nested/.kept.yaml': '# kept: the default rule covers templates/ itself only\n',
        'templates/old.bak': 'ignored',
        'docs/guide.md': 'ignored',
        'docs/deep/guide.md': 'kept: * does not cross /',
        'rootonly.txt': 'ignored',
        'keep/rootonly.txt': 'kept',
        'build/out.txt': 'ignored',
        'sub/deeper': 'ignored',
        'a-b.txt': 'walk order',
        'a/b.txt': 'walk order',
        'crds/crd.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n',
        'charts/child/Chart.yaml': 'apiVersion: v2\nname: child\nversion: 0.0.1\n',
        'charts/child/templates/s.yaml': 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: child\n',
        'charts/child/.helmignore': '*.yaml\n',
        'charts/_skipped/Chart.yaml': 'not loaded',
      };
      for (const [rel, data] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(chart, rel)), { recursive: true });
        fs.writeFileSync(path.join(chart, rel), data);
      }
      const ours = await packageChart({ chartPath: chart, destination: path.join(dir, 'ours') }, silentLog);
      const helms = await helmPackage(chart, path.join(dir, 'helm'));
      const mine = readTarGz(ours.bytes, 'ours');
      const theirs = readTarGz(fs.readFileSync(helms), 'helm');
      assert.deepEqual(
        mine.map((e) => e.name),
        theirs.map((e) => e.name),
        'same files in the same order',
      );
      for (let i = 0; i < mine.length; i++) {
        if (mine[i].name.endsWith('/Chart.yaml'))
          assert.deepEqual(yaml.parse(mine[i].data.toString()), yaml.parse(theirs[i].data.toString()));
        else assert.ok(mine[i].data.equals(theirs[i].data), mine[i].name);
      }
      const md = yaml.parse(mine[0].data.toString()) as Record<string, unknown>;
      assert.equal(md.appVersion, '1.1', 'helm reads an unquoted 1.10 as the float 1.1');
      assert.equal(md.description, 'two lines');
      for (const args of [['template', 'rel'], ['lint'], ['show', 'chart']]) {
        const { mine, theirs } = await compareOnBoth(args, ours.packagePath, helms);
        assert.equal(mine.code, 0, mine.stdout + mine.stderr);
        assert.deepEqual(mine, theirs);
      }
    });
  });
});
