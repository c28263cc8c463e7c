import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  emptyLock,
  mergeLock,
  outputNameOf,
  parseLock,
  readLockFile,
  recordInLockFile,
  serializeLock,
  type LockedChart,
  type LockedImage,
} from '../../shared/src/release';

const d1 = `sha256:${'1'.repeat(64)}`;
const d2 = `sha256:${'2'.repeat(64)}`;

function pushed(repository: string, digest: string, tags: string[], buildId = '41'): LockedImage {
  return {
    kind: 'image',
    repository,
    tags,
    digest,
    pinnedReference: `${repository}@${digest}`,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    buildId,
    sourceVersion: 'abc123',
    pushedAt: `2026-01-0${buildId.length}T00:00:00.000Z`,
  };
}

describe('lock file (the release bill of materials)', () => {
  it('merges a re-run of the same push instead of duplicating it, keeping tag order and taking new details', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41', 'latest']));
    lock = mergeLock(lock, pushed('r.io/team/app', d1, ['latest', 'stable'], '411'));
    assert.equal(lock.entries.length, 1);
    assert.deepEqual(lock.entries[0].tags, ['41', 'latest', 'stable']);
    assert.equal(lock.entries[0].buildId, '411');
  });

  it('keeps several repositories, and several digests of one repository side by side', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41']));
    lock = mergeLock(lock, pushed('r.io/team/app-testrunner', d2, ['41']));
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['41-debug']));
    assert.deepEqual(
      lock.entries.map((e) => `${e.repository}@${e.digest.slice(7, 8)}:${e.tags.join(',')}`),
      ['r.io/team/app@1:41', 'r.io/team/app-testrunner@2:41', 'r.io/team/app@2:41-debug'],
    );
  });

  it('moves a tag that now names another digest, and drops an entry left without tags', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41', 'latest']));
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['latest']));
    assert.deepEqual(
      lock.entries.map((e) => [e.digest, e.tags]),
      [
        [d1, ['41']],
        [d2, ['latest']],
      ],
    );
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['41']));
    assert.deepEqual(
      lock.entries.map((e) => [e.digest, e.tags]),
      [[d2, ['latest', '41']]],
    );
  });

  it('round-trips through its text with a stable key order', () => {
    const lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41']));
    const text = serializeLock(lock);
    assert.deepEqual(parseLock(text), lock);
    assert.deepEqual(Object.keys(JSON.parse(text).entries[0]), [
      'kind',
      'repository',
      'tags',
      'digest',
      'pinnedReference',
      'mediaType',
      'buildId',
      'sourceVersion',
      'pushedAt',
    ]);
    assert.ok(text.endsWith('}\n'));
  });

  it('refuses text that is not a lock file, naming what is wrong', () => {
    assert.throws(() => parseLock('{', 'x.json'), /x\.json is not JSON/);
    assert.throws(() => parseLock('{"version":1}'), /no "images" list/);
    assert.throws(() => parseLock('{"version":2,"images":[]}'), /no "entries" list/);
    assert.throws(() => parseLock('{"version":3,"entries":[]}'), /has version 3; this task reads versions 1 and 2/);
    assert.throws(
      () => parseLock('{"version":1,"images":[{"repository":"a","tags":[],"digest":"sha256:12"}]}'),
      /images\[0\]: it has no sha256 digest/,
    );
    assert.throws(
      () => parseLock(`{"version":2,"entries":[{"kind":"helm","repository":"a","tags":[],"digest":"${d1}"}]}`),
      /entries\[0\]: its kind is "helm"/,
    );
    const chartWithoutScheme = { ...chart(d1), repository: 'r.io/helm/app' };
    assert.throws(
      () => parseLock(JSON.stringify({ version: 2, entries: [chartWithoutScheme] })),
      /entries\[0\]: its repository does not start with oci:\/\//,
    );
  });

  it('is merged on disk by recordInLockFile, which never leaves a temporary file behind', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-lock-'));
    try {
      const file = path.join(dir, 'staging', 'image-lock.json');
      assert.deepEqual(readLockFile(file), emptyLock());
      recordInLockFile(file, pushed('r.io/team/app', d1, ['41']));
      recordInLockFile(file, pushed('r.io/team/app', d1, ['41']));
      recordInLockFile(file, pushed('r.io/team/web', d2, ['41']));
      const lock = readLockFile(file);
      assert.deepEqual(
        lock.entries.map((e) => e.repository),
        ['r.io/team/app', 'r.io/team/web'],
      );
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['image-lock.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a version 1 file (written by PushImageByDigest before charts were recorded) as image entries', () => {
    const v1 = { version: 1, images: [{ ...pushed('r.io/team/app', d1, ['41']), kind: undefined }] };
    const lock = parseLock(JSON.stringify(v1));
    assert.equal(lock.version, 2);
    assert.deepEqual(lock.entries, [pushed('r.io/team/app', d1, ['41'])]);
  });

  it('holds a chart beside the images it pins, merged by (kind, repository, digest), in a stable key order', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41']));
    lock = mergeLock(lock, chart(d2));
    lock = mergeLock(lock, chart(d2));
    assert.deepEqual(
      lock.entries.map((e) => [e.kind, e.repository]),
      [
        ['image', 'r.io/team/app'],
        ['chart', 'oci://r.io/helm/app'],
      ],
    );
    const text = serializeLock(lock);
    assert.deepEqual(parseLock(text), lock);
    assert.deepEqual(Object.keys(JSON.parse(text).entries[1]), [
      'kind',
      'repository',
      'name',
      'version',
      'tags',
      'digest',
      'pinnedReference',
      'mediaType',
      'images',
      'buildId',
      'pushedAt',
    ]);
  });

  it("names each entry's output variable after its last path segment, charts apart from images", () => {
    assert.equal(outputNameOf({ kind: 'image', repository: 'r.io/team/order-api' }), 'pinned_order_api');
    assert.equal(outputNameOf({ kind: 'image', repository: 'localhost:5000/a.b/web.v2' }), 'pinned_web_v2');
    assert.equal(outputNameOf({ kind: 'chart', repository: 'oci://r.io/helm/order-api' }), 'chart_order_api');
  });
});

function chart(digest: string): LockedChart {
  return {
    kind: 'chart',
    repository: 'oci://r.io/helm/app',
    name: 'app',
    version: '1.2.3+build.4',
    tags: ['1.2.3_build.4'],
    digest,
    pinnedReference: `oci://r.io/helm/app@${digest}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    images: [{ repository: 'r.io/team/app', digest: d1 }],
    buildId: '41',
    pushedAt: '2026-01-01T00:00:00.000Z',
  };
}
