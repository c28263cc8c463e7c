import { strict as assert } from 'node:assert';
import { goPathMatch, IgnoreRules } from '../../shared/src/helm/ignore';

describe('helm: Go filepath.Match port', () => {
  // Cases from Go's path/filepath match_test.go; 'bad' is ErrBadPattern.
  const cases: [string, string, boolean | 'bad'][] = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', 'a', false],
    ['[]a]', ']', 'bad'],
    ['[-]', '-', 'bad'],
    ['[x-]', 'x', 'bad'],
    ['[-x]', 'x', 'bad'],
    ['\\', 'a', 'bad'],
    ['[a-b-c]', 'a', 'bad'],
    ['[', 'a', 'bad'],
    ['[^', 'a', 'bad'],
    ['[^bc', 'a', 'bad'],
    ['a[', 'a', 'bad'],
    ['a[', 'ab', 'bad'],
    ['a[', 'x', 'bad'],
    ['a/b[', 'x', 'bad'],
    ['*x', 'xxx', true],
  ];
  for (const [pattern, name, want] of cases) {
    it(`Match(${JSON.stringify(pattern)}, ${JSON.stringify(name)}) is ${want}`, () => {
      if (want === 'bad') assert.throws(() => goPathMatch(pattern, name));
      else assert.equal(goPathMatch(pattern, name), want);
    });
  }
});

describe('helm: .helmignore rules (helm v3 pkg/ignore semantics)', () => {
  const rules = (text: string) => IgnoreRules.parse(text);

  it('matches a pattern without / against the base name at any depth', () => {
    const r = rules('*.bak\nREADME.md\n');
    assert.equal(r.ignores('values.bak', false), true);
    assert.equal(r.ignores('templates/deep/x.bak', false), true);
    assert.equal(r.ignores('docs/README.md', false), true);
    assert.equal(r.ignores('values.yaml', false), false);
  });

  it('matches a pattern with / against the whole path, and a leading / anchors nothing more', () => {
    const r = rules('docs/*.md\n/top.txt\n');
    assert.equal(r.ignores('docs/a.md', false), true);
    assert.equal(r.ignores('docs/sub/a.md', false), false, '* does not cross /');
    assert.equal(r.ignores('x/docs/a.md', false), false);
    assert.equal(r.ignores('top.txt', false), true);
    assert.equal(r.ignores('sub/top.txt', false), false);
  });

  it('applies a trailing / only to directories', () => {
    const r = rules('ci/\n');
    assert.equal(r.ignores('ci', true), true);
    assert.equal(r.ignores('ci', false), false);
    assert.equal(r.ignores('templates/ci', true), true, 'a base-name rule matches nested folders too');
  });

  it('always appends templates/.?* (dot files directly under templates/ only)', () => {
    const r = rules('');
    assert.equal(r.ignores('templates/.hidden', false), true);
    assert.equal(r.ignores('templates/.a', false), true);
    assert.equal(r.ignores('templates/.', false), false);
    assert.equal(r.ignores('templates/sub/.hidden', false), false);
    assert.equal(r.ignores('.hidden', false), false);
    assert.equal(IgnoreRules.parse('', false).ignores('templates/.hidden', false), false);
  });

  it('reads a negated rule as helm does: it ignores every path the pattern does NOT match', () => {
    const r = rules('!*.txt\n');
    assert.equal(r.ignores('Chart.yaml', false), true);
    assert.equal(r.ignores('notes.txt', false), false);
    const dirOnly = rules('!keep/\n');
    assert.equal(dirOnly.ignores('file', false), true, 'a directory-only negation ignores every file');
  });

  it('skips comments and blank lines, trims lines and accepts CRLF and a missing final newline', () => {
    const r = rules('# comment\r\n\r\n   *.tmp   \r\n*.orig');
    assert.equal(r.length, 3);
    assert.equal(r.ignores('a.tmp', false), true);
    assert.equal(r.ignores('a.orig', false), true);
  });

  it('refuses ** and malformed patterns, naming them', () => {
    assert.throws(() => rules('docs/**/x\n'), /pattern 'docs\/\*\*\/x': double-star/);
    assert.throws(() => rules('a[\n'), /pattern 'a\[' is malformed/);
  });

  it('never ignores the chart root', () => {
    assert.equal(rules('*\n').ignores('', true), false);
    assert.equal(rules('*\n').ignores('.', true), false);
  });
});
