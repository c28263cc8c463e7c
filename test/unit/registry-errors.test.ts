import { strict as assert } from 'node:assert';
import { codeForStatus, isTemporaryStatus, parseErrorBody, redactUrl, RegistryError } from '../../shared/src/registry/errors';

describe('registry errors', () => {
  it('parses the distribution error envelope, upper-casing codes and tolerating odd entries', () => {
    const body = JSON.stringify({
      errors: [
        { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'v1' } },
        { code: 'denied', message: 'requested access to the resource is denied' },
        'not an object',
        { message: 'no code' },
      ],
    });
    assert.deepEqual(parseErrorBody(body), [
      { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'v1' } },
      { code: 'DENIED', message: 'requested access to the resource is denied', detail: undefined },
      { code: 'UNKNOWN', message: 'no code', detail: undefined },
    ]);
    assert.equal(parseErrorBody(''), undefined);
    assert.equal(parseErrorBody('<html>502 Bad Gateway</html>'), undefined);
    assert.equal(parseErrorBody('{"errors": []}'), undefined);
    assert.equal(parseErrorBody('{"errors": '), undefined);
    assert.equal(parseErrorBody('{"error": "invalid_grant"}'), undefined);
  });

  it('builds one-line messages: context, status, code, registry message, method and redacted URL', () => {
    const error = RegistryError.fromResponse({
      status: 404,
      body: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest\\nunknown"}]}',
      url: 'https://r.io/v2/team/app/manifests/v1',
      method: 'GET',
    });
    assert.equal(error.message, '404 MANIFEST_UNKNOWN: manifest unknown (GET https://r.io/v2/team/app/manifests/v1)');
    assert.equal(error.code, 'MANIFEST_UNKNOWN');
    assert.equal(error.status, 404);
    assert.equal(error.temporary, false);
    const wrapped = error.withContext('promote r.io/team/app:v1 → r.io/prod/team/app');
    assert.ok(wrapped instanceof RegistryError);
    assert.equal(
      wrapped.message,
      'promote r.io/team/app:v1 → r.io/prod/team/app: 404 MANIFEST_UNKNOWN: manifest unknown (GET https://r.io/v2/team/app/manifests/v1)',
    );
    assert.equal(wrapped.withContext('outer').message.startsWith('outer: promote r.io/team/app:v1 → '), true);
    assert.equal(wrapped.code, 'MANIFEST_UNKNOWN');
  });

  it('takes a code from the status when the body has no envelope, and keeps a short snippet of it', () => {
    const error = RegistryError.fromResponse({
      status: 503,
      body: `<html><body><h1>Service Unavailable</h1>${'x'.repeat(500)}</body></html>`,
      url: 'http://127.0.0.1:5000/v2/',
      method: 'HEAD',
      retryAfterMs: 2000,
    });
    assert.equal(error.code, 'UNAVAILABLE');
    assert.equal(error.temporary, true);
    assert.equal(error.retryAfterMs, 2000);
    assert.match(error.message, /^503 UNAVAILABLE: Service Unavailable x+… \(HEAD http:\/\/127\.0\.0\.1:5000\/v2\/\)$/);
    assert.doesNotMatch(error.message, /[\r\n<>]/);
    const hinted = RegistryError.fromResponse({
      status: 401,
      body: '',
      url: 'http://h/v2/',
      method: 'GET',
      hint: 'set a service connection',
    });
    assert.equal(hinted.message, '401 UNAUTHORIZED: set a service connection (GET http://h/v2/)');
  });

  it('classifies temporary statuses: 408, 429 and 5xx but 501', () => {
    for (const status of [408, 429, 500, 502, 503, 504, 599]) assert.equal(isTemporaryStatus(status), true, String(status));
    for (const status of [400, 401, 403, 404, 405, 409, 501]) assert.equal(isTemporaryStatus(status), false, String(status));
    assert.equal(codeForStatus(401), 'UNAUTHORIZED');
    assert.equal(codeForStatus(403), 'DENIED');
    assert.equal(codeForStatus(418), 'HTTP_418');
    assert.equal(new RegistryError({ status: 0, code: 'NETWORK_ERROR', message: 'ECONNRESET' }).temporary, true);
  });

  it('redacts URLs: no user info, opaque query values hidden, identifying ones kept', () => {
    assert.equal(
      redactUrl('http://user:pa55@127.0.0.1:5000/v2/a/blobs/uploads/1f2e?_state=c2VjcmV0&digest=sha256:abc#frag'),
      'http://127.0.0.1:5000/v2/a/blobs/uploads/1f2e?_state=REDACTED&digest=sha256:abc',
    );
    assert.equal(
      redactUrl('https://blob.core.windows.net/x/y?sv=2020&sig=SIGNATURE%2Bsecret&se=2030'),
      'https://blob.core.windows.net/x/y?sv=REDACTED&sig=REDACTED&se=REDACTED',
    );
    assert.equal(
      redactUrl('https://auth.r.io/token?service=r.io&scope=repository:team/app:pull,push&account=me'),
      'https://auth.r.io/token?service=r.io&scope=repository:team/app:pull,push&account=REDACTED',
    );
    assert.equal(redactUrl('https://r.io/v2/team/app/manifests/v1'), 'https://r.io/v2/team/app/manifests/v1');
    assert.equal(redactUrl('not a url?token=abc'), 'not a url?…');
    const error = new RegistryError({ status: 400, code: 'X', message: 'm', url: 'https://u:p@r.io/a?_state=s3cr3t' });
    assert.doesNotMatch(error.message, /s3cr3t|u:p/);
    assert.doesNotMatch(error.url, /s3cr3t/);
  });
});
