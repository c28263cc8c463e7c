import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ChartError } from '../../shared/src/helm/errors';
import { loadChartDir, loadFiles } from '../../shared/src/helm/load';
import { pinImageInValues, subchartValues, type ImagePin, type SubchartValues } from '../../shared/src/helm/values';
import { silentLog } from '../../shared/src/log';
import { needOrSkip, repoRoot, testdataAvailable, testdataRoot } from '../support/env';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const CORPUS = path.join(testdataRoot, 'charts');
const STOREFRONT = path.join(repoRoot, 'test', 'fixtures', 'charts', 'storefront');

function pin(text: string, extra: Partial<ImagePin> = {}) {
  return pinImageInValues(text, { valuesKey: 'image', digest: DIGEST, ...extra }, 'chart/values.yaml');
}

/** values.yaml read as helm reads it (YAML 1.1: `<<` merges). */
function values(text: string): unknown {
  return parse(text, { version: '1.1' });
}

describe('helm: pinning the image by digest in values.yaml', () => {
  it('appends the digest to the tag and changes only that line (podinfo layout)', () => {
    const text =
      '# Default values\nreplicaCount: 1\nimage:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: 6.14.1\n  pullPolicy: IfNotPresent\n\nprefix: /\n';
    const result = pin(text);
    assert.equal(result.text, text.replace('  tag: 6.14.1', `  tag: "6.14.1@${DIGEST}"`));
    assert.deepEqual(result.settings, [`image.tag=6.14.1@${DIGEST}`]);
    assert.deepEqual(result.rewritten, []);
  });

  it('uses the appVersion when the tag is empty, keeping the comment above and beside it (alertmanager layout)', () => {
    const text =
      'image:\n  repository: quay.io/prometheus/alertmanager\n  pullPolicy: IfNotPresent\n  # Overrides the image tag whose default is the chart appVersion.\n  tag: ""   # empty: appVersion\n\nbaseURL: ""\n';
    const result = pin(text, { defaultTag: 'v0.34.0' });
    assert.equal(result.text, text.replace('  tag: ""   # empty: appVersion', `  tag: "v0.34.0@${DIGEST}"   # empty: appVersion`));
  });

  it('fills empty repository and tag and replaces a previous digest (delivery layout)', () => {
    const text = 'dockerregistry:\nimage:\n  repository:\n  tag:   # set by the pipeline\n  pullPolicy: IfNotPresent\ncosmosdb:\n  id:\n';
    const result = pin(text, { repository: 'myacr.azurecr.io/delivery', defaultTag: 'v0.1.0' });
    assert.equal(
      result.text,
      `dockerregistry:\nimage:\n  repository: "myacr.azurecr.io/delivery"\n  tag: "v0.1.0@${DIGEST}"   # set by the pipeline\n  pullPolicy: IfNotPresent\ncosmosdb:\n  id:\n`,
    );
    const again = pin(result.text, { defaultTag: 'v9' });
    assert.match(again.text, new RegExp(`tag: "v0\\.1\\.0@${DIGEST}"`), 'a tag that already carries a digest keeps its tag part');
  });

  it('keeps single quotes, and the line break after a block scalar', () => {
    assert.equal(
      pin("image:\n  repository: app\n  tag: '1.0' # pinned\n").text,
      `image:\n  repository: app\n  tag: '1.0@${DIGEST}' # pinned\n`,
    );
    assert.equal(
      pin('image:\n  repository: app\n  tag: >-\n    1.0\nz: 1\n').text,
      `image:\n  repository: app\n  tag: "1.0@${DIGEST}"\nz: 1\n`,
    );
  });

  it('sets a digest field instead of touching the tag where the chart has one, and splits off the registry', () => {
    const text = 'image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n  digest: ""\n';
    const result = pin(text, { repository: 'myacr.azurecr.io/team/nginx' });
    assert.deepEqual(values(result.text), {
      image: { registry: 'myacr.azurecr.io', repository: 'team/nginx', tag: '1.25.3', digest: DIGEST },
    });
    assert.match(result.text, /tag: 1\.25\.3\n/);
  });

  it('adds the tag missing beside a repository, indented like the file', () => {
    const text = 'app:\n    name: greet\n    image:\n        repository: greet\n    # the image comes next\nother: 1\n';
    const result = pin(text, { valuesKey: 'app.image', repository: 'registry.local:5000/greet', defaultTag: '1.0.0' });
    assert.equal(
      result.text,
      `app:\n    name: greet\n    image:\n        repository: "registry.local:5000/greet"\n        tag: "1.0.0@${DIGEST}"\n    # the image comes next\nother: 1\n`,
    );
    assert.equal(result.repository, 'registry.local:5000/greet');
  });

  it('refuses a key path that names nothing in the file (the templates would never read the pin), listing what is there', () => {
    const refused = (text: string, valuesKey: string, pattern: RegExp) =>
      assert.throws(
        () => pin(text, { valuesKey, defaultTag: '1.0.0' }),
        (e: Error) =>
          e instanceof ChartError && e.blame?.option === 'imageValuesKey' && pattern.test(e.message) && !e.message.includes('\n'),
        `${valuesKey} in ${JSON.stringify(text)}`,
      );
    refused(
      'imgae:\n  tag: "1"\nx: 1\n',
      'image',
      /^imageValuesKey is 'image', but chart\/values\.yaml has no 'image' \(at the top, its keys: imgae, x\)/,
    );
    refused('app:\n  name: greet\n', 'app.image', /has no 'app\.image' \(under 'app', its keys: name\)/);
    refused('app: ~\n', 'app.image', /'app' in chart\/values\.yaml is empty/);
    refused('', 'image', /has no 'image' \(at the top, it holds no keys\)/);
    refused('# set by CI\n', 'image', /has no 'image'/);
    const many = Array.from({ length: 14 }, (_, i) => `k${i}: ${i}`).join('\n');
    refused(many, 'image', /its keys: k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, and 4 more\)/);
  });

  it('keeps CRLF line ends and a missing final newline', () => {
    const crlf = pin('image:\r\n  repository: app\r\n  tag: "1"\r\nx: 1\r\n');
    assert.equal(crlf.text, `image:\r\n  repository: app\r\n  tag: "1@${DIGEST}"\r\nx: 1\r\n`);
    const noFinal = pin('x: 1\nimage:\n  repository: app', { defaultTag: '3' });
    assert.equal(noFinal.text, `x: 1\nimage:\n  repository: app\n  tag: "3@${DIGEST}"`);
    const crlfInsert = pin('image:\r\n  repository: app\r\n', { defaultTag: '4' });
    assert.equal(crlfInsert.text, `image:\r\n  repository: app\r\n  tag: "4@${DIGEST}"\r\n`);
  });

  it('writes a flow map or an alias out as a block map, leaves the anchor alone, and says so', () => {
    const flow = pin('image: {repository: app, tag: "1"}  # inline\nz: 1\n');
    assert.equal(flow.text, `image:  # inline\n  repository: "app"\n  tag: "1@${DIGEST}"\nz: 1\n`);
    assert.deepEqual(flow.rewritten, ['image']);
    const anchored = pin('base: &img\n  repository: app\n  tag: "1"\nimage: *img\n');
    assert.deepEqual(values(anchored.text), { base: { repository: 'app', tag: '1' }, image: { repository: 'app', tag: `1@${DIGEST}` } });
    assert.match(anchored.text, /^base: &img\n {2}repository: app\n {2}tag: "1"\n/, 'the anchored map is untouched');
    assert.deepEqual(anchored.rewritten, ['image']);
  });

  it('adds the tag beside a << merge, which then overrides the merged one', () => {
    const text = 'base: &img\n  repository: app\n  tag: "1"\nimage:\n  <<: *img\n  pullPolicy: Always\n';
    const result = pin(text);
    assert.equal(result.text, `${text}  tag: "1@${DIGEST}"\n`);
    assert.deepEqual(values(result.text), {
      base: { repository: 'app', tag: '1' },
      image: { repository: 'app', tag: `1@${DIGEST}`, pullPolicy: 'Always' },
    });
  });

  it('refuses a key path that is not a map, naming it and what it holds', () => {
    assert.throws(
      () => pin('image: nginx:1.25\n'),
      (e: Error) =>
        e instanceof ChartError &&
        e.blame?.option === 'imageValuesKey' &&
        /^imageValuesKey is 'image', but 'image' in chart\/values\.yaml holds the string 'nginx:1\.25', not a map/.test(e.message),
    );
    assert.throws(() => pin('app:\n  - image\n', { valuesKey: 'app.image' }), /'app' in chart\/values\.yaml holds a list, not a map/);
    assert.throws(() => pin('image:\n  tag: [1]\n'), /'image\.tag' in chart\/values\.yaml is not a scalar \(it holds a list\)/);
    assert.throws(
      () => pin('image:\n  repository: app\n  tag: |\n    1.0\n'),
      (e: Error) => /'image\.tag' in chart\/values\.yaml is not an image tag \(tag '1\.0\\n'/.test(e.message) && !e.message.includes('\n'),
    );
  });

  it('refuses malformed inputs and a tag it cannot know, naming the input', () => {
    assert.throws(
      () => pinImageInValues('', { valuesKey: 'image', digest: 'sha256:abc' }, 'v'),
      /^ChartError: imageDigest is not a digest: 'sha256:abc'/,
    );
    assert.throws(
      () => pinImageInValues('', { valuesKey: 'a..b', digest: DIGEST }, 'v'),
      /^ChartError: imageValuesKey is 'a\.\.b', which is not a dotted key path/,
    );
    assert.throws(
      () => pin('', { repository: 'MyAcr.azurecr.io/App:1' }),
      /^ChartError: imageRepository is not an image repository: 'MyAcr.azurecr.io\/App:1' \(/,
    );
    assert.throws(
      () => pin('image:\n  repository: app\n'),
      (e: Error) =>
        e instanceof ChartError &&
        e.blame?.option === 'appVersion' &&
        /^appVersion is not set, and neither Chart\.yaml's appVersion nor 'image\.tag'/.test(e.message),
    );
    assert.throws(
      () => pin('image:\n  repository: app\n', { defaultTag: '1.0 beta', defaultTagFromOption: true }),
      (e: Error) =>
        e instanceof ChartError &&
        e.blame?.option === 'appVersion' &&
        /^appVersion is '1\.0 beta', which is not an image tag/.test(e.message),
    );
    assert.throws(
      () => pin('image:\n  repository: app\n', { defaultTag: '1.0 beta' }),
      (e: Error) => e instanceof ChartError && !e.blame && /^Chart\.yaml's appVersion '1\.0 beta' is not an image tag/.test(e.message),
    );
    assert.throws(() => pin('- a\n'), /chart\/values\.yaml is not a map of values/);
  });

  it("refuses JavaScript's own keys in imageValuesKey instead of pinning nothing", () => {
    const reserved = ['__proto__', 'constructor', 'prototype'];
    assert.equal(reserved.length, 3);
    for (const key of reserved) {
      for (const valuesKey of [key, `image.${key}`, `${key}.image`]) {
        assert.throws(
          () => pin('image:\n  tag: "1"\n', { valuesKey }),
          (e: Error) =>
            e instanceof ChartError &&
            e.message ===
              `imageValuesKey is '${valuesKey}', which uses the reserved key '${key}': name the values map that holds the image (e.g. image)`,
          valuesKey,
        );
      }
    }
  });

  // Expanded, the bomb is 9^10 nodes: a parser that followed the aliases would not end within the suite's timeout.
  it('fails fast, in one line naming the file, on a YAML alias bomb', () => {
    let bomb = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i < 10; i++)
      bomb += `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    bomb += 'image:\n  tag: "1"\n';
    assert.throws(
      () => pin(bomb),
      (e: Error) =>
        e instanceof ChartError &&
        /^chart\/values\.yaml expands YAML aliases more than \d+ times/.test(e.message) &&
        !e.message.includes('\n'),
    );
  });

  it('names the file and line of a syntax error or a duplicate key, in one line', () => {
    assert.throws(
      () => pin('image:\n  tag: 1\n  tag: 2\n'),
      (e: Error) => e.message === 'chart/values.yaml is not valid YAML: Map keys must be unique (line 3)',
    );
    assert.throws(
      () => pin('a: [1\n'),
      (e: Error) => /^chart\/values\.yaml is not valid YAML: .* \(line \d+\)$/.test(e.message) && !e.message.includes('\n'),
    );
  });
});

describe('helm: pinning fills each supported image layout, and refuses any other', () => {
  const HEX = DIGEST.slice('sha256:'.length);
  const REPOSITORY = 'myacr.azurecr.io/team/app';
  /** Each layout, its values.yaml, the values after pinning (with and without imageRepository) and the repository named. */
  const LAYOUTS: {
    layout: string;
    text: string;
    pinned: Record<string, unknown>;
    withRepository: Record<string, unknown>;
    named: string | undefined;
  }[] = [
    {
      layout: 'repository + tag (helm create)',
      text: 'image:\n  repository: nginx\n  pullPolicy: IfNotPresent\n  tag: ""\n',
      pinned: { repository: 'nginx', pullPolicy: 'IfNotPresent', tag: `1.16.0@${DIGEST}` },
      withRepository: { repository: REPOSITORY, pullPolicy: 'IfNotPresent', tag: `1.16.0@${DIGEST}` },
      named: 'nginx',
    },
    {
      layout: 'registry + repository + tag (prometheus-community)',
      text: 'image:\n  registry: quay.io\n  repository: prometheus/statsd-exporter\n  tag: v0.27.1\n',
      pinned: { registry: 'quay.io', repository: 'prometheus/statsd-exporter', tag: `v0.27.1@${DIGEST}` },
      withRepository: { registry: 'myacr.azurecr.io', repository: 'team/app', tag: `v0.27.1@${DIGEST}` },
      named: 'quay.io/prometheus/statsd-exporter',
    },
    {
      layout: 'registry + repository + tag + digest (bitnami)',
      text: 'image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.4.1-debian-12-r2\n  digest: ""\n',
      pinned: { registry: 'docker.io', repository: 'bitnami/redis', tag: '7.4.1-debian-12-r2', digest: DIGEST },
      withRepository: { registry: 'myacr.azurecr.io', repository: 'team/app', tag: '7.4.1-debian-12-r2', digest: DIGEST },
      named: 'docker.io/bitnami/redis',
    },
    {
      layout: 'registry + repository + tag + sha (grafana)',
      text: 'image:\n  registry: docker.io\n  repository: grafana/grafana\n  tag: ""\n  sha: ""\n',
      pinned: { registry: 'docker.io', repository: 'grafana/grafana', tag: '', sha: HEX },
      withRepository: { registry: 'myacr.azurecr.io', repository: 'team/app', tag: '', sha: HEX },
      named: 'docker.io/grafana/grafana',
    },
    {
      layout: 'registry + image + tag + digest (ingress-nginx)',
      text: `image:\n  registry: registry.k8s.io\n  image: ingress-nginx/controller\n  tag: v1.12.0\n  digest: sha256:${'11'.repeat(32)}\n`,
      pinned: { registry: 'registry.k8s.io', image: 'ingress-nginx/controller', tag: 'v1.12.0', digest: DIGEST },
      withRepository: { registry: 'myacr.azurecr.io', image: 'team/app', tag: 'v1.12.0', digest: DIGEST },
      named: 'registry.k8s.io/ingress-nginx/controller',
    },
    {
      layout: 'registry + name + tag (Giant Swarm)',
      text: 'image:\n  registry: gsoci.azurecr.io\n  name: giantswarm/audit-agent\n  tag: ""\n',
      pinned: { registry: 'gsoci.azurecr.io', name: 'giantswarm/audit-agent', tag: `1.16.0@${DIGEST}` },
      withRepository: { registry: 'myacr.azurecr.io', name: 'team/app', tag: `1.16.0@${DIGEST}` },
      named: 'gsoci.azurecr.io/giantswarm/audit-agent',
    },
    {
      layout: 'repository beside image and name: repository names the image',
      text: 'image:\n  registry: docker.io\n  repository: org/app\n  name: app\n  tag: "1"\n',
      pinned: { registry: 'docker.io', repository: 'org/app', name: 'app', tag: `1@${DIGEST}` },
      withRepository: { registry: 'myacr.azurecr.io', repository: 'team/app', name: 'app', tag: `1@${DIGEST}` },
      named: 'docker.io/org/app',
    },
    {
      layout: 'digest alone',
      text: 'image:\n  digest: ""\n',
      pinned: { digest: DIGEST },
      withRepository: {},
      named: undefined,
    },
  ];

  for (const c of LAYOUTS) {
    it(`${c.layout}: pins the digest where the layout renders it`, () => {
      const pinned = pin(c.text, { defaultTag: '1.16.0' });
      assert.deepEqual(values(pinned.text), { image: c.pinned });
      assert.equal(pinned.repository, c.named);
      if (c.named === undefined) return;
      const moved = pin(c.text, { repository: REPOSITORY, defaultTag: '1.16.0' });
      assert.deepEqual(values(moved.text), { image: c.withRepository });
      assert.equal(moved.repository, REPOSITORY);
    });
  }

  it('refuses an image map of no supported layout, naming imageValuesKey, the keys it holds and the layouts', () => {
    const refused = (text: string, keys: string) =>
      assert.throws(
        () => pin(text, { defaultTag: '1.0.0' }),
        (e: Error) =>
          e instanceof ChartError &&
          e.blame?.option === 'imageValuesKey' &&
          e.message.startsWith(
            `imageValuesKey is 'image', but 'image' in chart/values.yaml is not an image layout pinning can fill (${keys}): `,
          ) &&
          e.message.includes('repository + tag; registry + repository (or image, or name) + tag; digest (sha256:…); or sha'),
        text,
      );
    refused('image:\n', 'it holds no keys');
    refused('image: ~ # set by CI\n', 'it holds no keys');
    refused('image: {}\n', 'it holds no keys');
    refused('image:\n  pullPolicy: Always\n', 'its keys: pullPolicy');
    refused('image:\n  tag: "1.0"\n', 'its keys: tag');
    refused('image:\n  name: app\n  tag: "1.0"\n', 'its keys: name, tag');
    refused('image:\n  registry: docker.io\n  image:\n    name: app\n', 'its keys: registry, image');
  });

  it('refuses an imageRepository the layout would render wrongly, naming imageRepository', () => {
    assert.throws(
      () => pin('image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: "7"\n', { repository: 'team/app' }),
      (e: Error) =>
        e instanceof ChartError &&
        e.blame?.option === 'imageRepository' &&
        e.message ===
          "imageRepository is 'team/app', without a registry host, but 'image' in chart/values.yaml keeps the registry apart ('image.registry' is 'docker.io'), so the chart would put that host in front of it: write the host too (e.g. docker.io/team/app)",
    );
    assert.throws(
      () => pin('image:\n  digest: ""\n', { repository: REPOSITORY }),
      (e: Error) =>
        e instanceof ChartError &&
        e.blame?.option === 'imageRepository' &&
        /^imageRepository is set, but 'image' in chart\/values\.yaml has no repository key to write it in \(its keys: digest\)/.test(
          e.message,
        ),
    );
  });
});

/** A subchart as subchartValues describes it, its values given as YAML. */
function subchart(key: string, name: string, valuesText: string, appVersion?: string, subcharts: SubchartValues[] = []): SubchartValues {
  return { key, name, where: `chart/charts/${name}`, appVersion, values: (values(valuesText) ?? {}) as Record<string, unknown>, subcharts };
}

const REDIS_VALUES =
  'global:\n  imageRegistry: ""\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.4.1-debian-12-r2\n  digest: ""\nauth:\n  enabled: true\n';
const PROMTAIL_VALUES = 'image:\n  registry: docker.io\n  repository: grafana/promtail\n  tag: null\n';

describe('helm: pinning an image whose values live in a vendored subchart (helm merges the parent over it)', () => {
  const REDIS = [subchart('redis', 'redis', REDIS_VALUES, '7.4.1'), subchart('sessions', 'redis', REDIS_VALUES, '7.4.1')];
  const pinIn = (text: string, valuesKey: string, extra: Partial<ImagePin> = {}, subcharts = REDIS) =>
    pinImageInValues(text, { valuesKey, digest: DIGEST, defaultTag: '2.1.0', ...extra }, 'chart/values.yaml', subcharts);

  it('by name: writes the pin under the subchart key of the parent, which the subchart values lack until then', () => {
    const result = pinIn('replicaCount: 1\n', 'redis.image');
    assert.equal(result.text, `replicaCount: 1\nredis:\n  image:\n    digest: "${DIGEST}"\n`);
    assert.deepEqual(result.settings, [`redis.image.digest=${DIGEST}`]);
    assert.equal(result.subchart, "subchart 'redis' (chart/charts/redis)");
    assert.equal(result.repository, 'docker.io/bitnami/redis', "the subchart's own registry and repository stay");
  });

  it("by alias: overrides the subchart's registry too, so it never stays in front of the new repository", () => {
    const text = 'sessions:\n  architecture: standalone\n  image:\n    tag: 7.4.1-debian-12-r3\n';
    const result = pinIn(text, 'sessions.image', { repository: 'myacr.azurecr.io/team/redis' });
    assert.equal(
      result.text,
      `sessions:\n  architecture: standalone\n  image:\n    tag: 7.4.1-debian-12-r3\n    registry: "myacr.azurecr.io"\n    repository: "team/redis"\n    digest: "${DIGEST}"\n`,
    );
    assert.equal(result.subchart, "subchart 'sessions' (redis, chart/charts/redis)");
    assert.equal(result.repository, 'myacr.azurecr.io/team/redis');
    assert.equal(pinIn(text, 'redis.image').text, `${text}redis:\n  image:\n    digest: "${DIGEST}"\n`, 'the other alias is its own');
  });

  it("takes the subchart's appVersion as the default tag, not the parent's (a null tag is no tag once merged)", () => {
    const logs = [subchart('logs', 'promtail', PROMTAIL_VALUES, '3.0.0')];
    const result = pinIn('', 'logs.image', {}, logs);
    assert.equal(result.text, `logs:\n  image:\n    tag: "3.0.0@${DIGEST}"\n`);
    assert.throws(
      () => pinIn('', 'logs.image', {}, [subchart('logs', 'promtail', PROMTAIL_VALUES)]),
      (e: Error) =>
        e instanceof ChartError &&
        !e.blame &&
        e.message.startsWith(
          "neither 'logs.image.tag' in the merged values of subchart 'logs' (chart/values.yaml over chart/charts/promtail/values.yaml) nor the Chart.yaml of subchart promtail, chart/charts/promtail (its appVersion) gives a tag",
        ),
    );
    assert.throws(
      () => pinIn('', 'logs.image', {}, [subchart('logs', 'promtail', PROMTAIL_VALUES, '3.0 beta')]),
      /^ChartError: the appVersion '3\.0 beta' of subchart promtail, chart\/charts\/promtail is not an image tag/,
    );
  });

  it('follows a null in the parent as helm does: it removes the subchart value, so the layout changes with it', () => {
    const text = 'sessions:\n  image:\n    registry: null\n';
    const result = pinIn(text, 'sessions.image', { repository: 'myacr.azurecr.io/team/redis' });
    assert.deepEqual(result.settings, ['sessions.image.repository=myacr.azurecr.io/team/redis', `sessions.image.digest=${DIGEST}`]);
    assert.throws(
      () => pinIn('sessions:\n  image: null\n', 'sessions.image'),
      /^ChartError: imageValuesKey is 'sessions\.image', but the merged values of subchart 'sessions' .* have no 'sessions\.image' \(under 'sessions', its keys: global, auth\)/,
    );
  });

  it('reaches a subchart of a subchart, and a subchart whose parent has no values.yaml', () => {
    const nested = [subchart('app', 'app', 'replicaCount: 1\n', '1.0.0', [subchart('cache', 'redis', REDIS_VALUES, '7.4.1')])];
    const result = pinIn('', 'app.cache.image', { repository: 'myacr.azurecr.io/team/redis' }, nested);
    assert.deepEqual(values(result.text), {
      app: { cache: { image: { registry: 'myacr.azurecr.io', repository: 'team/redis', digest: DIGEST } } },
    });
    assert.equal(result.subchart, "subchart 'app.cache' (redis, chart/charts/redis)");
  });

  it('refuses a mistyped key, naming imageValuesKey and the keys helm would merge there', () => {
    const refused = (text: string, valuesKey: string, message: string) =>
      assert.throws(
        () => pinIn(text, valuesKey),
        (e: Error) => e instanceof ChartError && e.blame?.option === 'imageValuesKey' && e.message === message,
        valuesKey,
      );
    refused(
      'sessions:\n  architecture: standalone\n',
      'sessions.imgae',
      "imageValuesKey is 'sessions.imgae', but the merged values of subchart 'sessions' (chart/values.yaml over chart/charts/redis/values.yaml) have no 'sessions.imgae' (under 'sessions', its keys: architecture, global, image, auth): name the values map that holds the image",
    );
    refused(
      'sessions:\n  architecture: standalone\n',
      'sesions.image',
      "imageValuesKey is 'sesions.image', but chart/values.yaml has no 'sesions' (at the top, its keys: sessions, redis; subcharts: redis, sessions): name the values map that holds the image",
    );
    refused(
      '',
      'redis.image.registry',
      "imageValuesKey is 'redis.image.registry', but 'redis.image.registry' in the merged values of subchart 'redis' (chart/values.yaml over chart/charts/redis/values.yaml) holds the string 'docker.io', not a map: name the values map that holds the image",
    );
  });

  it('refuses a parent value at a subchart key that is not a map (helm cannot render it either), blaming the chart', () => {
    assert.throws(
      () => pinIn('sessions: false\n', 'sessions.image'),
      (e: Error) =>
        e instanceof ChartError &&
        !e.blame &&
        e.message ===
          "'sessions' in chart/values.yaml holds the boolean false, but helm merges the values of subchart redis, chart/charts/redis there, so helm cannot render the chart ('type mismatch on sessions'): make it a map",
    );
  });
});

describe('helm: which subcharts a values key reaches, and under which key (helm processDependencyEnabled)', () => {
  const file = (name: string, text: string) => ({ name, data: Buffer.from(text) });
  const sub = (dir: string, name: string, version: string) => [
    file(`charts/${dir}/Chart.yaml`, `apiVersion: v2\nname: ${name}\nversion: ${version}\n`),
    file(`charts/${dir}/values.yaml`, `image:\n  repository: ${name}\n`),
  ];

  it('puts a declared dependency under its alias (once per alias), and a chart nothing declares under its name', () => {
    const chart = loadFiles(
      [
        file(
          'Chart.yaml',
          'apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n  - name: redis\n    version: 20.x\n    alias: cache\n  - name: redis\n    version: 20.x\n    alias: queue\n  - name: web\n    version: ">=2"\n',
        ),
        ...sub('redis', 'redis', '20.1.0'),
        ...sub('web', 'web', '1.0.0'),
        ...sub('extra', 'extra', '0.1.0'),
      ],
      'p',
      silentLog,
    );
    const found = subchartValues(chart, 'p').map((s) => `${s.key}=${s.name}@${s.where}`);
    // web 1.0.0 does not satisfy >=2, so helm keeps it under its own name, as it does the undeclared chart.
    assert.deepEqual(found, [
      'extra=extra@p/charts/extra',
      'web=web@p/charts/web',
      'cache=redis@p/charts/redis',
      'queue=redis@p/charts/redis',
    ]);
  });

  it('lists the storefront fixture the way helm template names its subcharts', () => {
    const chart = loadChartDir(STOREFRONT, silentLog);
    assert.deepEqual(
      subchartValues(chart, 'storefront').map((s) => s.key),
      ['redis', 'sessions', 'promtail', 'logs', 'grafana', 'web', 'api', 'ingress'],
    );
  });
});

/** The corpus charts, as ../shared/testdata/charts/README.md lists them, and how many values files each holds. */
const CORPUS_VALUES_FILES: Record<string, number> = { alertmanager: 6, delivery: 2, 'delivery-helm2': 5, podinfo: 2 };
/** Maps with a `repository` key across those files (image, configmapReload.image, redis, …), counted by hand. */
const CORPUS_IMAGE_MAPS = 8;

function valuesFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...valuesFiles(full));
    else if (/values.*\.yaml$/.test(entry.name)) out.push(full);
  }
  return out;
}

function imageMaps(value: unknown, at: string[] = []): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const here = at.length > 0 && 'repository' in value ? [at.join('.')] : [];
  return [...here, ...Object.entries(value).flatMap(([k, v]) => imageMaps(v, [...at, k]))];
}

/** Longest common subsequence of lines: which original lines survive unchanged, in order. */
function lineDiff(before: string[], after: string[]): { removed: string[]; added: string[] } {
  const n = before.length;
  const m = after.length;
  const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--)
      table[i][j] = before[i] === after[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
  }
  const removed: string[] = [];
  const added: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      i++;
      j++;
    } else if (j < m && (i === n || table[i][j + 1] >= table[i + 1][j])) added.push(after[j++]);
    else removed.push(before[i++]);
  }
  return { removed, added };
}

describe('helm: pinning keeps every corpus values file as written, apart from the pinned lines (needs ../shared/testdata/charts)', function () {
  before(function () {
    needOrSkip(this, testdataAvailable() && fs.existsSync(CORPUS), `the chart corpus at ${CORPUS}`);
  });

  it('finds the charts and values files the corpus README lists', () => {
    const charts = fs
      .readdirSync(CORPUS, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    assert.deepEqual(charts, Object.keys(CORPUS_VALUES_FILES).sort());
    const listed = [...fs.readFileSync(path.join(CORPUS, 'README.md'), 'utf8').matchAll(/^\| `([^`/]+)\/` \|/gm)].map((m) => m[1]).sort();
    assert.deepEqual(listed, charts);
    for (const chart of charts) assert.equal(valuesFiles(path.join(CORPUS, chart)).length, CORPUS_VALUES_FILES[chart], chart);
  });

  it('pins every image map of every values file, changing only the pinned lines', () => {
    const repository = 'myacr.azurecr.io/team/pinned';
    const files = Object.keys(CORPUS_VALUES_FILES).flatMap((chart) => valuesFiles(path.join(CORPUS, chart)));
    assert.equal(
      files.length,
      Object.values(CORPUS_VALUES_FILES).reduce((a, b) => a + b, 0),
    );
    let mapsSeen = 0;
    let pins = 0;
    let refusals = 0;
    for (const file of files) {
      const original = fs.readFileSync(file, 'utf8');
      const maps = imageMaps(values(original));
      mapsSeen += maps.length;
      // A file without `image` refuses it, naming imageValuesKey; every image map of every file is pinned.
      if (!maps.includes('image')) {
        assert.throws(
          () => pinImageInValues(original, { valuesKey: 'image', repository, digest: DIGEST, defaultTag: 'v1.0.0' }, file),
          /^ChartError: imageValuesKey is 'image', but .* has no 'image'/,
        );
        refusals++;
      }
      for (const valuesKey of maps) {
        const where = `${path.relative(CORPUS, file)} at ${valuesKey}`;
        const result = pinImageInValues(original, { valuesKey, repository, digest: DIGEST, defaultTag: 'v1.0.0' }, file);
        pins++;
        const written = result.settings.map((s) => s.slice(s.indexOf('=') + 1));
        const { removed, added } = lineDiff(original.split('\n'), result.text.split('\n'));
        assert.ok(removed.length <= result.settings.length, `${where}: at most one line per setting changes: ${JSON.stringify(removed)}`);
        const leafKeys = result.settings.map((s) => s.slice(0, s.indexOf('=')).split('.').pop());
        for (const line of removed)
          assert.ok(leafKeys.includes(line.trim().split(':')[0]), `${where}: only pinned keys change, not ${JSON.stringify(line)}`);
        for (const line of added) {
          const pinned = written.some((v) => line.includes(JSON.stringify(v)) || line.includes(`'${v}'`));
          assert.ok(pinned, `${where}: added only pinned values, not ${JSON.stringify(line)}`);
        }
        assert.equal(
          added.filter((l) => written.some((v) => l.includes(v))).length,
          result.settings.length,
          `${where}: every setting is written once`,
        );
        assert.deepEqual(result.rewritten, [], where);
        const after = values(result.text) as Record<string, unknown>;
        let image: unknown = after;
        for (const key of valuesKey.split('.')) image = (image as Record<string, unknown>)[key];
        const pinnedMap = image as Record<string, string>;
        assert.ok(
          `${pinnedMap.repository}` === repository || (pinnedMap.registry === 'myacr.azurecr.io' && pinnedMap.repository === 'team/pinned'),
          where,
        );
        assert.ok(pinnedMap.digest === DIGEST || String(pinnedMap.tag).endsWith(`@${DIGEST}`), where);
      }
    }
    assert.equal(mapsSeen, CORPUS_IMAGE_MAPS);
    assert.equal(pins, CORPUS_IMAGE_MAPS);
    assert.equal(refusals, files.length - files.filter((f) => imageMaps(values(fs.readFileSync(f, 'utf8'))).includes('image')).length);
  });
});
