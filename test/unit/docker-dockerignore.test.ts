import { strict as assert } from 'node:assert';
import { Dockerignore, DockerignoreError } from '../../shared/src/docker/dockerignore';

const excludes = (patterns: string, name: string) => Dockerignore.parse(patterns).excludes(name);

describe('.dockerignore as Docker reads and matches it', () => {
  // moby/patternmatcher's own table (TestMatches), which Docker's build context follows.
  const docker: Array<[string, string, boolean]> = [
    ['**', 'file', true],
    ['**', 'file/', true],
    ['**/', 'file', true],
    ['**', 'dir/file', true],
    ['**/**', 'dir/file', true],
    ['dir/**', 'dir/file', true],
    ['dir/**', 'dir/dir2/file', true],
    ['**/dir', 'dir', true],
    ['**/dir', 'dir/file', true],
    ['**/dir2/*', 'dir/dir2/file', true],
    ['**/dir2/**', 'dir/dir2/dir3/file', true],
    ['**file', 'file', true],
    ['**file', 'dir/file', true],
    ['**/file', 'dir/dir/file', true],
    ['**/file*', 'dir/dir/file.txt', true],
    ['**/file*txt', 'dir/dir/file.txt', true],
    ['**/**/*.txt', 'dir/dir/file.txt', true],
    ['**/**/*.txt2', 'dir/dir/file.txt', false],
    ['**/*.txt', 'file.txt', true],
    ['a**/*.txt', 'a/file.txt', true],
    ['a**/*.txt', 'a/dir/dir/file.txt', true],
    ['a/*.txt', 'a/dir/file.txt', false],
    ['a/*.txt', 'a/file.txt', true],
    ['a/*.txt**', 'a/file.txt', true],
    ['a[b-d]e', 'ae', false],
    ['a[b-d]e', 'ace', true],
    ['a[b-d]e', 'aae', false],
    ['a[^b-d]e', 'aze', true],
    ['.*', '.foo', true],
    ['.*', 'foo', false],
    ['abc.def', 'abcdef', false],
    ['abc.def', 'abc.def', true],
    ['abc?def', 'abcZdef', true],
    ['abc?def', 'abcdef', false],
    ['a\\\\', 'a\\', true],
    ['**/foo/bar', 'foo/bar', true],
    ['**/foo/bar', 'dir/dir2/foo/bar', true],
    ['abc/**', 'abc', false],
    ['abc/**', 'abc/def/ghi', true],
    ['**/.foo', '.foo', true],
    ['**/.foo', 'bar.foo', false],
    ['a(b)c/def', 'a(b)c/def', true],
    ['a(b)c/def', 'a(b)c/xyz', false],
    ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
    ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ];
  for (const [pattern, name, expected] of docker) {
    it(`'${pattern}' ${expected ? 'excludes' : 'keeps'} '${name}'`, () => assert.equal(excludes(pattern, name), expected));
  }

  it('cleans patterns as Docker does (leading /, ./, trailing /) and lets a later ! bring a path back', () => {
    assert.equal(excludes('/secrets/', 'secrets/token'), true);
    assert.equal(excludes('./build', 'build/out.o'), true);
    assert.equal(excludes('*.local\n!keep.local', 'keep.local'), false);
    assert.equal(excludes('*.local\n!keep.local\nkeep.*', 'keep.local'), true);
    assert.equal(excludes('  # not a comment once indented', '# not a comment once indented'), true);
    assert.equal(excludes('\uFEFF# a comment, after the BOM\nx', '# a comment, after the BOM'), false);
  });

  // No clock: a backtracking matcher would not end this test within the suite's timeout.
  it('matches in time linear in the path, where a regular expression backtracks for minutes', () => {
    const rules = Dockerignore.parse(`${'**/'.repeat(16)}x\n${'**/d/'.repeat(12)}x\n`);
    const deep = `${'d/'.repeat(400)}file`;
    assert.equal(rules.excludes(deep), false);
  });

  describe('refuses what Docker refuses, naming the file, the line and the pattern', () => {
    const refused: Array<[string, RegExp]> = [
      ['[', /a '\[' has no closing '\]'/],
      ['src/[a-', /a '\[' has no closing '\]'/],
      ['logs\\', /ends with a '\\' that escapes nothing/],
      ['[]a]', /has '\]' where a character belongs/],
      ['[-a]', /has '-' where a character belongs/],
      ['[z-a].txt', /the range 'z-a' runs backwards/],
      ['!', /'!' alone brings nothing back/],
    ];
    for (const [pattern, reason] of refused) {
      it(`'${pattern}'`, () => {
        assert.throws(
          () => Dockerignore.parse(`# header\nnode_modules\n${pattern}\n`, '/ctx/.dockerignore'),
          (error: unknown) => {
            assert.ok(error instanceof DockerignoreError);
            assert.equal(error.line, 3);
            assert.equal(error.file, '/ctx/.dockerignore');
            assert.match(error.message, /^'\/ctx\/\.dockerignore' line 3: '.*' is not a valid pattern: /);
            assert.match(error.reason, reason);
            assert.doesNotMatch(error.message, /regular expression/i);
            return true;
          },
        );
      });
    }
  });
});
