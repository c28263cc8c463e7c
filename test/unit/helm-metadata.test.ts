import { strict as assert } from 'node:assert';
import { hashRequirements } from '../../shared/src/helm/dependencies';
import { ChartError } from '../../shared/src/helm/errors';
import {
  decodeMetadataInto,
  goJson,
  metadataObject,
  sanitize,
  serializeChartYaml,
  validateMetadata,
  type ChartMetadata,
} from '../../shared/src/helm/metadata';
import { parseYaml } from '../../shared/src/helm/yaml';
import { buildChartArtifact, chartAnnotations, chartPushLocation } from '../../shared/src/helm/push';

function decode(text: string): ChartMetadata {
  const md: Partial<ChartMetadata> = {};
  decodeMetadataInto(md, parseYaml(text, 'Chart.yaml'), 'Chart.yaml');
  return md as ChartMetadata;
}

describe('helm: Chart.yaml as helm reads and writes it', () => {
  it("keeps only helm's fields, matches keys case-insensitively and turns scalars into the strings Go would", () => {
    const md = decode(
      'apiVersion: v2\nName: x\nversion: 1.0.0\nappVersion: 1.10\ndeprecated: true\nunknown: dropped\nkeywords: [1, true]\n',
    );
    assert.deepEqual(md, { apiVersion: 'v2', name: 'x', version: '1.0.0', appVersion: '1.1', deprecated: true, keywords: ['1', 'true'] });
  });

  it('refuses fields of the wrong shape, naming them', () => {
    assert.throws(() => decode('sources: https://x\n'), /Chart\.yaml: sources must be a list of strings/);
    assert.throws(() => decode('deprecated: "yes"\n'), /Chart\.yaml: deprecated must be true or false/);
    assert.throws(() => decode('maintainers:\n  - ~\n'), /must not contain empty or null entries/);
    assert.throws(() => decode('- a\n'), /Chart\.yaml must be a YAML map/);
  });

  it('sanitises strings as helm does and applies its rules', () => {
    assert.equal(sanitize('two\nlines\u0007\u200b and\ttab'), 'two lines and tab');
    const md = decode(
      'apiVersion: v2\nname: x\nversion: 1.0.0\ndescription: "a\\nb"\ndependencies:\n  - name: d\n    alias: "bad alias"\n    repository: ""\n',
    );
    assert.throws(
      () => validateMetadata(md, 'chart'),
      (e: Error) => e instanceof ChartError && /dependency 'd' has disallowed characters in its alias/.test(e.message),
    );
    const dup = decode(
      'apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n  - name: d\n    repository: ""\n  - name: e\n    alias: d\n    repository: ""\n',
    );
    assert.throws(() => validateMetadata(dup, 'chart'), /more than one dependency with name or alias 'd'/);
    assert.throws(
      () => validateMetadata(decode('apiVersion: v2\nname: x\nversion: 1.0.0\ntype: plugin\n'), 'chart'),
      /type must be application or library/,
    );
  });

  it("writes Chart.yaml with sorted keys, helm's omissions, and no dependencies for a v1 chart", () => {
    const v1 = decode('name: x\nversion: 1.0.0\napiVersion: v1\ndependencies:\n  - name: d\n    repository: ""\n');
    assert.equal(serializeChartYaml(v1), 'apiVersion: v1\nname: x\nversion: 1.0.0\n');
    const v2 = decode(
      'name: x\nversion: 1.0.0\napiVersion: v2\ndeprecated: false\ndependencies:\n  - name: d\n    version: 1.x\n    repository: ""\n    enabled: false\n',
    );
    assert.equal(
      serializeChartYaml(v2),
      "apiVersion: v2\ndependencies:\n- name: d\n  repository: ''\n  version: 1.x\nname: x\nversion: 1.0.0\n",
    );
  });

  it('hashes dependencies exactly as helm does (the digest helm wrote for the corpus delivery chart)', () => {
    const declared = decode(
      'dependencies:\n  - name: delivery-dev\n    repository: "file://envs/delivery-dev"\n    version: "v0.1.0"\n    condition: envs.dev\n    tags:\n      - dev\n    import-values:\n      - data\n',
    ).dependencies!;
    const locked = [{ name: 'delivery-dev', repository: 'file://envs/delivery-dev', version: 'v0.1.0' }];
    // `helm dependency update` of ../shared/testdata/charts/delivery with helm v3.17.1 wrote this digest.
    assert.equal(hashRequirements(declared, locked), 'sha256:d84ed7fb5a1a2b068da7d796536ef2c92c405972c1bf1fb10a6420f22b314093');
  });

  it('writes JSON as Go does: struct field order, HTML characters escaped', () => {
    const md = decode('apiVersion: v2\nname: x\nversion: 1.0.0\nkubeVersion: ">=1.23.0-0 && <2"\nannotations:\n  z: 1\n  a: b\n');
    assert.equal(
      goJson(metadataObject(md)),
      '{"name":"x","version":"1.0.0","apiVersion":"v2","annotations":{"a":"b","z":"1"},"kubeVersion":"\\u003e=1.23.0-0 \\u0026\\u0026 \\u003c2"}',
    );
  });
});

