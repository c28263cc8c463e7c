import { strict as assert } from 'node:assert';
import { EngineStreamError } from '../../shared/src/docker/events';
import { classifyEnginePushMessage, ENGINE_PUSH_ERROR_RULES, isTemporaryEnginePushError } from '../../shared/src/docker/push-errors';

describe('docker: which engine push failures the retry policy may try again', () => {
  it('recognises each documented example by its own rule', () => {
    assert.equal(ENGINE_PUSH_ERROR_RULES.length, 11);
    for (const rule of ENGINE_PUSH_ERROR_RULES) assert.equal(classifyEnginePushMessage(rule.example), rule, rule.name);
  });

  it('retries server errors, throttling, dropped and refused connections and timeouts (Docker 20.10 wording)', () => {
    const temporary = [
      'received unexpected HTTP status: 503 Service Unavailable',
      'received unexpected HTTP status: 500 Internal Server Error',
      'received unexpected HTTP status: 502 Bad Gateway',
      'toomanyrequests: You have reached your pull rate limit.',
      'Put "http://127.0.0.1:37521/v2/team/app/manifests/1": EOF',
      'Patch "https://myacr.azurecr.io/v2/app/blobs/uploads/x": unexpected EOF',
      'Put "https://myacr.azurecr.io/v2/app/manifests/1": read tcp 10.0.0.4:50022->20.1.2.3:443: read: connection reset by peer',
      'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
      'Get "https://myacr.azurecr.io/v2/": net/http: TLS handshake timeout',
      'Get "https://myacr.azurecr.io/v2/": dial tcp 20.1.2.3:443: i/o timeout',
      'blob upload unknown: blob upload unknown to registry',
    ];
    assert.equal(temporary.length, 11);
    for (const message of temporary) assert.equal(classifyEnginePushMessage(message)?.temporary, true, message);
  });

  it('does not retry what another try cannot change', () => {
    const permanent = [
      'unauthorized: authentication required',
      'denied: requested access to the resource is denied',
      'denied: received unexpected HTTP status: 503 Service Unavailable',
      'name unknown: repository name not known to registry',
      'manifest invalid: manifest invalid',
      'Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client',
      'Get "https://myacr.azurecr.io/v2/": x509: certificate signed by unknown authority',
      'received unexpected HTTP status: 404 Not Found',
      'an error nobody has seen before',
    ];
    assert.equal(permanent.length, 9);
    for (const message of permanent) assert.notEqual(classifyEnginePushMessage(message)?.temporary, true, message);
  });

  it('only trusts errors the engine reported in the push stream, not a broken connection to the engine', () => {
    const message = 'received unexpected HTTP status: 503 Service Unavailable';
    assert.equal(isTemporaryEnginePushError(new EngineStreamError(message, { errorDetail: { message } })), true);
    assert.equal(isTemporaryEnginePushError(new EngineStreamError('the engine connection broke: socket hang up')), false);
    assert.equal(isTemporaryEnginePushError(new Error(message)), false);
  });
});
