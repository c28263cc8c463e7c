import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emptyLock, mergeLock, parseLock, serializeLock, type LockedImage } from '../../shared/src/docker/lockfile';
import { readLockFile, recordInLockFile } from '../../shared/src/docker/push';

const d1 = `sha256:${'1'.repeat(64)}`;
const d2 = `sha256:${'2'.repeat(64)}`;

function pushed(repository: string, digest: string, tags: string[], buildId = '41'): LockedImage {
  return {
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

describe('image lock file', () => {
  it('merges a re-run of the same push instead of duplicating it, keeping tag order and taking new details', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41', 'latest']));
    lock = mergeLock(lock, pushed('r.io/team/app', d1, ['latest', 'stable'], '411'));
    assert.equal(lock.images.length, 1);
    assert.deepEqual(lock.images[0].tags, ['41', 'latest', 'stable']);
    assert.equal(lock.images[0].buildId, '411');
  });

  it('keeps several repositories, and several digests of one repository side by side', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41']));
    lock = mergeLock(lock, pushed('r.io/team/app-testrunner', d2, ['41']));
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['41-debug']));
    assert.deepEqual(
      lock.images.map((e) => `${e.repository}@${e.digest.slice(7, 8)}:${e.tags.join(',')}`),
      ['r.io/team/app@1:41', 'r.io/team/app-testrunner@2:41', 'r.io/team/app@2:41-debug'],
    );
  });

  it('moves a tag that now names another digest, and drops an entry left without tags', () => {
    let lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41', 'latest']));
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['latest']));
    assert.deepEqual(
      lock.images.map((e) => [e.digest, e.tags]),
      [
        [d1, ['41']],
        [d2, ['latest']],
      ],
    );
    lock = mergeLock(lock, pushed('r.io/team/app', d2, ['41']));
    assert.deepEqual(
      lock.images.map((e) => [e.digest, e.tags]),
      [[d2, ['latest', '41']]],
    );
  });

  it('round-trips through its text with a stable key order', () => {
    const lock = mergeLock(emptyLock(), pushed('r.io/team/app', d1, ['41']));
    const text = serializeLock(lock);
    assert.deepEqual(parseLock(text), lock);
    assert.deepEqual(Object.keys(JSON.parse(text).images[0]), [
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
    assert.throws(() => parseLock('{"version":2,"images":[]}'), /version 2/);
    assert.throws(() => parseLock('{"version":1,"images":[{"repository":"a","tags":[],"digest":"sha256:12"}]}'), /images\[0\]/);
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
        lock.images.map((e) => e.repository),
        ['r.io/team/app', 'r.io/team/web'],
      );
      assert.deepEqual(fs.readdirSync(path.dirname(file)), ['image-lock.json']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