describe('helm: the OCI artifact of a chart', () => {
  const md = decode(
    'apiVersion: v2\nname: app\nversion: 1.0.0+b.1\ndescription: An app\nhome: https://example.com\nsources: [https://example.com/src, https://other]\n' +
      'maintainers:\n  - name: A\n    email: a@example.com\n  - name: B\nannotations:\n  org.opencontainers.image.title: not-app\n  org.opencontainers.image.description: overridden\n  custom: x\n',
  );

  it("annotates as helm does: generated ones, then the chart's own, which cannot change title or version", () => {
    assert.deepEqual(chartAnnotations(md, new Date(315532800 * 1000)), {
      custom: 'x',
      'org.opencontainers.image.authors': 'A (a@example.com), B',
      'org.opencontainers.image.created': '1980-01-01T00:00:00Z',
      'org.opencontainers.image.description': 'overridden',
      'org.opencontainers.image.source': 'https://example.com/src',
      'org.opencontainers.image.title': 'app',
      'org.opencontainers.image.url': 'https://example.com',
      'org.opencontainers.image.version': '1.0.0+b.1',
    });
  });

  it('gives the same manifest digest for the same package and epoch, another for another epoch', () => {
    const bytes = Buffer.from('package bytes');
    const a = buildChartArtifact({ bytes, metadata: md, sourceDateEpoch: 315532800 });
    const b = buildChartArtifact({ bytes: Buffer.from(bytes), metadata: md, sourceDateEpoch: 315532800 });
    const c = buildChartArtifact({ bytes, metadata: md, sourceDateEpoch: 315532801 });
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.notEqual(a.manifestDigest, c.manifestDigest);
    const manifest = JSON.parse(a.manifest.toString());
    assert.deepEqual(Object.keys(manifest), ['schemaVersion', 'config', 'layers', 'annotations']);
    assert.equal(manifest.schemaVersion, 2);
  });

  it('derives where the chart goes from chartRepository', () => {
    assert.deepEqual(chartPushLocation('oci://myacr.azurecr.io/helm/', 'app', '1.0.0+b.1'), {
      host: 'myacr.azurecr.io',
      repository: 'helm/app',
      tag: '1.0.0_b.1',
    });
    assert.deepEqual(chartPushLocation('localhost:5000/a/b', 'app', '2.0.0'), {
      host: 'localhost:5000',
      repository: 'a/b/app',
      tag: '2.0.0',
    });
    assert.throws(() => chartPushLocation('myacr.azurecr.io', 'app', '1.0.0'), /chartRepository 'myacr\.azurecr\.io' must be host\/path/);
  });
});
