// Masking covers every form a secret takes on its way out (issue: a token service echoing its request form put the
// form-encoded password into the Failed line while the plain and base64 forms were masked).
import { strict as assert } from 'node:assert';
import { redact, registerSecret, secretForms } from '../../shared/src/pipeline/secrets';

describe('pipeline secrets: every encoding is masked', () => {
  const password = 'p@ss wörd%;"\\/+=x';
  before(() => registerSecret(password));

  const encodings: [string, string][] = [
    ['plain', password],
    ['base64', Buffer.from(password).toString('base64')],
    ['base64 without padding', Buffer.from(password).toString('base64').replace(/=+$/, '')],
    ['base64url', Buffer.from(password).toString('base64url')],
    ['URL (encodeURIComponent)', encodeURIComponent(password)],
    ['form body (URLSearchParams)', new URLSearchParams({ password }).toString().slice('password='.length)],
    ['URL with lower-case hex', encodeURIComponent(password).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())],
    ['JSON string', JSON.stringify(password).slice(1, -1)],
  ];
  it('knows every encoding of this value (at least 6 distinct ones)', () => {
    assert.ok(new Set(encodings.map(([, form]) => form)).size >= 6);
    for (const [, form] of encodings) assert.ok(secretForms(password).includes(form), form);
  });
  for (const [name, form] of encodings) {
    it(`masks the ${name} form inside a line`, () => {
      const line = `token service said: invalid request (grant_type=password&password=${form}&scope=x)`;
      const masked = redact(line);
      assert.ok(!masked.includes(form), masked);
      assert.match(masked, /\*\*\*/);
    });
  }
  it('leaves values shorter than 4 characters alone (they would mask ordinary words)', () => {
    registerSecret('abc');
    assert.equal(redact('abc abc'), 'abc abc');
  });
});
