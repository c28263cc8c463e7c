import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileWriteProblem, folderWriteProblem } from '../../shared/src/writable';
import { makeImmutable, mountReadOnly, undoReadOnly } from '../support/readonly';
import { folderSnapshot } from '../support/snapshot';

describe('proving a folder writable, leaving nothing behind', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-writable-'));
    fs.writeFileSync(path.join(dir, 'a-file'), 'x');
  });
  afterEach(() => {
    undoReadOnly();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('accepts a folder, or folders still to be made, and removes what it made', () => {
    const before = folderSnapshot(dir);
    assert.equal(folderWriteProblem(dir), undefined);
    assert.equal(folderWriteProblem(path.join(dir, 'a', 'b', 'c')), undefined);
    assert.equal(folderSnapshot(dir), before);
  });

  it('names a file where a folder should be, in the path or at its end', () => {
    assert.equal(folderWriteProblem(path.join(dir, 'a-file')), `'${path.join(dir, 'a-file')}' is a file, not a folder`);
    assert.match(folderWriteProblem(path.join(dir, 'a-file', 'sub')) ?? '', /a-file' is a file, so the folder .*sub' cannot be made$/);
    assert.equal(fileWriteProblem(dir), `'${dir}' is a folder, not a file`);
  });

  it('is refused, as root too, by a read-only mount and an immutable folder or file', function () {
    mountReadOnly(this, path.join(dir, 'ro'));
    fs.mkdirSync(path.join(dir, 'frozen'));
    makeImmutable(this, path.join(dir, 'frozen'));
    makeImmutable(this, path.join(dir, 'a-file'));
    assert.match(folderWriteProblem(path.join(dir, 'ro')) ?? '', /^cannot write in '.*ro': it is on a read-only file system \(EROFS\)$/);
    assert.match(folderWriteProblem(path.join(dir, 'ro', 'new', 'deeper')) ?? '', /^cannot make the folder '.*ro\/new': .*\(EROFS\)$/);
    assert.match(folderWriteProblem(path.join(dir, 'frozen')) ?? '', /\(EPERM\)$/);
    assert.match(fileWriteProblem(path.join(dir, 'a-file')) ?? '', /^cannot write '.*a-file': .*\(EPERM\)$/);
    assert.equal(fs.readFileSync(path.join(dir, 'a-file'), 'utf8'), 'x', 'the file is left as it was');
    assert.match(folderWriteProblem('/proc/outerloop-probe') ?? '', /^cannot make the folder '\/proc\/outerloop-probe'/);
  });
});
