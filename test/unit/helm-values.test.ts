import { strict as assert } from 'node:assert';
import * as yaml from 'js-yaml';
import { ChartError } from '../../shared/src/helm/errors';
import { pinImageInValues, type ImagePin } from '../../shared/src/helm/values';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function pin(text: string, extra: Partial<ImagePin> = {}) {
  return pinImageInValues(text, { valuesKey: 'image', digest: DIGEST, ...extra }, 'chart/values.yaml');
}

describe('helm: pinning the image by digest in values.yaml', () => {
  it('appends the digest to the tag and changes only that line (podinfo layout)', () => {
    const text = '# Default values\nreplicaCount: 1\nimage:\n  repository: ghcr.io/stefanprodan/podinfo\n  tag: 6.14.1\n  pullPolicy: IfNotPresent\n\nprefix: /\n';
    const result = pin(text);
    assert.equal(result.commentsKept, true);
    assert.equal(result.text, text.replace('  tag: 6.14.1', `  tag: "6.14.1@${DIGEST}"`));
    assert.deepEqual(result.settings, [`image.tag=6.14.1@${DIGEST}`]);
  });

  it('uses the appVersion when the tag is empty, keeping the comment above and beside it (alertmanager layout)', () => {
    const text = 'image:\n  repository: quay.io/prometheus/alertmanager\n  pullPolicy: IfNotPresent\n  # Overrides the image tag whose default is the chart appVersion.\n  tag: ""   # empty: appVersion\n\nbaseURL: ""\n';
    const result = pin(text, { defaultTag: 'v0.34.0' });
    assert.equal(result.text, text.replace('  tag: ""   # empty: appVersion', `  tag: "v0.34.0@${DIGEST}"   # empty: appVersion`));
  });

  it('fills null repository and tag and replaces a previous digest (delivery layout)', () => {
    const text = 'dockerregistry:\nimage:\n  repository:\n  tag:\n  pullPolicy: IfNotPresent\ncosmosdb:\n  id:\n';
    const result = pin(text, { repository: 'myacr.azurecr.io/delivery', defaultTag: 'v0.1.0' });
    assert.equal(
      result.text,
      `dockerregistry:\nimage:\n  repository: "myacr.azurecr.io/delivery"\n  tag: "v0.1.0@${DIGEST}"\n  pullPolicy: IfNotPresent\ncosmosdb:\n  id:\n`,
    );
    const again = pin(result.text, { defaultTag: 'v9' });
    assert.match(again.text, new RegExp(`tag: "v0\\.1\\.0@${DIGEST}"`), 'a tag that already carries a digest keeps its tag part');
  });

  it('sets a digest field instead of touching the tag where the chart has one, and splits off the registry', () => {
    const text = 'image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n  digest: ""\n';
    const result = pin(text, { repository: 'myacr.azurecr.io/team/nginx' });
    assert.deepEqual(yaml.load(result.text), {
      image: { registry: 'myacr.azurecr.io', repository: 'team/nginx', tag: '1.25.3', digest: DIGEST },
    });
    assert.match(result.text, /tag: 1\.25\.3\n/);
  });

  it('creates the maps and keys that are missing under a dotted key path', () => {
    const text = 'app:\n  name: greet\n  # the image comes next\nother: 1\n';
    const result = pin(text, { valuesKey: 'app.image', repository: 'registry.local:5000/greet', defaultTag: '1.0.0' });
    assert.equal(result.commentsKept, true);
    assert.deepEqual(yaml.load(result.text), {
      app: { name: 'greet', image: { repository: 'registry.local:5000/greet', tag: `1.0.0@${DIGEST}` } },
      other: 1,
    });
    assert.match(result.text, /# the image comes next/);
    const fromEmpty = pin('', { defaultTag: '1.0.0' });
    assert.deepEqual(yaml.load(fromEmpty.text), { image: { tag: `1.0.0@${DIGEST}` } });
    const fromNull = pin('image: ~ # set by CI\n', { repository: 'app', defaultTag: '2' });
    assert.equal(fromNull.text, `image: # set by CI\n  repository: "app"\n  tag: "2@${DIGEST}"\n`);
  });

  it('keeps CRLF line ends and a missing final newline', () => {
    const crlf = pin('image:\r\n  repository: app\r\n  tag: "1"\r\nx: 1\r\n');
    assert.equal(crlf.text, `image:\r\n  repository: app\r\n  tag: "1@${DIGEST}"\r\nx: 1\r\n`);
    const noFinal = pin('x: 1\nimage:\n  repository: app', { defaultTag: '3' });
    assert.equal(noFinal.text, `x: 1\nimage:\n  repository: app\n  tag: "3@${DIGEST}"`);
  });

  it('falls back to re-serialising when the layout cannot be edited in place, and says so', () => {
    const flow = pin('image: {repository: app, tag: "1"}\n');
    assert.equal(flow.commentsKept, false);
    assert.deepEqual(yaml.load(flow.text), { image: { repository: 'app', tag: `1@${DIGEST}` } });
    const anchored = pin('base: &img\n  repository: app\n  tag: "1"\nimage: *img\n');
    assert.equal(anchored.commentsKept, false);
    assert.deepEqual((yaml.load(anchored.text) as Record<string, unknown>).image, { repository: 'app', tag: `1@${DIGEST}` });
  });

  it('refuses a key path that is not a map, naming it and what it holds', () => {
    assert.throws(
      () => pin('image: nginx:1.25\n'),
      (e: Error) => e instanceof ChartError && /values key path 'image' in chart\/values\.yaml is not a map \(it holds the string 'nginx:1\.25'\)/.test(e.message),
    );
    assert.throws(() => pin('app:\n  - image\n', { valuesKey: 'app.image' }), /values key path 'app' .* is not a map \(it holds a list\)/);
    assert.throws(() => pin('image:\n  tag: [1]\n'), /'image\.tag' in chart\/values\.yaml is not a scalar/);
  });

  it('refuses malformed inputs and a tag it cannot know', () => {
    assert.throws(() => pinImageInValues('', { valuesKey: 'image', digest: 'sha256:abc' }, 'v'), /imageDigest 'sha256:abc' is not a digest/);
    assert.throws(() => pinImageInValues('', { valuesKey: 'a..b', digest: DIGEST }, 'v'), /imageValuesKey 'a\.\.b' is not a dotted key path/);
    assert.throws(() => pin('', { repository: 'MyAcr.azurecr.io/App:1' }), /imageRepository 'MyAcr.azurecr.io\/App:1' is not an image repository/);
    assert.throws(() => pin('image:\n  repository: app\n'), /'image\.tag' is empty and the chart has no appVersion/);
    assert.throws(() => pin('- a\n'), /chart\/values\.yaml is not a map of values/);
  });
});
