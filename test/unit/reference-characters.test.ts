import { strict as assert } from 'node:assert';
import { characterProblem, parseReference, printable, tagProblem } from '../../shared/src/reference';

describe('image references: characters the grammar does not allow, named rather than rewritten', () => {
  const cases: Array<[string, RegExp]> = [
    ['sаmple:1', /^'а' \(U\+0430\) is not ASCII, though it looks like 'a': image references are ASCII only$/],
    ['ѕample:1', /'ѕ' \(U\+0455\) is not ASCII, though it looks like 's'/],
    ['οuterloop:1', /'ο' \(U\+03BF\) is not ASCII, though it looks like 'o'/],
    ['ａpp:1', /'ａ' \(U\+FF41\) is not ASCII, though it looks like 'a'/],
    ['café:1', /'é' \(U\+00E9\) is not ASCII, though it looks like 'e'/],
    ['app\u200b:1', /^U\+200B is not ASCII: image references are ASCII only$/],
    ['app:1\nlatest', /^it contains a line break$/],
    ['app:1\tx', /^it contains the control character U\+0009$/],
    ['服务:1', /^'服' \(U\+670D\) is not ASCII: image references are ASCII only$/],
  ];
  for (const [text, reason] of cases) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.match(characterProblem(text) ?? '', reason);
      assert.throws(
        () => parseReference(text),
        (error: Error & { reason?: string }) => reason.test(error.reason ?? ''),
      );
    });
  }

  it('accepts printable ASCII', () => assert.equal(characterProblem('r.io:5000/team/app:v1.0_rc-1'), undefined));

  it('refuses a tag longer than 128 characters, and one with a look-alike letter, with the reason', () => {
    assert.equal(tagProblem('t'.repeat(200)), 'a tag has at most 128 characters, this one has 200');
    assert.match(tagProblem('v1-rс1') ?? '', /^tag 'v1-rс1': 'с' \(U\+0441\) is not ASCII, though it looks like 'c'/);
  });

  it('quotes a value in one short line: control and invisible characters escaped, long values cut', () => {
    assert.equal(printable('a\nb\r\tc\u200bd\u00a0e'), 'a\\nb\\r\\tc\\u{200B}d\\u{00A0}e');
    assert.equal(printable(`${'x'.repeat(300)}`), `${'x'.repeat(200)}… (300 characters)`);
    assert.throws(
      () => parseReference(`app:1\n${'y'.repeat(500)}`),
      (error: Error) => !error.message.includes('\n') && error.message.length < 300,
    );
  });
});
