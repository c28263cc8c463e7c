import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { listContext, packBuildContext } from '../../shared/src/docker/context';

async function tarNames(
  stream: NodeJS.ReadableStream | AsyncIterable<unknown>,
): Promise<Map<string, { type: string; body: string; linkname?: string }>> {
  const extract = tar.extract();
  const names = new Map<string, { type: string; body: string; linkname?: string }>();
  (stream as NodeJS.ReadableStream).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    names.set(entry.header.name, {
      type: entry.header.type ?? 'file',
      body: Buffer.concat(chunks).toString(),
      linkname: entry.header.linkname ?? undefined,
    });
  }
  return names;
}

describe('build context', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-context-'));
    const files: Record<string, string> = {
      Dockerfile: 'FROM scratch\n',
      '.dockerignore': '# comment\nnode_modules\n**/*.local\nsecrets/\n!keep.local\ndocs/*.md\n',
      'src/app.sh': 'echo app',
      'src/dev.local': 'x',
      'keep.local': 'kept by an exception',
      'node_modules/lib/index.js': 'x',
      'secrets/token': 'x',
      'docs/a.md': 'x',
      'docs/b.txt': 'y',
    };
    for (const [name, body] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), body);
    }
    fs.symlinkSync('src/app.sh', path.join(dir, 'app-link'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('leaves out what .dockerignore excludes, honouring ! exceptions', async () => {
    const names = (await listContext(dir)).map((e) => e.name);
    assert.deepEqual(names, ['.dockerignore', 'Dockerfile', 'app-link', 'docs', 'docs/b.txt', 'keep.local', 'src', 'src/app.sh']);
  });

  it('always sends the Dockerfile and .dockerignore, even when excluded', async () => {
    fs.appendFileSync(path.join(dir, '.dockerignore'), 'Dockerfile\n.dockerignore\nbuild/\n');
    fs.mkdirSync(path.join(dir, 'build'));
    fs.writeFileSync(path.join(dir, 'build', 'Dockerfile'), 'FROM scratch\n');
    const packed = await packBuildContext(dir, path.join(dir, 'build', 'Dockerfile'));
    assert.equal(packed.dockerfile, 'build/Dockerfile');
    const names = await tarNames(packed.stream);
    assert.ok(names.has('build/Dockerfile'));
    assert.ok(names.has('.dockerignore'));
    assert.ok(!names.has('Dockerfile'), 'an excluded Dockerfile that is not the one built stays out');
  });

  it('packs file contents and links, and carries a Dockerfile from outside the context under a generated name', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-dockerfile-'));
    try {
      fs.writeFileSync(path.join(outside, 'Custom.Dockerfile'), 'FROM scratch AS custom\n');
      const packed = await packBuildContext(dir, path.join(outside, 'Custom.Dockerfile'));
      assert.match(packed.dockerfile, /^\.dockerfile\.[0-9a-f]{20}$/);
      const names = await tarNames(packed.stream);
      assert.equal(names.get(packed.dockerfile)?.body, 'FROM scratch AS custom\n');
      assert.equal(names.get('src/app.sh')?.body, 'echo app');
      assert.deepEqual(names.get('app-link'), { type: 'symlink', body: '', linkname: 'src/app.sh' });
      assert.equal(names.size, packed.entries);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('names a context folder that does not exist', async () => {
    await assert.rejects(
      packBuildContext(path.join(dir, 'nope'), path.join(dir, 'Dockerfile')),
      /the build context '.*nope' is not a folder/,
    );
  });
});
