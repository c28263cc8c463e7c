import { strict as assert } from 'node:assert';
import { code, codeBlock, escapeCell, escapeText, formatDuration, link, plural, table } from '../../shared/src/markdown';

describe('markdown: text from outside renders as text (CommonMark 0.31 §2.4 backslash escapes, GFM §4.10 tables)', () => {
  it('escapes HTML and inline markup, and keeps the value on one line', () => {
    assert.equal(escapeText('<img src=x onerror=alert(1)> & co'), '&lt;img src=x onerror=alert\\(1\\)&gt; &amp; co');
    assert.equal(
      escapeText('**bold** _em_ `code` [a](b) ![i](j) ~~s~~ #1 a|b \\'),
      '\\*\\*bold\\*\\* \\_em\\_ \\`code\\` \\[a\\]\\(b\\) \\!\\[i\\]\\(j\\) \\~\\~s\\~\\~ \\#1 a\\|b \\\\',
    );
    assert.equal(escapeText('  first\r\nsecond\n\tthird  '), 'first second third');
  });

  it('escapes what would start a block: a list item, a setext underline, an ordered item', () => {
    assert.equal(escapeText('- not a list'), '\\- not a list');
    assert.equal(escapeText('==='), '\\===');
    assert.equal(escapeText('1. first'), '1\\. first');
    assert.equal(escapeText('2) second'), '2\\) second');
    assert.equal(escapeText('+ plus'), '\\+ plus');
    assert.equal(escapeText('1.4.0'), '1\\.4.0');
    assert.equal(escapeText('a - b'), 'a - b', 'only at the start');
    assert.equal(escapeCell('1. first'), '1. first', 'a cell cannot start a block');
  });

  it('cuts a cell to its bound, on the text and never inside a character', () => {
    assert.equal(escapeCell(undefined), '');
    assert.equal(escapeCell(''), '');
    assert.equal(escapeCell('abcdef', 4), 'abc…');
    assert.equal(escapeCell('abcd', 4), 'abcd');
    assert.equal(escapeCell('a\nb', 4), 'a b');
    assert.equal(escapeCell('||||||', 4), '\\|\\|\\|…', 'counted before escaping');
    const emoji = '😀'.repeat(5);
    assert.equal(escapeCell(emoji, 3), '😀😀…', 'a surrogate pair is one character');
    assert.equal(escapeCell('x'.repeat(500)).length, 200);
  });

  it('code spans show their content exactly, however many backticks it holds', () => {
    assert.equal(code('docker run app'), '`docker run app`');
    assert.equal(code('a `b` c'), '``a `b` c``');
    assert.equal(code('``x'), '``` ``x ```');
    assert.equal(code('x`'), '`` x` ``');
    assert.equal(code(' padded '), '`  padded  `', 'CommonMark strips one space each side');
    assert.equal(code('   '), '`   `', 'only spaces: nothing is stripped');
    assert.equal(code('<b>|</b>'), '`<b>|</b>`', 'HTML and pipes are literal in a code span outside a table');
    assert.equal(code('two\nlines'), '`two lines`');
    assert.equal(code(''), '');
  });

  it('code blocks have a fence longer than any run of backticks inside', () => {
    assert.equal(codeBlock('docker pull a@sha256:1'), '```\ndocker pull a@sha256:1\n```');
    assert.equal(codeBlock('a\n````\nb', 'sh'), '`````sh\na\n````\nb\n`````');
    assert.equal(codeBlock('x', 'sh; rm'), '```\nx\n```', 'an info string that is not a language is dropped');
  });

  it('links only to http and https, with a destination that cannot end early', () => {
    assert.equal(link('app tags', 'https://hub.docker.com/r/team/app/tags'), '[app tags](https://hub.docker.com/r/team/app/tags)');
    assert.equal(link('x', 'https://e.test/a (b)<c>'), '[x](https://e.test/a%20%28b%29%3Cc%3E)');
    assert.equal(link('x', 'https://e.test/?q=a\\b'), '[x](https://e.test/?q=a%5Cb)');
    assert.equal(link('[evil]', 'javascript:alert(1)'), '\\[evil\\]');
    assert.equal(link('relative', '/r/x'), 'relative');
  });
});

describe('markdown: tables', () => {
  it('builds a header, a delimiter row with alignments, and rows', () => {
    assert.equal(
      table(
        ['Name', { header: 'Count', align: 'right' }, { header: 'Mid', align: 'center' }, { header: 'L', align: 'left' }],
        [
          ['a', '1', 'm', 'l'],
          ['b', '', '', ''],
        ],
      ),
      ['| Name | Count | Mid | L |', '| --- | ---: | :---: | :--- |', '| a | 1 | m | l |', '| b | | | |'].join('\n'),
    );
  });

  it('escapes the headers, and every pipe a cell holds unless it is already escaped', () => {
    const md = table(['a|b'], [[code('x | y')], [escapeCell('p | q')], ['line\nbreak']]);
    assert.deepEqual(md.split('\n'), ['| a\\|b |', '| --- |', '| `x \\| y` |', '| p \\| q |', '| line break |']);
    // GFM unescapes `\|` in a cell before it parses code spans, so a code span in a table cannot show a backslash
    // before a pipe; the row still holds one cell.
    assert.equal(table(['c'], [[code('\\|')]]).split('\n')[2], '| `\\|` |');
  });

  it('pads a short row; a long row is a mistake', () => {
    assert.equal(table(['a', 'b'], [['1']]).split('\n')[2], '| 1 | |');
    assert.throws(() => table(['a'], [['1', '2']]), /2 cells for 1 columns/);
  });

  it('formats durations and counts for people', () => {
    assert.equal(formatDuration(12), '12 ms');
    assert.equal(formatDuration(1234), '1.23 s');
    assert.equal(formatDuration(61_000), '1 min 1 s');
    assert.equal(formatDuration(3_720_000), '1 h 2 min');
    assert.equal(plural(1, 'tag'), '1 tag');
    assert.equal(plural(0, 'tag'), '0 tags');
    assert.equal(plural(3, 'entry', 'entries'), '3 entries');
  });
});
