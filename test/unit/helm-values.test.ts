import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ChartError } from '../../shared/src/helm/errors';
import { pinImageInValues, type ImagePin } from '../../shared/src/helm/values';
import { needOrSkip, testdataAvailable, testdataRoot } from '../support/env';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const CORPUS = path.join(testdataRoot, 'charts');

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
    assert.equal(pin("image:\n  tag: '1.0' # pinned\n").text, `image:\n  tag: '1.0@${DIGEST}' # pinned\n`);
    assert.equal(pin('image:\n  tag: >-\n    1.0\nz: 1\n').text, `image:\n  tag: "1.0@${DIGEST}"\nz: 1\n`);
  });

  it('sets a digest field instead of touching the tag where the chart has one, and splits off the registry', () => {
    const text = 'image:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.25.3\n  digest: ""\n';
    const result = pin(text, { repository: 'myacr.azurecr.io/team/nginx' });
    assert.deepEqual(values(result.text), {
      image: { registry: 'myacr.azurecr.io', repository: 'team/nginx', tag: '1.25.3', digest: DIGEST },
    });
    assert.match(result.text, /tag: 1\.25\.3\n/);
  });

  it('adds the keys missing from the image map, indented like the file, and fills an empty map', () => {
    const text = 'app:\n    name: greet\n    image:\n    # the image comes next\nother: 1\n';
    const result = pin(text, { valuesKey: 'app.image', repository: 'registry.local:5000/greet', defaultTag: '1.0.0' });
    assert.equal(
      result.text,
      `app:\n    name: greet\n    image:\n        repository: "registry.local:5000/greet"\n        tag: "1.0.0@${DIGEST}"\n    # the image comes next\nother: 1\n`,
    );
    const fromNull = pin('image: ~ # set by CI\nx: 1\n', { repository: 'app', defaultTag: '2' });
    assert.equal(fromNull.text, `image: # set by CI\n  repository: "app"\n  tag: "2@${DIGEST}"\nx: 1\n`);
    assert.equal(pin('x: 1\nimage: {}\n', { defaultTag: '3' }).text, `x: 1\nimage:\n  tag: "3@${DIGEST}"\n`);
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
      () => pin('image:\n  tag: |\n    1.0\n'),
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

  it('fails fast, in one line naming the file, on a YAML alias bomb', () => {
    let bomb = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
    for (let i = 1; i < 10; i++)
      bomb += `a${i}: &a${i} [${Array(9)
        .fill(`*a${i - 1}`)
        .join(', ')}]\n`;
    bomb += 'image:\n  tag: "1"\n';
    const started = Date.now();
    assert.throws(
      () => pin(bomb),
      (e: Error) =>
        e instanceof ChartError &&
        /^chart\/values\.yaml expands YAML aliases more than \d+ times/.test(e.message) &&
        !e.message.includes('\n'),
    );
    assert.ok(Date.now() - started < 1000, `refused in ${Date.now() - started} ms`);
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
